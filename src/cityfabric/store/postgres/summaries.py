"""Type and attribute summaries of a tenant, grouped in SQL with jsonb_each (PostgreSQL)."""

from __future__ import annotations

from cityfabric.store.base import AttributeSummary, TypeSummary
from cityfabric.store.postgres.write import Conn

_ATTRS = "jsonb_each(e.doc -> 'attrs') AS a"
_INSTANCES = (
    "jsonb_array_elements(CASE jsonb_typeof(a.value) WHEN 'array' THEN a.value"
    " ELSE jsonb_build_array(a.value) END) AS inst"
)
_TYPE_COUNTS = (
    "SELECT t, count(*) FROM entities AS e, unnest(e.types) AS t WHERE e.tid = %s GROUP BY t"
)
_TYPE_ATTRS = f"""
    SELECT t, a.key, inst ->> 'type'
    FROM entities AS e, unnest(e.types) AS t, {_ATTRS}, {_INSTANCES}
    WHERE e.tid = %s GROUP BY 1, 2, 3
"""
_ATTR_COUNTS = f"SELECT a.key, count(*) FROM entities AS e, {_ATTRS} WHERE e.tid = %s GROUP BY 1"
_ATTR_TYPES = f"""
    SELECT a.key, t FROM entities AS e, unnest(e.types) AS t, {_ATTRS}
    WHERE e.tid = %s GROUP BY 1, 2
"""
_ATTR_KINDS = f"""
    SELECT a.key, inst ->> 'type' FROM entities AS e, {_ATTRS}, {_INSTANCES}
    WHERE e.tid = %s GROUP BY 1, 2
"""


def types(conn: Conn, tid: int | None) -> list[TypeSummary]:
    """One summary per entity type IRI, sorted by type."""
    if tid is None:
        return []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        found = {
            str(t): TypeSummary(str(t), int(str(n))) for t, n in conn.execute(_TYPE_COUNTS, (tid,))
        }
        for type_, attr, kind in conn.execute(_TYPE_ATTRS, (tid,)):
            kinds = found[str(type_)].attrs.setdefault(str(attr), set())
            if isinstance(kind, str):
                kinds.add(kind)
    return [found[t] for t in sorted(found)]


def attributes(conn: Conn, tid: int | None) -> list[AttributeSummary]:
    """One summary per attribute IRI, sorted by name."""
    if tid is None:
        return []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        found = {
            str(a): AttributeSummary(str(a), int(str(n)))
            for a, n in conn.execute(_ATTR_COUNTS, (tid,))
        }
        for attr, type_ in conn.execute(_ATTR_TYPES, (tid,)):
            found[str(attr)].types.add(str(type_))
        for attr, kind in conn.execute(_ATTR_KINDS, (tid,)):
            if isinstance(kind, str):
                found[str(attr)].kinds.add(kind)
    return [found[a] for a in sorted(found)]
