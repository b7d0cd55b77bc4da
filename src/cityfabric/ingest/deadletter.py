"""Dead letters: what the bridge could not ingest, kept as `DeadLetter` entities.

A malformed message (bad JSON, not an object, bad topic, unknown device, an
NGSI-LD error from the write) becomes the entity `urn:ngsi-ld:DeadLetter:<uuid4>`
in the message's tenant (the default tenant when the topic names none usable),
so `GET /ngsi-ld/v1/entities?type=DeadLetter` lists them with their reason.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from cityfabric.ngsild.entity import now_iso

TYPE = "DeadLetter"
PREFIX = "urn:ngsi-ld:DeadLetter:"
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_REASON_CHARS = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    tenant: str
    topic: str
    payload: bytes
    reason: str


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def dead_letter_entity(letter: DeadLetter, *, received_at: str | None = None) -> dict[str, Any]:
    """The `DeadLetter` entity: topic, payload (text, or base64), reason, receivedAt."""
    raw = letter.payload
    truncated = len(raw) > MAX_PAYLOAD_BYTES
    kept = raw[:MAX_PAYLOAD_BYTES]
    entity: dict[str, Any] = {
        "id": PREFIX + str(uuid.uuid4()),
        "type": TYPE,
        "topic": _prop(letter.topic or "(none)"),
        "reason": _prop(letter.reason[:MAX_REASON_CHARS] or "(no reason given)"),
        "receivedAt": _prop(received_at or now_iso()),
    }
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError as err:
        # a cut inside a multi-byte character is still text
        if truncated and err.start >= len(kept) - 3:
            text = kept[: err.start].decode("utf-8", errors="strict")
        else:
            text = ""
            entity["payloadEncoding"] = _prop("base64")
            entity["payload"] = _prop(base64.b64encode(kept).decode("ascii"))
    if "payload" not in entity:
        entity["payload"] = _prop(text)
    entity["payloadSize"] = _prop(len(raw))
    if truncated:
        entity["truncated"] = _prop(True)
    return entity
