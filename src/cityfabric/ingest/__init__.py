"""Ingestion: MQTT bridge, device mappings, bulk import.

MQTT: `mqtt.py` (the bridge) over `connection.py` (paho on the event loop),
`pipeline.py` (batch writes), `devices.py`/`profiles.py` (device profiles),
`deadletter.py`, `topics.py`, `session.py`, `runtime.py` (start/stop with the app).
"""
