"""Crash safety: every write a live `cityfabric run` acknowledged with 2xx survives SIGKILL.

Several concurrent clients send an interleaved burst of single creates, batch upserts and
attribute PATCHes. When the last planned write is acknowledged the server is SIGKILLed at
once, while the clients keep "filler" writes (creates and patches) in flight. A new server
is started on the same data directory and must hold every acknowledged write with its
acknowledged value; an in-flight write may or may not be there, but nothing else may be.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import Server, running_server

pytestmark = pytest.mark.e2e

WORKERS = 8
SINGLES = 2000
BATCHES = 20
BATCH_SIZE = 100
PATCH_TARGETS = 50
PATCHES_PER_TARGET = 10
PLANNED = SINGLES + BATCHES + PATCH_TARGETS * PATCHES_PER_TARGET  # requests
BURST_DEADLINE_S = 60.0
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
NGSI = "/ngsi-ld/v1"


def single_id(i: int) -> str:
    return f"urn:ngsi-ld:CrashSingle:{i:05d}"


def batch_id(b: int, k: int) -> str:
    return f"urn:ngsi-ld:CrashBatch:{b:03d}-{k:03d}"


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def entity_body(eid: str, etype: str, tag: str) -> dict[str, Any]:
    return {
        "id": eid,
        "type": etype,
        "tag": prop(tag),
        "level": prop(-1),
        "state": prop("new"),
    }


def initial_values(tag: str) -> dict[str, Any]:
    return {"tag": tag, "level": -1, "state": "new"}


def patch_body(n: int) -> dict[str, Any]:
    """Patch number n of an entity: always `level`, `state` only on every third patch, so
    the expected value of each attribute comes from a different last patch."""
    body: dict[str, Any] = {"level": prop(n)}
    if n % 3 == 0:
        body["state"] = prop(f"patched-{n}")
    return body


@dataclass
class Outcome:
    """What one worker saw; entities are owned by one worker, so no merging conflicts."""

    acked: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> acked values
    sent_ids: set[str] = field(default_factory=set)  # every id a create/upsert carried
    in_flight: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> unacked patch
    errors: list[str] = field(default_factory=list)
    planned_acks: int = 0
    filler_acks: int = 0
    unacked: int = 0  # requests cut off by the kill


class Burst:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.planned_done = 0
        self.stop = threading.Event()
        self.killed_at: float | None = None
        self.deadline = time.monotonic() + BURST_DEADLINE_S

    def planned_finished(self) -> None:
        with self.lock:
            self.planned_done += 1
            last = self.planned_done == PLANNED
        if last:
            # The last planned write was just acknowledged: kill now, fillers still flying.
            self.server.process.send_signal(signal.SIGKILL)
            self.killed_at = time.monotonic()
            self.stop.set()

    def abort(self, out: Outcome, message: str) -> None:
        out.errors.append(message)
        self.stop.set()


def plan_for(w: int) -> tuple[list[tuple[str, Any]], dict[str, int]]:
    """The main operations of worker w (shuffled) and its patch targets (id -> owner op)."""
    singles = [("create", i) for i in range(SINGLES) if i % WORKERS == w]
    batches = [("batch", b) for b in range(BATCHES) if b % WORKERS == w]
    ops: list[tuple[str, Any]] = singles + batches
    random.Random(1000 + w).shuffle(ops)
    # Patch targets: half single entities, half batch entities, each patched by its owner.
    targets: dict[str, int] = {}
    for t in range(PATCH_TARGETS // 2):
        i = t * (SINGLES // (PATCH_TARGETS // 2)) + t  # + t: spread over the workers
        if i % WORKERS == w:
            targets[single_id(i)] = PATCHES_PER_TARGET
    for t in range(PATCH_TARGETS - PATCH_TARGETS // 2):
        b, k = t % BATCHES, (t // BATCHES) * 37
        if b % WORKERS == w:
            targets[batch_id(b, k)] = PATCHES_PER_TARGET
    return ops, targets


def run_worker(w: int, burst: Burst) -> Outcome:
    try:
        return _run_worker(w, burst)
    except BaseException:
        burst.stop.set()  # let the other workers stop instead of writing until the deadline
        raise


def _run_worker(w: int, burst: Burst) -> Outcome:
    out = Outcome()
    rng = random.Random(w)
    ops, targets = plan_for(w)
    ready: list[str] = []  # patch targets whose creation has been acknowledged
    patches_sent: dict[str, int] = dict.fromkeys(targets, 0)
    fillers = 0
    with httpx.Client(base_url=burst.server.url, headers=JSON, timeout=30) as http:

        def send(method: str, url: str, body: Any) -> httpx.Response | None:
            if burst.stop.is_set():
                return None
            if time.monotonic() > burst.deadline:
                burst.abort(out, f"worker {w}: burst did not finish in {BURST_DEADLINE_S}s")
                return None
            try:
                return http.request(method, url, json=body)
            except httpx.TransportError as exc:
                out.unacked += 1
                if not burst.stop.is_set():
                    burst.abort(out, f"worker {w}: {method} {url} failed before the kill: {exc!r}")
                return None

        def create(eid: str, etype: str, tag: str) -> bool:
            out.sent_ids.add(eid)
            r = send("POST", f"{NGSI}/entities", entity_body(eid, etype, tag))
            if r is None:
                return False
            if r.status_code != 201:
                burst.abort(out, f"create {eid}: {r.status_code} {r.text}")
                return False
            out.acked[eid] = initial_values(tag)
            return True

        def patch(eid: str) -> bool:
            if burst.stop.is_set():
                return False
            n = patches_sent[eid] = patches_sent[eid] + 1
            body = patch_body(n)
            values = {name: p["value"] for name, p in body.items()}
            out.in_flight[eid] = values
            r = send("PATCH", f"{NGSI}/entities/{eid}/attrs", body)
            if r is None:
                return False
            if r.status_code != 204:
                burst.abort(out, f"patch {eid}: {r.status_code} {r.text}")
                return False
            del out.in_flight[eid]
            out.acked[eid].update(values)
            return True

        def batch(b: int) -> bool:
            ids = [batch_id(b, k) for k in range(BATCH_SIZE)]
            out.sent_ids.update(ids)
            body = [entity_body(eid, "CrashBatch", f"batch-{b}") for eid in ids]
            r = send("POST", f"{NGSI}/entityOperations/upsert", body)
            if r is None:
                return False
            if r.status_code != 201 or sorted(r.json()) != ids:
                burst.abort(out, f"upsert batch {b}: {r.status_code} {r.text[:500]}")
                return False
            for eid in ids:
                out.acked[eid] = initial_values(f"batch-{b}")
            return True

        def done(ok: bool, eid_created: list[str]) -> None:
            if ok:
                out.planned_acks += 1
                ready.extend(e for e in eid_created if e in targets)
                burst.planned_finished()

        # The planned burst: creates, upserts and patches interleaved at random; the
        # patches of one entity go out one after the other, after its creation.
        while not burst.stop.is_set():
            patchable = [e for e in ready if patches_sent[e] < PATCHES_PER_TARGET]
            if not ops and not patchable:
                break
            if patchable and (not ops or rng.random() < 0.25):
                eid = rng.choice(patchable)
                done(patch(eid), [])
            else:
                kind, n = ops.pop()
                if kind == "create":
                    done(create(single_id(n), "CrashSingle", f"single-{n}"), [single_id(n)])
                else:
                    done(batch(n), [batch_id(n, k) for k in range(BATCH_SIZE)])

        # Fillers keep writes in flight until the kill: new entities and more patches.
        while not burst.stop.is_set():
            fillers += 1
            if targets and fillers % 2 == 0:
                ok = patch(rng.choice(list(targets)))
            else:
                eid = f"urn:ngsi-ld:CrashFiller:{w}-{fillers:06d}"
                ok = create(eid, "CrashFiller", f"filler-{w}-{fillers}")
            if ok:
                out.filler_acks += 1
    return out


def list_type(http: httpx.Client, etype: str) -> dict[str, dict[str, Any]]:
    """Every entity whose id is `urn:ngsi-ld:<etype>:...` (keyValues), paged."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        params: dict[str, str | int] = {
            "idPattern": f"^urn:ngsi-ld:{etype}:",
            "options": "keyValues",
            "limit": 1000,
            "offset": offset,
            "count": "true",
        }
        r = http.get(f"{NGSI}/entities", params=params)
        assert r.status_code == 200, r.text
        total = int(r.headers["NGSILD-Results-Count"])
        page = r.json()
        for doc in page:
            assert doc["id"] not in found, f"{doc['id']} returned twice"
            assert doc["type"] == etype, doc
            found[doc["id"]] = doc
        offset += len(page)
        if not page or offset >= total:
            assert len(found) == total, (etype, len(found), total)
            return found


