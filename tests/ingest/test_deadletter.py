"""Dead-letter entities: raw text or base64, capped, with the reason."""

from __future__ import annotations

import base64

from cityfabric.ingest.deadletter import MAX_PAYLOAD_BYTES, DeadLetter, dead_letter_entity


def test_text_payload() -> None:
    e = dead_letter_entity(
        DeadLetter("", "t/x", b'{"a": 1}', "bad"), received_at="2026-01-01T00:00:00Z"
    )
    assert e["id"].startswith("urn:ngsi-ld:DeadLetter:") and e["type"] == "DeadLetter"
    assert e["payload"]["value"] == '{"a": 1}' and "payloadEncoding" not in e
    assert e["reason"]["value"] == "bad" and e["topic"]["value"] == "t/x"
    assert e["receivedAt"]["value"] == "2026-01-01T00:00:00Z"
    assert e["payloadSize"]["value"] == 8 and "truncated" not in e


def test_binary_payload_is_base64() -> None:
    raw = bytes([0, 0xFF, 0xFE, 1])
    e = dead_letter_entity(DeadLetter("", "t", raw, "r"))
    assert e["payloadEncoding"]["value"] == "base64"
    assert base64.b64decode(e["payload"]["value"]) == raw


def test_large_payload_is_truncated() -> None:
    raw = ("é" * MAX_PAYLOAD_BYTES).encode()  # two bytes each: the cut falls mid-character
    e = dead_letter_entity(DeadLetter("", "t", raw, "r"))
    assert e["truncated"]["value"] is True
    assert e["payloadSize"]["value"] == len(raw)
    assert "payloadEncoding" not in e
    assert len(e["payload"]["value"].encode()) <= MAX_PAYLOAD_BYTES


def test_empty_payload_and_topic() -> None:
    e = dead_letter_entity(DeadLetter("", "", b"", ""))
    assert e["payload"]["value"] == "" and e["topic"]["value"] == "(none)"
    assert e["reason"]["value"]
