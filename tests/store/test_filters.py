"""Engine-neutral filtering helpers (store/filters.py)."""

from __future__ import annotations

import pytest

from cityfabric.ngsild.query import TypeAnd, TypeName, TypeOr
from cityfabric.store.filters import (
    geo_rows,
    normalize_instant,
    scope_regex,
    type_matches,
    type_names,
    types_of,
)
from cityfabric.store.sqlite.funcs import regexp


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("2026-11-23T16:00:00Z", "dateTime", "2026-11-23T16:00:00.000000"),
        ("2026-11-23T17:00:00.5+01:00", "dateTime", "2026-11-23T16:00:00.500000"),
        ("2026-11-23T16:00:00", "dateTime", "2026-11-23T16:00:00.000000"),
        ("2026-11-23", "date", "2026-11-23T00:00:00.000000"),
        ("10:30:00Z", "time", "10:30:00.000000"),
        ("not a date", "dateTime", None),
    ],
)
def test_normalize_instant(text: str, kind: str, expected: str | None) -> None:
    assert normalize_instant(text, kind) == expected


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("/a/#", ["/a", "/a/b", "/a/b/c"], ["/ab", "/b/a"]),
        ("/#", ["/a", "/a/b"], []),
        ("/+/b", ["/a/b", "/x/b"], ["/a/b/c", "/b"]),
        ("/a.b/+", ["/a.b/c"], ["/aXb/c", "/a.b"]),
    ],
)
def test_scope_regex(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = scope_regex(pattern)
    assert regex is not None
    assert all(regexp(regex, m) for m in matches)
    assert not any(regexp(regex, m) for m in misses)
    assert scope_regex("/a/b") is None


def test_types_and_type_expressions() -> None:
    assert types_of(None) == () and types_of({"type": "urn:a"}) == ("urn:a",)
    assert types_of({"type": ["urn:a", 3, "urn:b"]}) == ("urn:a", "urn:b")
    expr = TypeOr((TypeName("urn:a"), TypeAnd((TypeName("urn:b"), TypeName("urn:c")))))
    assert type_names(expr) == {"urn:a", "urn:b", "urn:c"}
    assert type_matches(expr, {"urn:a"}) and type_matches(expr, {"urn:b", "urn:c"})
    assert not type_matches(expr, {"urn:b"})


def test_geo_rows_are_the_bbox_of_each_geoproperty() -> None:
    point = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}}
    line = {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [[0, 0], [3, 4]]}}
    doc = {"attrs": {"loc": [point, line], "p": [{"type": "Property", "value": 1}]}}
    assert geo_rows(doc) == [("loc", (1.0, 2.0, 1.0, 2.0)), ("loc", (0, 0, 3, 4))]
