"""Geo-queries on every engine: index pre-filter plus exact predicate, checked by brute force."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from cityfabric.ngsild.geo import GeoQuery
from cityfabric.ngsild.model import LOCATION, EntityDoc
from cityfabric.ngsild.query import AttrPath, Comparison
from cityfabric.store.base import EntityQuery
from tests.store.conftest import AnyStore

AREA = "https://example.org/serviceArea"
CENTRE = (-3.70, 40.42)


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon1, lat1), (lon2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def square(lon: float, lat: float, half: float) -> dict[str, Any]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def make_docs(seed: int, n: int = 300) -> list[EntityDoc]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        lon, lat = CENTRE[0] + rng.uniform(-0.02, 0.02), CENTRE[1] + rng.uniform(-0.02, 0.02)
        attrs: dict[str, Any] = {
            LOCATION: [{"type": "GeoProperty", "value": point(lon, lat)}],
            "https://example.org/n": [{"type": "Property", "value": i}],
        }
        if i % 7 == 0:  # a second location instance, far away
            attrs[LOCATION].append(
                {"type": "GeoProperty", "value": point(lon + 1, lat), "datasetId": "urn:ds:far"}
            )
        if i % 5 == 0:
            attrs[AREA] = [
                {"type": "GeoProperty", "value": square(lon, lat, rng.uniform(0.0005, 0.003))}
            ]
        if i % 11 == 0:
            del attrs[LOCATION]
        docs.append({"id": f"urn:p:{i:04}", "type": ["https://example.org/P"], "attrs": attrs})
    return docs


def geometries(doc: EntityDoc, attr: str) -> list[dict[str, Any]]:
    return [inst["value"] for inst in doc["attrs"].get(attr, [])]


def brute(doc: EntityDoc, q: GeoQuery) -> bool:
    """An independent evaluation: haversine for near, shapely relations otherwise."""
    values = geometries(doc, q.geoproperty)
    if q.georel == "near":
        centre = tuple(q.geometry["coordinates"])
        return any(
            haversine(centre, tuple(g["coordinates"])) <= (q.max_distance or math.inf)  # type: ignore[arg-type]
            and haversine(centre, tuple(g["coordinates"])) >= (q.min_distance or 0)  # type: ignore[arg-type]
            for g in values
        )
    query = shape(q.geometry)
    relation = {
        "within": lambda s: shapely.within(s, query),
        "intersects": lambda s: shapely.intersects(s, query),
        "disjoint": lambda s: shapely.disjoint(s, query),
        "contains": lambda s: shapely.contains(s, query),
    }[q.georel]
    return any(bool(relation(shape(g))) for g in values)


@pytest.fixture(scope="module")
def docs() -> list[EntityDoc]:
    return make_docs(seed=20261123)


@pytest.fixture
async def store(store: AnyStore, docs: list[EntityDoc]) -> AnyStore:
    await store.apply("", [(d["id"], lambda _, d=d: d) for d in docs])
    return store


def random_queries(seed: int) -> list[GeoQuery]:
    rng = random.Random(seed)
    queries: list[GeoQuery] = []
    for _ in range(12):
        lon, lat = CENTRE[0] + rng.uniform(-0.02, 0.02), CENTRE[1] + rng.uniform(-0.02, 0.02)
        distance = rng.choice([50.0, 300.0, 800.0, 2000.0])
        queries.append(GeoQuery("near", point(lon, lat), max_distance=distance))
        queries.append(
            GeoQuery("near", point(lon, lat), max_distance=distance * 2, min_distance=distance)
        )
        half = rng.uniform(0.001, 0.01)
        queries.append(GeoQuery("within", square(lon, lat, half)))
        queries.append(GeoQuery("intersects", square(lon, lat, half)))
        queries.append(GeoQuery("intersects", square(lon, lat, half), geoproperty=AREA))
        queries.append(GeoQuery("disjoint", square(lon, lat, half)))
        queries.append(GeoQuery("contains", point(lon, lat), geoproperty=AREA))
    return queries


async def test_geo_matches_brute_force(store: AnyStore, docs: list[EntityDoc]) -> None:
    for q in random_queries(seed=7):
        page = await store.query("", EntityQuery(geo=q, limit=1000, count=True))
        expected = [d["id"] for d in docs if brute(d, q)]
        assert [d["id"] for d in page.docs] == expected, q
        assert page.count == len(expected)


async def test_geo_paging_and_count_are_exact(store: AnyStore, docs: list[EntityDoc]) -> None:
    q = GeoQuery("near", point(*CENTRE), max_distance=1500.0)
    expected = [d["id"] for d in docs if brute(d, q)]
    assert len(expected) > 20
    got: list[str] = []
    for offset in range(0, len(expected) + 10, 10):
        page = await store.query("", EntityQuery(geo=q, limit=10, offset=offset, count=True))
        assert page.count == len(expected)
        got += [d["id"] for d in page.docs]
    assert got == expected


async def test_geo_with_q_and_index_follows_updates(store: AnyStore, docs: list[EntityDoc]) -> None:
    q = GeoQuery("near", point(*CENTRE), max_distance=100.0)
    even = Comparison(AttrPath("https://example.org/n"), "<", 150)
    before = await store.query("", EntityQuery(geo=q, q=even, limit=1000))
    assert all(d["attrs"]["https://example.org/n"][0]["value"] < 150 for d in before.docs)
    moved = {**docs[1], "attrs": {LOCATION: [{"type": "GeoProperty", "value": point(*CENTRE)}]}}
    await store.apply("", [(moved["id"], lambda _: moved), (docs[2]["id"], lambda _: None)])
    after = await store.query("", EntityQuery(geo=q, limit=1000))
    ids = [d["id"] for d in after.docs]
    assert moved["id"] in ids and docs[2]["id"] not in ids
    far = await store.query(
        "",
        EntityQuery(
            geo=GeoQuery(
                "near",
                point(*docs[1]["attrs"][LOCATION][0]["value"]["coordinates"]),
                max_distance=1.0,
            )
        ),
    )
    assert docs[1]["id"] not in [d["id"] for d in far.docs]
