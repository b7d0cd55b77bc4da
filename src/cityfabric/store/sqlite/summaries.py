"""Type and attribute summaries of a tenant, grouped in SQL with json_each."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from cityfabric.store.base import AttributeSummary, TypeSummary

_TYPE_COUNTS = "SELECT type, count(*) FROM entity_types WHERE tid = ? GROUP BY type"
_TYPE_ATTRS = """
    SELECT t.type, a.key, json_extract(inst.value, '$.type')
    FROM entity_types AS t JOIN entities AS e ON e.rid = t.rid,
         json_each(e.doc, '$.attrs') AS a, json_each(a.value) AS inst
    WHERE t.tid = ? GROUP BY 1, 2, 3
"""
_ATTR_COUNTS = """
    SELECT a.key, count(*) FROM entities AS e, json_each(e.doc, '$.attrs') AS a
    WHERE e.tid = ? GROUP BY a.key
"""
_ATTR_TYPES = """
    SELECT a.key, t.type
    FROM entities AS e JOIN entity_types AS t ON t.rid = e.rid, json_each(e.doc, '$.attrs') AS a
    WHERE e.tid = ? GROUP BY 1, 2
"""
_ATTR_KINDS = """
    SELECT a.key, json_extract(inst.value, '$.type')
    FROM entities AS e, json_each(e.doc, '$.attrs') AS a, json_each(a.value) AS inst
    WHERE e.tid = ? GROUP BY 1, 2
"""


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def types(conn: sqlite3.Connection, tid: int | None) -> list[TypeSummary]:
    """One summary per entity type IRI, sorted by type."""
    if tid is None:
        return []
    with _snapshot(conn):
        found = {t: TypeSummary(t, n) for t, n in conn.execute(_TYPE_COUNTS, (tid,))}
        for type_, attr, kind in conn.execute(_TYPE_ATTRS, (tid,)):
            kinds = found[type_].attrs.setdefault(attr, set())
            if isinstance(kind, str):
                kinds.add(kind)
    return [found[t] for t in sorted(found)]


def attributes(conn: sqlite3.Connection, tid: int | None) -> list[AttributeSummary]:
    """One summary per attribute IRI, sorted by name."""
    if tid is None:
        return []
    with _snapshot(conn):
        found = {a: AttributeSummary(a, n) for a, n in conn.execute(_ATTR_COUNTS, (tid,))}
        for attr, type_ in conn.execute(_ATTR_TYPES, (tid,)):
            found[attr].types.add(type_)
        for attr, kind in conn.execute(_ATTR_KINDS, (tid,)):
            if isinstance(kind, str):
                found[attr].kinds.add(kind)
    return [found[a] for a in sorted(found)]