def count_by_type(http: httpx.Client, etype: str) -> tuple[int, int]:
    """The number of entities of a type, from a type query and from the type's details."""
    r = http.get(f"{NGSI}/entities", params={"type": etype, "limit": 0, "count": "true"})
    assert r.status_code == 200, r.text
    info = http.get(f"{NGSI}/types/{etype}")
    assert info.status_code == 200, info.text
    return int(r.headers["NGSILD-Results-Count"]), int(info.json()["entityCount"])


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as first:
        started = time.monotonic()
        burst = Burst(first)
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="crash-client") as pool:
            outcomes = list(pool.map(lambda w: run_worker(w, burst), range(WORKERS)))
        first.process.wait(10)
    errors = [e for o in outcomes for e in o.errors]
    assert not errors, errors[:10]
    assert burst.killed_at is not None, "the burst never completed"
    assert first.process.returncode == -signal.SIGKILL

    acked: dict[str, dict[str, Any]] = {}
    sent: set[str] = set()
    in_flight: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        acked.update(o.acked)
        sent |= o.sent_ids
        in_flight.update(o.in_flight)
    assert sum(o.planned_acks for o in outcomes) == PLANNED
    filler_acks = sum(o.filler_acks for o in outcomes)

    with (
        running_server(data_dir) as second,
        httpx.Client(base_url=second.url, headers=JSON, timeout=30) as http,
    ):
        singles = list_type(http, "CrashSingle")
        batched = list_type(http, "CrashBatch")
        fillers = list_type(http, "CrashFiller")
        counts = {t: count_by_type(http, t) for t in ("CrashSingle", "CrashBatch", "CrashFiller")}

    # Every planned write was acknowledged, so those types hold exactly what was created.
    assert counts["CrashSingle"] == (SINGLES, SINGLES) and len(singles) == SINGLES
    assert counts["CrashBatch"] == (BATCHES * BATCH_SIZE,) * 2
    assert len(batched) == BATCHES * BATCH_SIZE
    assert counts["CrashFiller"] == (len(fillers), len(fillers))
    stored = singles | batched | fillers

    # Everything acknowledged is there; nothing that was never sent is there.
    lost = sorted(set(acked) - set(stored))
    assert not lost, f"{len(lost)} acknowledged entities lost after SIGKILL, e.g. {lost[:5]}"
    phantom = sorted(set(stored) - sent)
    assert not phantom, f"entities that were never sent: {phantom[:5]}"

    # Each entity holds its acknowledged values, or, if one patch of it was still in flight
    # when the server died, the acknowledged values with that whole patch applied.
    wrong = []
    for eid, expected in acked.items():
        doc = {name: stored[eid].get(name) for name in expected}
        allowed = [expected]
        if eid in in_flight:
            allowed.append(expected | in_flight[eid])
        if doc not in allowed:
            wrong.append((eid, doc, allowed))
    assert not wrong, f"{len(wrong)} entities lost acknowledged values: {wrong[:5]}"

    # Unacknowledged fillers that did make it are whole entities, not torn writes.
    for doc in stored.values():
        assert {"tag", "level", "state"} <= doc.keys(), doc
    print(
        f"acknowledged: {PLANNED} planned requests + {filler_acks} fillers;"
        f" {len(acked)} entities checked, {len(in_flight)} patches in flight at the kill,"
        f" {len(fillers)} filler entities stored;"
        f" {sum(o.unacked for o in outcomes)} requests cut off by the kill;"
        f" burst {burst.killed_at - started:.1f}s"
    )
