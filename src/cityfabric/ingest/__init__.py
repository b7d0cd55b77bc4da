"""Ingestion: MQTT bridge, device mappings, bulk import."""
