"""The generated city: valid Smart Data Models, deterministic, connected, scaled, life cycles."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cityfabric.demo.assets import DEFAULT_AS_OF, generate
from cityfabric.demo.catalog import LIFECYCLE, NO_LIFECYCLE
from cityfabric.demo.fleet import get, kind_of
from cityfabric.demo.ngsi import CONTEXT, type_of
from cityfabric.demo.telemetry import TELEMETRY
from tests.conftest import SDM
from tests.demo.schemas import STAND_INS, errors, has_schema

Entities = list[dict[str, Any]]
SHIPPED = Path(__file__).resolve().parents[2] / "src" / "cityfabric" / "data" / "contexts"
WEATHER_SCHEMA = "https://smart-data-models.github.io/dataModel.Weather/weather-schema.json"
ID = re.compile(r"^urn:ngsi-ld:([A-Za-z]+):([A-Za-z0-9_-]+)-(\d+)$")


@pytest.fixture(scope="module")
def partners() -> Entities:
    return generate("tashkent", 0.5, 3) + generate("minsk", 0.5, 3)


def _by_id(entities: Entities) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entities}


def test_every_entity_validates_against_its_schema(port_city: Entities, partners: Entities) -> None:
    problems: list[str] = []
    without = set()
    sample, seen = [], Counter[str]()
    for e in partners:  # the partners' entities come from the same builders: a sample will do
        seen[e["type"]] += 1
        if seen[e["type"]] <= 40:
            sample.append(e)
    for e in port_city + sample:
        if has_schema(e["type"]):
            problems += errors(e)
        else:
            without.add(e["type"])
    assert problems == [], problems[:10]
    assert without == {"Road"}  # the only type shared data has no schema for


def test_the_validator_catches_violations(port_city: Entities) -> None:
    lamp = next(e for e in port_city if e["type"] == "Streetlight")
    bad = {**lamp, "status": {"type": "Property", "value": "broken"}}
    assert errors(lamp) == []
    assert any("status" in msg for msg in errors(bad))
    no_location = {k: v for k, v in lamp.items() if k != "location"}
    assert any("location" in msg for msg in errors(no_location))


def test_every_kind_of_asset_is_there(port_city: Entities) -> None:
    types = Counter(e["type"] for e in port_city)
    expected = set(CONTEXT)
    assert set(types) == expected
    kinds = Counter(kind_of(e) for e in port_city)
    for kind in [t.kind for t in TELEMETRY] + ["meter", "crane", "park", "terminal", "bench"]:
        assert kinds[kind] > 0, kind
    techs = Counter(get(e, "lampTechnology") for e in port_city if e["type"] == "StreetlightModel")
    assert techs["LED"] and techs["HPS"]


def test_ids_contexts_and_dates(port_city: Entities) -> None:
    index = orjson.loads((SHIPPED / "index.json").read_bytes())
    ids = [e["id"] for e in port_city]
    assert len(ids) == len(set(ids))
    for e in port_city:
        m = ID.match(e["id"])
        assert m and m[1] == e["type"] and m[2] == "tianjin-eco", e["id"]
        assert e["@context"] == [CONTEXT[e["type"]]]
        context = orjson.loads((SHIPPED / index[e["@context"][0]]).read_bytes())["@context"]
        assert e["type"] in context
        for name, attr in e.items():
            value = attr.get("value") if isinstance(attr, dict) else None
            if isinstance(value, dict) and value.get("@type") == "DateTime":
                stamp = datetime.fromisoformat(value["@value"])
                assert stamp.tzinfo is not None and stamp <= DEFAULT_AS_OF, (e["id"], name)


def test_relationships_resolve_and_tie_the_assets(port_city: Entities) -> None:
    by_id = _by_id(port_city)
    for e in port_city:
        for name, attr in e.items():
            if isinstance(attr, dict) and attr.get("type") == "Relationship":
                targets = attr["object"] if isinstance(attr["object"], list) else [attr["object"]]
                assert targets and all(t in by_id for t in targets), (e["id"], name)
    for lamp in (e for e in port_city if e["type"] == "Streetlight" and "refStreetlightGroup" in e):
        group = by_id[get(lamp, "refStreetlightGroup")]
        assert lamp["id"] in get(group, "refStreetlight")
        cabinet = by_id[get(group, "refStreetlightControlCabinet")]
        assert group["id"] in get(cabinet, "refStreetlightGroup")
    for e in port_city:
        kind = kind_of(e)
        if kind == "meter":
            assert type_of(get(e, "controlledAsset")[0]) == "Building"
        elif kind == "bench":
            assert kind_of(by_id[get(e, "refPointOfInterest")]) == "park"
            assert kind_of(by_id[get(e, "refDevice")]) == "bench_battery"
        elif kind == "crane":
            berth = by_id[get(e, "refSeaportFacilities")]
            assert kind_of(berth) == "berth"
            assert kind_of(by_id[get(berth, "refSeaportFacilities")]) == "terminal"
        elif kind in ("electricity", "thermal"):
            assert kind_of(by_id[get(e, "refDevice")]) == "meter"
        elif kind == "lamp_battery":
            lamp = by_id[get(e, "controlledAsset")[0]]
            assert get(lamp, "refDevice") == [e["id"]]


def test_every_asset_carries_its_life_cycle(port_city: Entities) -> None:
    for e in port_city:
        if e["type"] in NO_LIFECYCLE:
            continue
        f = LIFECYCLE[e["type"]]
        for name in (f.installed, f.service_life, f.cost, f.condition):
            assert name in e, (e["id"], name)
        assert 1 <= get(e, f.condition) <= 5
        assert get(e, f.cost) > 0 and e[f.cost]["currency"]["value"] == "CNY"
        assert get(e, f.service_life) > 0 and e[f.service_life]["unitCode"] == "ANN"
        if f.model is not None and kind_of(e) not in ("park", "building", "berth", "terminal"):
            assert f.model in e, (e["id"], f.model)
        if f.rated_power is not None and kind_of(e) in ("streetlight", "crane", "bench"):
            assert get(e, f.rated_power) > 0 and "unitCode" in e[f.rated_power]


def test_telemetry_table_names_schema_attributes_present_initially(port_city: Entities) -> None:
    first = {}
    for e in port_city:
        first.setdefault(kind_of(e), e)
    weather = orjson.dumps(STAND_INS[WEATHER_SCHEMA]).decode()  # WeatherObserved's base
    for row in TELEMETRY:
        assert 1 <= row.cadence <= 15
        schema = (SDM / row.entity_type / "schema.json").read_text() + weather
        for m in row.measures:
            assert m.attribute in first[row.kind], (row.kind, m.attribute)
            if m.attribute not in row.extensions:
                assert f'"{m.attribute}"' in schema, (row.entity_type, m.attribute)
            assert (m.unit is None) == (m.digits is None), m


def test_same_seed_same_city_other_seed_other_city(port_city: Entities) -> None:
    again = generate("tianjin-eco", 0.25, 11)
    assert orjson.dumps(again) == orjson.dumps(port_city)
    other = generate("tianjin-eco", 0.25, 12)
    assert [e["id"] for e in other] != [e["id"] for e in port_city] or orjson.dumps(
        other
    ) != orjson.dumps(port_city)
    lamps = [get(e, "dateServiceStarted") for e in port_city if e["type"] == "Streetlight"]
    lamps_other = [get(e, "dateServiceStarted") for e in other if e["type"] == "Streetlight"]
    assert lamps != lamps_other


def test_counts_scale_with_the_scale() -> None:
    one = Counter(e["type"] for e in generate("tianjin-eco", 1.0, 0))
    half = Counter(e["type"] for e in generate("tianjin-eco", 0.5, 0))
    assert 4500 <= sum(one.values()) <= 5500
    assert 0.4 < sum(half.values()) / sum(one.values()) < 0.6
    for t in ("Streetlight", "Building", "RoadSegment", "DeviceMeasurement", "PhotovoltaicDevice"):
        assert 0.35 < half[t] / one[t] < 0.65, t
    tashkent = sum(1 for _ in generate("tashkent", 1.0, 0))
    assert tashkent < sum(one.values()) / 2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate("tianjin-eco", 0.0)
    with pytest.raises(ValueError):
        generate("nowhere")
    with pytest.raises(ValueError):
        generate("minsk", as_of=datetime(2025, 1, 1))
