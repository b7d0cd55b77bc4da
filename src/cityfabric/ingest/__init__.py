"""Ingestion: MQTT bridge, device mappings, bulk import.

MQTT: `mqtt.py` (the bridge) over `connection.py` + `mqtt5.py` (our asyncio MQTT 5 client),
`pipeline.py` (batch writes), `devices.py`/`profiles.py` (device profiles),
`deadletter.py`, `topics.py`, `session.py`, `runtime.py` (start/stop with the app).
"""
