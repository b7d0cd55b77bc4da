"""Offline validation of demo entities against the Smart Data Models schemas in shared data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from cityfabric.demo.ngsi import key_values
from tests.conftest import SDM

COMMON = "https://smart-data-models.github.io/data-models/common-schema.json"
# Documents the schemas $ref that shared data does not hold. Their definitions are stated
# here from the published documents: Device-Commons constrains nothing (its members sit
# outside "properties"); Weather-Commons bounds the weather fields the demo reports.
_WEATHER_COMMONS = {
    "type": "object",
    "properties": {
        "windDirection": {"type": "number", "minimum": 0, "maximum": 360},
        "windSpeed": {"type": "number", "minimum": 0},
        "atmosphericPressure": {"type": "number", "minimum": 0},
        "illuminance": {"type": "number", "minimum": 0},
        "temperature": {"type": "number"},
        "relativeHumidity": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
_ENVIRONMENT = {
    "definitions": {
        "airQualityLevel": {"type": "string"},
        "TimeSeriesAggregation": {"$ref": f"{COMMON}#/definitions/TimeSeriesAggregation"},
    }
}
_ENV_SCHEMA = "dataModel.Environment/Environment-schema.json"
STAND_INS: dict[str, Any] = {
    "https://smart-data-models.github.io/dataModel.Device/device-schema.json": {
        "definitions": {"Device-Commons": {"type": "object"}}
    },
    "https://smart-data-models.github.io/dataModel.Weather/weather-schema.json": {
        "definitions": {"Weather-Commons": _WEATHER_COMMONS}
    },
    f"https://smart-data-models.github.io/{_ENV_SCHEMA}": _ENVIRONMENT,
    f"https://raw.githubusercontent.com/smart-data-models/{_ENV_SCHEMA.replace('/', '/master/')}": (
        _ENVIRONMENT
    ),
}
# the Ports schema's type enum spells the type "SeaPortFacilities", while the Ports
# @context (and the data model's name) is "SeaportFacilities"; the demo uses the latter
SCHEMA_TYPE = {"SeaportFacilities": "SeaPortFacilities"}


@cache
def registry() -> Registry[Any]:
    common = json.loads((SDM / "common-schema.json").read_text())
    pairs = [(COMMON, DRAFT202012.create_resource(common))]
    pairs += [(url, DRAFT202012.create_resource(doc)) for url, doc in STAND_INS.items()]
    return Registry().with_resources(pairs)


@cache
def validator(entity_type: str) -> Draft202012Validator:
    schema = json.loads((SDM / entity_type / "schema.json").read_text())
    return Draft202012Validator(schema, registry=registry())


def has_schema(entity_type: str) -> bool:
    return (SDM / entity_type / "schema.json").is_file()


def errors(entity: Mapping[str, Any]) -> list[str]:
    """Schema violations of a normalized entity (its keyValues form, as the schema describes)."""
    kv = key_values(entity)
    kv["type"] = SCHEMA_TYPE.get(kv["type"], kv["type"])
    v = validator(entity["type"])
    return [f"{entity['id']}: {'/'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(kv)]
