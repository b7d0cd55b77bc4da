"""The MQTT topics the bridge ingests, and the subscriptions that cover them.

    cityfabric/<tenant>/entities/<entityId>/attrs   NGSI-LD attribute fragments
    cityfabric/<tenant>/devices/<deviceId>          compact device measurements

`<tenant>` is `default` for the default tenant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.store.base import DEFAULT_TENANT

ROOT = "cityfabric"
DEFAULT_TENANT_NAME = "default"
FILTERS = (f"{ROOT}/+/entities/+/attrs", f"{ROOT}/+/devices/+")
_TENANT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_CACHE_LIMIT = 100_000

Kind = Literal["entity", "device"]


@dataclass(frozen=True, slots=True)
class Topic:
    tenant: str  # the store's tenant name ("" for the default tenant)
    kind: Kind
    target: str  # entity id or device id


def subscriptions(share_group: str) -> list[str]:
    """The topic filters to subscribe to; MQTT 5 shared ones when a group is given."""
    if not share_group:
        return list(FILTERS)
    return [f"$share/{share_group}/{f}" for f in FILTERS]


def tenant_topic_name(tenant: str) -> str:
    """The `<tenant>` level of a topic for a store tenant."""
    return tenant or DEFAULT_TENANT_NAME


_parsed: dict[str, Topic] = {}


def parse_topic(topic: str) -> Topic:
    """The tenant, kind and target of a topic; BadRequestData says what is wrong."""
    found = _parsed.get(topic)
    if found is not None:
        return found
    found = _parse(topic)
    if len(_parsed) >= _CACHE_LIMIT:
        _parsed.clear()
    _parsed[topic] = found
    return found


def _parse(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != ROOT:
        raise BadRequestData(
            f"topic {topic!r} is not cityfabric/<tenant>/entities/<entityId>/attrs "
            "or cityfabric/<tenant>/devices/<deviceId>"
        )
    tenant = tenant_from_name(parts[1])
    if parts[2] == "entities" and len(parts) == 5 and parts[4] == "attrs" and parts[3]:
        return Topic(tenant, "entity", parts[3])
    if parts[2] == "devices" and len(parts) == 4 and parts[3]:
        return Topic(tenant, "device", parts[3])
    raise BadRequestData(
        f"topic {topic!r} is not cityfabric/<tenant>/entities/<entityId>/attrs "
        "or cityfabric/<tenant>/devices/<deviceId>"
    )


def tenant_from_name(name: str) -> str:
    """The store tenant for a topic's `<tenant>` level (`default` is the default tenant)."""
    if name == DEFAULT_TENANT_NAME:
        return DEFAULT_TENANT
    if not _TENANT.match(name):
        raise BadRequestData(
            f"tenant {name!r} in the topic is not a valid tenant name: "
            "1-64 letters, digits, '_' or '-'"
        )
    return name


def tenant_of_topic(topic: str) -> str:
    """The tenant a message on `topic` belongs to, or the default one when unusable."""
    parts = topic.split("/")
    if len(parts) >= 2 and parts[0] == ROOT:
        try:
            return tenant_from_name(parts[1])
        except BadRequestData:
            pass
    return DEFAULT_TENANT
