"""Start and stop ingestion with the app: profiles from a file, then the MQTT bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cityfabric.config import Settings
from cityfabric.ingest.mqtt import MqttBridge
from cityfabric.ingest.pipeline import Ingestor
from cityfabric.ingest.profiles import DeviceProfiles, load_profiles_file
from cityfabric.ingest.session import Slot, base_client_id, parse_mqtt_url


@asynccontextmanager
async def running_ingest(
    settings: Settings, profiles: DeviceProfiles
) -> AsyncIterator[MqttBridge | None]:
    """Load `settings.device_profiles`; run the bridge while the app runs if MQTT is set."""
    if settings.device_profiles is not None:
        for tenant, items in load_profiles_file(settings.device_profiles).items():
            await profiles.put(tenant, items)
    if not settings.mqtt_url:
        yield None
        return
    address = parse_mqtt_url(settings.mqtt_url)
    slot = Slot(settings.data_dir)
    try:
        base = base_client_id(settings.mqtt_client_id, settings.data_dir)
        bridge = MqttBridge(
            Ingestor(profiles.service, profiles.contexts, profiles),
            address,
            client_id=slot.client_id(base),
            share_group=settings.mqtt_share_group,
            session_expiry=settings.mqtt_session_expiry,
        )
        await bridge.start()
        try:
            yield bridge
        finally:
            await bridge.stop()
    finally:
        slot.release()
