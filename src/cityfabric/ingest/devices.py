"""Device profiles: how a device's compact measurements become NGSI-LD attributes.

As FIWARE IoT agents do, a profile maps a device id to an entity (id and type,
optionally an @context URL) and each measurement key of its payload to an
attribute (name, kind, unit code, scale and offset). A profile is a table of
`Measurement` rows; adding a measurement is one row, not code.

    {"deviceId": "meter-1", "entityType": "PhotovoltaicMeasurement",
     "measurements": {"p": {"attribute": "activePower", "unitCode": "KWT", "scale": 0.001}}}

A device message is a JSON object of measurements with an optional "ts"
(ISO 8601 or epoch milliseconds; absent means now), e.g. {"ts": ..., "p": 42.1}.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cityfabric.ngsild.entity import check_datetime, check_entity_id, check_name, is_uri, now_iso
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.model import DEFAULT_VOCAB

Kind = Literal["Property", "Relationship", "GeoProperty"]
Unmapped = Literal["keep", "drop", "reject"]
KINDS: tuple[Kind, ...] = ("Property", "Relationship", "GeoProperty")
UNMAPPED: tuple[Unmapped, ...] = ("keep", "drop", "reject")
TS_KEY = "ts"
PROFILE_TYPE = "DeviceProfile"
PROFILE_PREFIX = "urn:ngsi-ld:DeviceProfile:"
MAPPING_ATTR = "mapping"  # the Property of a DeviceProfile entity that holds the profile
MAPPING_IRI = DEFAULT_VOCAB + MAPPING_ATTR
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,256}$")
_GEO_ATTRS = frozenset({"location", "observationSpace", "operationSpace"})
_RESERVED_ATTRS = frozenset({"id", "type", "scope", "@context", "createdAt", "modifiedAt"})
_PROFILE_KEYS = frozenset(
    {"deviceId", "entityId", "entityType", "context", "measurements", "unmapped"}
)
_MEASUREMENT_KEYS = frozenset({"attribute", "kind", "unitCode", "scale", "offset"})
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True, slots=True)
class Measurement:
    """One row of a profile: a payload key and the attribute it becomes."""

    key: str
    attribute: str
    kind: Kind = "Property"
    unit_code: str | None = None
    scale: float | None = None
    offset: float | None = None

    def instance(self, raw: object, observed_at: str) -> dict[str, Any]:
        """The attribute instance (normalized NGSI-LD) for a measured value."""
        if raw is None:
            raise BadRequestData(f"measurement {self.key!r} is null")
        if self.kind == "Relationship":
            if not is_uri(raw):
                raise BadRequestData(
                    f"measurement {self.key!r} maps to Relationship {self.attribute!r} "
                    f"and must be an entity id (URI), got {raw!r}"
                )
            return {"type": "Relationship", "object": raw, "observedAt": observed_at}
        value = raw if self.scale is None and self.offset is None else self._scaled(raw)
        inst: dict[str, Any] = {"type": self.kind, "value": value, "observedAt": observed_at}
        if self.unit_code is not None:
            inst["unitCode"] = self.unit_code
        return inst

    def _scaled(self, raw: object) -> float:
        if type(raw) is not int and type(raw) is not float:
            raise BadRequestData(
                f"measurement {self.key!r} must be a number to apply scale and offset, got {raw!r}"
            )
        value = raw * (1.0 if self.scale is None else self.scale) + (self.offset or 0.0)
        return float(f"{value:.12g}")  # drop binary noise such as 0.042100000000000005

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attribute": self.attribute, "kind": self.kind}
        if self.unit_code is not None:
            out["unitCode"] = self.unit_code
        if self.scale is not None:
            out["scale"] = self.scale
        if self.offset is not None:
            out["offset"] = self.offset
        return out


@dataclass(frozen=True)
class DeviceProfile:
    """A provisioned device: which entity its messages update and how."""

    device_id: str
    entity_id: str
    entity_type: str
    context: str | None = None
    measurements: Mapping[str, Measurement] = field(default_factory=dict)
    unmapped: Unmapped = "keep"

    @property
    def profile_entity_id(self) -> str:
        return PROFILE_PREFIX + self.device_id

    def entity(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The NGSI-LD entity (normalized, upsert-ready) for one device message."""
        observed_at = parse_ts(payload.get(TS_KEY))
        doc: dict[str, Any] = {"id": self.entity_id, "type": self.entity_type}
        table = self.measurements
        for key, raw in payload.items():
            row = table.get(key)
            if row is not None:
                doc[row.attribute] = row.instance(raw, observed_at)
            elif key != TS_KEY:
                self._unmapped(doc, key, raw, observed_at)
        if len(doc) == 2:
            raise BadRequestData(f"the message of device {self.device_id!r} has no measurements")
        return doc

    def _unmapped(self, doc: dict[str, Any], key: str, raw: object, observed_at: str) -> None:
        if self.unmapped == "drop":
            return
        if self.unmapped == "reject":
            raise BadRequestData(
                f"measurement {key!r} is not in the profile of device {self.device_id!r}"
            )
        if key in _RESERVED_ATTRS:
            raise BadRequestData(f"measurement {key!r} cannot be used as an attribute name")
        if key not in doc:
            doc[check_name(key, where="measurement name")] = Measurement(key, key).instance(
                raw, observed_at
            )

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form (what the API answers and what is stored)."""
        out: dict[str, Any] = {
            "deviceId": self.device_id,
            "entityId": self.entity_id,
            "entityType": self.entity_type,
        }
        if self.context is not None:
            out["context"] = self.context
        out["measurements"] = {k: m.to_json() for k, m in self.measurements.items()}
        out["unmapped"] = self.unmapped
        return out


def parse_ts(raw: object) -> str:
    """observedAt for a message's "ts": ISO 8601 (UTC 'Z' kept) or epoch milliseconds."""
    if raw is None:
        return now_iso()
    if type(raw) is str:
        check_datetime(raw, where=f"{TS_KEY} {raw!r}")
        if raw.endswith("Z"):
            return raw
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return _iso_ms(parsed.timestamp() * 1000)
    if (type(raw) is int or type(raw) is float) and 0 <= raw <= _MAX_MS:
        return _iso_ms(raw)
    raise BadRequestData(
        f"{TS_KEY} must be an ISO 8601 date-time or epoch milliseconds "
        f"(0 to {_MAX_MS}), got {raw!r}"
    )


