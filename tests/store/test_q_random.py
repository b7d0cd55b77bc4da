"""q comparisons in SQL agree with a plain Python reference on random values and literals."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.query import AttrPath, Comparison, Literal
from cityfabric.store.base import EntityQuery
from tests.store.conftest import AnyStore

X = "https://example.org/x"
OPS = ["==", "!=", ">", ">=", "<", "<="]


def scalar(rng: random.Random) -> Any:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randint(-5, 5)
    if kind == 1:
        return rng.randint(-20, 20) / 4
    if kind == 2:
        return rng.choice(["a", "b", "ab", "B", "ä", "", "1"])
    return rng.choice([True, False])


def value(rng: random.Random) -> Any:
    return [scalar(rng) for _ in range(rng.randrange(4))] if rng.random() < 0.3 else scalar(rng)


def compatible(stored: Any, lit: Literal) -> bool:
    if isinstance(lit, bool) or isinstance(stored, bool):
        return isinstance(lit, bool) and isinstance(stored, bool)
    return isinstance(lit, str) == isinstance(stored, str)


def holds(stored: Any, op: str, lit: Literal) -> bool:
    if not compatible(stored, lit) or (isinstance(lit, bool) and op != "=="):
        return False
    return {
        "==": stored == lit,
        ">": stored > lit,
        ">=": stored >= lit,
        "<": stored < lit,
        "<=": stored <= lit,
    }[op]


def reference(doc: EntityDoc, op: str, lit: Literal) -> bool:
    instances = doc["attrs"].get(X)
    if instances is None:
        return False
    for inst in instances:
        v = inst["value"]
        candidates = v if isinstance(v, list) else [v]
        if op == "!=" and not any(holds(c, "==", lit) for c in candidates):
            return True
        if op != "!=" and any(holds(c, op, lit) for c in candidates):
            return True
    return False


def make_docs(rng: random.Random) -> list[EntityDoc]:
    docs = []
    for i in range(150):
        attrs = {}
        if rng.random() < 0.9:
            attrs[X] = [{"type": "Property", "value": value(rng)}]
            if rng.random() < 0.2:
                attrs[X].append({"type": "Property", "value": value(rng), "datasetId": "urn:d"})
        docs.append({"id": f"urn:r:{i:03}", "type": ["https://example.org/R"], "attrs": attrs})
    return docs


@pytest.fixture
async def loaded(store: AnyStore) -> tuple[AnyStore, list[EntityDoc]]:
    docs = make_docs(random.Random(5))
    await store.apply("", [(d["id"], lambda _, d=d: d) for d in docs])
    return store, docs


async def test_random_comparisons_match_reference(
    loaded: tuple[AnyStore, list[EntityDoc]],
) -> None:
    store, docs = loaded
    rng = random.Random(11)
    for _ in range(300):
        op, lit = rng.choice(OPS), scalar(rng)
        q = Comparison(AttrPath(X), op, lit)  # type: ignore[arg-type]
        page = await store.query("", EntityQuery(q=q, limit=1000))
        expected = [d["id"] for d in docs if reference(d, op, lit)]
        assert [d["id"] for d in page.docs] == expected, (op, lit)
