"""The simulator's contract: deterministic, reports on cadence, NGSI-LD payloads that validate."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cityfabric.demo.ngsi import CONTEXT, type_of
from cityfabric.demo.simulator import Simulator, Update
from cityfabric.demo.telemetry import BY_KIND, DATE_OBSERVED
from tests.demo.conftest import SEED
from tests.demo.schemas import errors

Entities = list[dict[str, Any]]
T0 = datetime(2025, 9, 1, 16, 0, tzinfo=UTC)  # local evening in Tianjin: lamps switch on
MINUTE = timedelta(minutes=1)


def _minutes(sim: Simulator, n: int) -> list[list[Update]]:
    return [sim.step(T0 + k * MINUTE, MINUTE) for k in range(1, n + 1)]


def test_same_seed_same_telemetry_other_seed_other_weather(port_city: Entities) -> None:
    a = _minutes(Simulator("tianjin-eco", port_city, SEED), 30)
    b = _minutes(Simulator("tianjin-eco", port_city, SEED), 30)
    assert a == b
    c = _minutes(Simulator("tianjin-eco", port_city, SEED + 1), 30)
    assert a != c


def test_runs_on_entities_read_back_as_json(port_city: Entities) -> None:
    copy = orjson.loads(orjson.dumps(port_city))
    a = _minutes(Simulator("tianjin-eco", port_city, SEED), 5)
    b = _minutes(Simulator("tianjin-eco", copy, SEED), 5)
    assert a == b
    assert orjson.dumps([u.values for step in a for u in step])  # plain JSON types only


def test_each_asset_reports_on_its_cadence(port_city: Entities) -> None:
    sim = Simulator("tianjin-eco", port_city, SEED)
    sim.step(T0, timedelta(minutes=15))
    steps = _minutes(sim, 30)
    counts = Counter(u.entity_id for step in steps for u in step)
    for kind in sim.kinds:
        cadence = BY_KIND[kind].cadence
        for eid in sim.ids(kind):
            assert counts[eid] == 30 // cadence, (kind, eid, counts[eid])
    for k, step in enumerate(steps, start=1):
        assert all(u.observed_at == T0 + k * MINUTE for u in step)
    quarter = sim.step(T0 + timedelta(minutes=45), timedelta(minutes=15))
    assert len(quarter) == sum(len(sim.ids(k)) for k in sim.kinds)
    assert len({u.entity_id for u in quarter}) == len(quarter)


def test_payloads_are_ngsi_ld_fragments_and_keep_entities_valid(port_city: Entities) -> None:
    by_id = {e["id"]: e for e in port_city}
    sim = Simulator("tianjin-eco", port_city, SEED)
    updates = sim.step(T0 + timedelta(hours=4), timedelta(minutes=15))
    assert {sim.kind_of_id[u.entity_id] for u in updates} == set(sim.kinds)
    for u in updates:
        p = sim.payload(u)
        kind = sim.kind_of_id[u.entity_id]
        tel = BY_KIND[kind]
        assert p["id"] == u.entity_id and p["type"] == tel.entity_type == type_of(u.entity_id)
        assert p["@context"] == [CONTEXT[tel.entity_type]]
        for m in tel.measures:
            attr = p[m.attribute]
            assert attr["type"] == "Property" and attr["value"] == u.values[m.attribute]
            assert attr["observedAt"] == "2025-09-01T20:00:00Z"
            assert attr.get("unitCode") == m.unit
        assert ("dateObserved" in p) == (tel.entity_type in DATE_OBSERVED)
        updated = {**by_id[u.entity_id], **{k: v for k, v in p.items() if k != "@context"}}
        assert errors(updated) == []


def test_run_is_a_sequence_of_steps(port_city: Entities) -> None:
    ran = [
        (t, ups)
        for t, ups in Simulator("tianjin-eco", port_city, SEED).run(
            T0, T0 + timedelta(minutes=45), timedelta(minutes=15)
        )
    ]
    sim = Simulator("tianjin-eco", port_city, SEED)
    stepped = [sim.step(T0 + k * timedelta(minutes=15), timedelta(minutes=15)) for k in range(3)]
    assert [t for t, _ in ran] == [T0 + k * timedelta(minutes=15) for k in range(3)]
    assert [u for _, u in ran] == stepped


def test_runs_on_any_subset_of_the_city(port_city: Entities) -> None:
    """Entities read back from a broker may be a subset: missing relations must not break it."""
    t = T0 + timedelta(hours=-8)  # local midday
    subsets = [[e for e in port_city if e["type"] == ty] for ty in CONTEXT]
    subsets.append(port_city[::2])
    subsets.append(port_city[1::3])
    for sub in subsets:
        sim = Simulator("tianjin-eco", sub, SEED)
        for k in range(3):
            for u in sim.step(t + k * timedelta(hours=6), timedelta(minutes=15)):
                assert u.entity_id in sim.kind_of_id
                level = u.values.get("batteryLevel", 0.5)
                assert 0.0 <= level <= 1.0