def _iso_ms(ms: float) -> str:
    whole = math.floor(ms / 1000)
    millis = round(ms - whole * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


# ---- validation of provisioned profiles ------------------------------------------------


def parse_profile(raw: object, *, where: str = "profile") -> DeviceProfile:
    """A profile from its JSON form, checked strictly; BadRequestData names what is wrong."""
    if not isinstance(raw, dict):
        raise BadRequestData(f"{where} must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _PROFILE_KEYS)
    if unknown:
        raise BadRequestData(
            f"{where}: unknown member(s) {unknown}; known: {sorted(_PROFILE_KEYS)}"
        )
    device_id = check_device_id(raw.get("deviceId"), where=f"{where}.deviceId")
    where = (
        f"profile of device {device_id!r}"
        if where == "profile"
        else f"{where} (device {device_id!r})"
    )
    entity_type = _name(raw.get("entityType"), f"{where}: entityType", "entity type")
    entity_id = raw.get("entityId", f"urn:ngsi-ld:{entity_type}:{device_id}")
    entity_id = _wrap(check_entity_id, entity_id, f"{where}: entityId")
    context = raw.get("context")
    if context is not None and not (isinstance(context, str) and is_uri(context)):
        raise BadRequestData(f"{where}: context must be the URL of a JSON-LD @context")
    unmapped = raw.get("unmapped", "keep")
    if unmapped not in UNMAPPED:
        raise BadRequestData(f"{where}: unmapped must be one of {list(UNMAPPED)}, got {unmapped!r}")
    return DeviceProfile(
        device_id=device_id,
        entity_id=entity_id,
        entity_type=entity_type,
        context=context,
        measurements=_measurements(raw.get("measurements", {}), where),
        unmapped=unmapped,
    )


def check_device_id(value: object, *, where: str = "deviceId") -> str:
    if isinstance(value, str) and _DEVICE_ID.match(value):
        return value
    raise BadRequestData(
        f"{where} must be 1-256 letters, digits, '_', '.', ':' or '-', got {value!r}"
    )


def _measurements(raw: object, where: str) -> dict[str, Measurement]:
    if not isinstance(raw, dict):
        raise BadRequestData(f"{where}: measurements must be an object of key -> attribute")
    out: dict[str, Measurement] = {}
    targets: dict[str, str] = {}
    for key, spec in raw.items():
        if not isinstance(key, str):
            raise BadRequestData(
                f"{where}: measurement key {key!r} must be a string "
                "(in YAML, quote keys such as 'on', 'off', 'yes' and 'no')"
            )
        row = _measurement(key, spec, f"{where}: measurements.{key}")
        if row.attribute in targets:
            raise BadRequestData(
                f"{where}: measurements {targets[row.attribute]!r} and {key!r} "
                f"both map to attribute {row.attribute!r}"
            )
        targets[row.attribute] = key
        out[key] = row
    return out


def _measurement(key: str, spec: object, where: str) -> Measurement:
    if not key or len(key) > 256 or key == TS_KEY:
        raise BadRequestData(f"{where}: a measurement key is 1-256 characters and not {TS_KEY!r}")
    if isinstance(spec, str):
        spec = {"attribute": spec}
    if not isinstance(spec, dict):
        raise BadRequestData(f"{where} must be an attribute name or an object")
    unknown = sorted(set(spec) - _MEASUREMENT_KEYS)
    if unknown:
        raise BadRequestData(
            f"{where}: unknown member(s) {unknown}; known: {sorted(_MEASUREMENT_KEYS)}"
        )
    attribute = _name(spec.get("attribute", key), f"{where}.attribute")
    if attribute in _RESERVED_ATTRS:
        raise BadRequestData(f"{where}.attribute: {attribute!r} cannot be an attribute name")
    kind = spec.get("kind", "GeoProperty" if attribute in _GEO_ATTRS else "Property")
    if kind not in KINDS:
        raise BadRequestData(f"{where}.kind must be one of {list(KINDS)}, got {kind!r}")
    if attribute in _GEO_ATTRS and kind != "GeoProperty":
        raise BadRequestData(f"{where}: {attribute!r} must be a GeoProperty")
    unit = spec.get("unitCode")
    if unit is not None and not (isinstance(unit, str) and unit):
        raise BadRequestData(f"{where}.unitCode must be a non-empty string (UN/CEFACT code)")
    scale, offset = _number(spec, "scale", where), _number(spec, "offset", where)
    if kind != "Property" and (unit is not None or scale is not None or offset is not None):
        raise BadRequestData(f"{where}: unitCode, scale and offset apply to a Property only")
    return Measurement(key, attribute, kind, unit, scale, offset)


def _number(spec: dict[str, Any], name: str, where: str) -> float | None:
    value = spec.get(name)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise BadRequestData(f"{where}.{name} must be a finite number, got {value!r}")
    return float(value)


def _name(value: object, where: str, what: str = "attribute name") -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{where} must be a name (string), got {value!r}")
    return _wrap(lambda v: check_name(v, where=what), value, where)


def _wrap(check: Callable[[Any], str], value: object, where: str) -> str:
    """Run an NGSI-LD check, prefixing its detail with where the value is."""
    try:
        return str(check(value))
    except BadRequestData as err:
        raise BadRequestData(f"{where}: {err.detail}") from None
