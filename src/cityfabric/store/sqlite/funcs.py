"""Python functions registered on every SQLite connection of the store.

`regexp` backs the REGEXP operator (id patterns, `~=`, scopeQ), `cf_ts`
normalizes ISO 8601 instants so they compare as text, and `cf_geo` runs the
exact geo predicate of a running query, looked up by a token in
`GEO_PREDICATES`.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import orjson

from cityfabric.ngsild.regex import compile_regex
from cityfabric.store.filters import GeoPredicate, normalize_instant

compiled = compile_regex


def regexp(pattern: object, text: object) -> bool | None:
    """SQL `text REGEXP pattern`: `re.search`; NULL unless both are strings."""
    if not isinstance(pattern, str) or not isinstance(text, str):
        return None
    return compiled(pattern).search(text) is not None


def cf_ts(text: object, kind: object) -> str | None:
    """SQL `cf_ts(value, kind)`: `normalize_instant` for text values, else NULL."""
    if not isinstance(text, str) or not isinstance(kind, str):
        return None
    return _cached_instant(text, kind)


@lru_cache(maxsize=4096)
def _cached_instant(text: str, kind: str) -> str | None:
    return normalize_instant(text, kind)


class GeoRegistry:
    """Exact geo predicates of the queries running now, by integer token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._predicates: dict[int, GeoPredicate] = {}

    @contextmanager
    def registered(self, predicate: GeoPredicate) -> Iterator[int]:
        """Hold `predicate` under a fresh token for the duration of a query."""
        with self._lock:
            token = next(self._tokens)
            self._predicates[token] = predicate
        try:
            yield token
        finally:
            with self._lock:
                del self._predicates[token]

    def test(self, token: object, geometry: object) -> bool:
        """SQL `cf_geo(token, geometry_json)`: the predicate on one stored geometry."""
        predicate = self._predicates.get(token) if isinstance(token, int) else None
        if predicate is None or not isinstance(geometry, str | bytes):
            return False
        try:
            value = orjson.loads(geometry)
            return isinstance(value, dict) and bool(predicate(value))
        except Exception:  # a malformed stored geometry never matches, never raises
            return False


GEO_PREDICATES = GeoRegistry()


def install(conn: sqlite3.Connection) -> None:
    """Register the store's user functions on a connection."""
    conn.create_function("regexp", 2, regexp, deterministic=True)
    conn.create_function("cf_ts", 2, cf_ts, deterministic=True)
    conn.create_function("cf_geo", 2, GEO_PREDICATES.test)
