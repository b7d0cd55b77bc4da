"""The backfill's columnar path sends exactly what the step-by-step simulator reports."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from cityfabric.demo import backfill
from cityfabric.demo.backfill import Body, History
from cityfabric.demo.faults import plan_faults
from cityfabric.demo.ngsi import CONTEXT, iso
from cityfabric.demo.simulator import Simulator, Update
from cityfabric.demo.telemetry import BY_KIND
from tests.demo.conftest import SEED

Entities = list[dict[str, Any]]
T0 = datetime(2025, 9, 1, 9, 0, tzinfo=UTC)  # local dusk in Tianjin: lamps switch on
MINUTE = timedelta(minutes=1)
Instance = tuple[str, str, Any, str, str | None]  # entity, attribute, value, observedAt, unit


def _sims(city: Entities) -> tuple[Simulator, Simulator]:
    """Two simulators of the same city, seed and faults: one stepped, one backfilled."""
    faults = plan_faults(city, SEED, T0 - timedelta(days=1), 3.0, rate=20.0)
    return Simulator("tianjin-eco", city, SEED, faults), Simulator(
        "tianjin-eco", city, SEED, faults
    )


def _stepped(sim: Simulator, minutes: int) -> list[Update]:
    return [u for _, ups in sim.run(T0, T0 + minutes * MINUTE, MINUTE) for u in ups]


def _backfilled(sim: Simulator, minutes: int, chunk: int) -> tuple[list[Body], list[Update]]:
    history = History(sim)
    bodies: list[Body] = []
    steps = list(sim.run_readings(T0, T0 + minutes * MINUTE, MINUTE))
    for k in range(0, len(steps), chunk):
        for t, readings in steps[k : k + chunk]:
            history.add(t, readings)
        sent, held = history.take(last=k + chunk >= len(steps))
        bodies += sent
    return bodies, held


def _from_updates(sim: Simulator, updates: list[Update]) -> Counter[Instance]:
    out: Counter[Instance] = Counter()
    for u in updates:
        for m in BY_KIND[sim.kind_of_id[u.entity_id]].measures:
            out[(u.entity_id, m.attribute, u.values[m.attribute], iso(u.observed_at), m.unit)] += 1
    return out


def _from_bodies(bodies: list[Body]) -> Counter[Instance]:
    out: Counter[Instance] = Counter()
    for body in bodies:
        doc = orjson.loads(body.content)
        assert doc["@context"] == [CONTEXT[doc["type"]]]
        count = 0
        for name, instances in doc.items():
            if name in ("id", "type", "@context"):
                continue
            for i in instances:
                assert i["type"] == "Property"
                out[(doc["id"], name, i["value"], i["observedAt"], i.get("unitCode"))] += 1
                count += 1
        assert count == body.instances
    return out


def test_bodies_and_held_readings_are_the_stepped_telemetry(port_city: Entities) -> None:
    stepping, filling = _sims(port_city)
    updates = _stepped(stepping, 90)
    bodies, held = _backfilled(filling, 90, chunk=30)
    newest = {u.entity_id: u for u in updates}  # in time order: the last one stays
    assert sorted(held) == sorted(newest.values())
    older = [u for u in updates if newest[u.entity_id] is not u]
    assert _from_bodies(bodies) == _from_updates(stepping, older)
    ids = [orjson.loads(b.content)["id"] for b in bodies]
    assert len(ids) == len(set(ids))  # one body per entity: nothing filled its buffer


def test_full_buffers_go_early_and_each_instance_once(
    port_city: Entities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "FLUSH", 12)
    stepping, filling = _sims(port_city)
    updates = _stepped(stepping, 60)
    bodies, held = _backfilled(filling, 60, chunk=10)
    newest = {u.entity_id: u for u in updates}
    assert sorted(held) == sorted(newest.values())
    older = [u for u in updates if newest[u.entity_id] is not u]
    assert _from_bodies(bodies) == _from_updates(stepping, older)
    per_entity = Counter(orjson.loads(b.content)["id"] for b in bodies)
    assert max(per_entity.values()) > 1  # the one-minute assets filled theirs several times
    for body in bodies:
        doc = orjson.loads(body.content)
        for name, instances in doc.items():
            if name not in ("id", "type", "@context"):
                times = [i["observedAt"] for i in instances]
                assert times == sorted(times) and len(set(times)) == len(times)


def test_faults_reach_the_backfilled_history(port_city: Entities) -> None:
    """Fault labels match the telemetry on both paths: the same faults, the same values."""
    stepping, filling = _sims(port_city)
    end = T0 + 30 * MINUTE
    active = [f for f, _, _ in stepping.injector.faults if f.start < end and f.end > T0]
    assert {f.kind for f in active} >= {"comm_loss", "stuck_meter", "sensor_drift"}
    updates = _stepped(stepping, 30)
    bodies, held = _backfilled(filling, 30, chunk=30)
    assert _from_bodies(bodies) + _from_updates(filling, held) == _from_updates(stepping, updates)
