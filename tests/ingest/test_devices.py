"""Device profiles: strict validation with precise details, and the measurement mapping."""

from __future__ import annotations

from typing import Any

import pytest

from cityfabric.ingest.devices import DeviceProfile, parse_profile, parse_ts
from cityfabric.ngsild.errors import BadRequestData

TS = "2026-11-23T10:00:00Z"


def profile(**extra: Any) -> dict[str, Any]:
    return {"deviceId": "m-1", "entityType": "Meter", **extra}


def mapped(payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return parse_profile(profile(**extra)).entity(payload)


def test_defaults_and_canonical_form() -> None:
    p = parse_profile(profile(measurements={"p": "power"}))
    assert p.entity_id == "urn:ngsi-ld:Meter:m-1"
    assert p.to_json() == {
        "deviceId": "m-1",
        "entityId": "urn:ngsi-ld:Meter:m-1",
        "entityType": "Meter",
        "measurements": {"p": {"attribute": "power", "kind": "Property"}},
        "unmapped": "keep",
    }
    assert parse_profile(p.to_json()) == p  # the canonical form reads back the same


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ([], "profile must be a JSON object"),
        ({"entityType": "Meter"}, "profile.deviceId must be 1-256 letters"),
        (profile(deviceId="a/b"), "deviceId must be 1-256"),
        (profile(deviceId="#"), "deviceId must be 1-256"),
        ({"deviceId": "m"}, "entityType must be a name"),
        (profile(entityType="bad type"), "entityType: entity type 'bad type' is not a valid"),
        (profile(entityId="not a uri"), "entityId: id must be a URI"),
        (profile(context=5), "context must be the URL"),
        (profile(unmapped="maybe"), "unmapped must be one of ['keep', 'drop', 'reject']"),
        (profile(extra=1), "unknown member(s) ['extra']"),
        (profile(tenant="x"), "unknown member(s) ['tenant']"),
        (profile(measurements=[]), "measurements must be an object"),
        (profile(measurements={"p": 5}), "measurements.p must be an attribute name or an object"),
        (profile(measurements={"ts": "t"}), "not 'ts'"),
        (profile(measurements={"p": {"attr": "x"}}), "measurements.p: unknown member(s) ['attr']"),
        (profile(measurements={"p": {"scale": "2"}}), "measurements.p.scale must be a finite"),
        (profile(measurements={"p": {"offset": True}}), "measurements.p.offset must be a finite"),
        (profile(measurements={"p": {"unitCode": ""}}), "measurements.p.unitCode must be a non"),
        (profile(measurements={"p": {"kind": "Thing"}}), "measurements.p.kind must be one of"),
        (profile(measurements={"p": "a b"}), "measurements.p.attribute: attribute name 'a b'"),
        (profile(measurements={"p": "id"}), "'id' cannot be an attribute name"),
        (profile(measurements={"p": "location"}), None),
        (profile(measurements={"p": {"attribute": "location", "kind": "Property"}}), "GeoProp"),
        (profile(measurements={"p": {"kind": "Relationship", "scale": 2}}), "Property only"),
        (profile(measurements={"p": "x", "q": "x"}), "'p' and 'q' both map to attribute 'x'"),
    ],
)
def test_bad_profiles(raw: object, says: str | None) -> None:
    if says is None:
        parse_profile(raw)
        return
    with pytest.raises(BadRequestData) as caught:
        parse_profile(raw)
    assert says in caught.value.detail


def test_scale_offset_unit_and_observed_at() -> None:
    doc = mapped(
        {"ts": TS, "p": 42100, "t": 300, "on": True},
        measurements={
            "p": {"attribute": "activePower", "unitCode": "KWT", "scale": 0.001},
            "t": {"attribute": "temperature", "unitCode": "CEL", "offset": -273.15},
        },
    )
    assert doc["id"] == "urn:ngsi-ld:Meter:m-1" and doc["type"] == "Meter"
    assert doc["activePower"] == {
        "type": "Property",
        "value": 42.1,
        "observedAt": TS,
        "unitCode": "KWT",
    }
    assert doc["temperature"]["value"] == 26.85
    assert doc["on"] == {"type": "Property", "value": True, "observedAt": TS}  # unmapped: kept
    assert "ts" not in doc


def test_scale_needs_a_number() -> None:
    with pytest.raises(BadRequestData, match="must be a number to apply scale"):
        mapped({"p": "high"}, measurements={"p": {"scale": 2}})
    with pytest.raises(BadRequestData, match="must be a number"):
        mapped({"p": True}, measurements={"p": {"offset": 1}})


def test_relationship_and_geo_measurements() -> None:
    table = {"site": {"attribute": "refSite", "kind": "Relationship"}, "pos": "location"}
    point = {"type": "Point", "coordinates": [27.56, 53.9]}
    doc = mapped({"ts": TS, "site": "urn:ngsi-ld:Site:1", "pos": point}, measurements=table)
    assert doc["refSite"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:Site:1",
        "observedAt": TS,
    }
    assert doc["location"]["type"] == "GeoProperty" and doc["location"]["value"] == point
    with pytest.raises(BadRequestData, match="must be an entity id"):
        mapped({"site": "not a uri"}, measurements=table)


@pytest.mark.parametrize(
    ("unmapped", "result"),
    [("keep", {"x": 1}), ("drop", {}), ("reject", "not in the profile")],
)
def test_unmapped_measurements(unmapped: str, result: object) -> None:
    payload = {"p": 1, "x": 1}
    if isinstance(result, str):
        with pytest.raises(BadRequestData, match=result):
            mapped(payload, measurements={"p": "power"}, unmapped=unmapped)
        return
    doc = mapped(payload, measurements={"p": "power"}, unmapped=unmapped)
    assert {k: v["value"] for k, v in doc.items() if k not in ("id", "type", "power")} == result


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"ts": TS}, "has no measurements"),
        ({"p": None}, "measurement 'p' is null"),
        ({"id": 1}, "'id' cannot be used"),
        ({"bad name": 1}, "not a valid NGSI-LD name"),
    ],
)
def test_bad_messages(payload: dict[str, Any], says: str) -> None:
    with pytest.raises(BadRequestData, match=says):
        mapped(payload)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TS, TS),
        ("2026-11-23T10:00:00.250Z", "2026-11-23T10:00:00.250Z"),
        ("2026-11-23T12:00:00+02:00", "2026-11-23T10:00:00.000Z"),
        ("2026-11-23T10:00:00", "2026-11-23T10:00:00.000Z"),  # no offset: UTC
        (1795420800000, "2026-11-23T08:00:00.000Z"),
        (1795420800123.6, "2026-11-23T08:00:00.124Z"),
        (0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_timestamps(raw: object, expected: str) -> None:
    assert parse_ts(raw) == expected


@pytest.mark.parametrize("raw", [True, -1, 1e20, "yesterday", "2026-13-01T00:00:00Z", [1]])
def test_bad_timestamps(raw: object) -> None:
    with pytest.raises(BadRequestData, match="ts"):
        parse_ts(raw)


def test_missing_ts_is_now() -> None:
    assert parse_ts(None).endswith("Z")


def test_profile_is_a_frozen_table() -> None:
    p = parse_profile(profile(measurements={"p": {"attribute": "power", "scale": 2}}))
    assert isinstance(p, DeviceProfile)
    with pytest.raises(AttributeError):
        p.measurements["p"].scale = 3  # type: ignore[misc]
