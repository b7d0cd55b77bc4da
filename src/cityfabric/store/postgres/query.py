"""Compile an `EntityQuery` to one SQL WHERE clause over `entities AS e` (PostgreSQL).

The twin of `store/sqlite/sqlq.py`: ids are a primary key seek, types use the GIN
index on `types`, patterns use the `~` operator, q is compiled by `pgq`, and geo
uses the GiST index of `entity_geo` as the pre-filter. The exact geo predicate is
the same Python function the SQLite engine calls (`ngsild.geo.compile_predicate`),
run on the pre-filtered rows, so both engines agree to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityfabric.ngsild import geo
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geo import GeoQuery
from cityfabric.ngsild.query import ScopeAnd, ScopeExpr, ScopeTerm, TypeAnd, TypeExpr, TypeName
from cityfabric.store.base import EntityQuery
from cityfabric.store.filters import GeoPredicate, scope_regex
from cityfabric.store.postgres.pgq import Params, checked_names, q_sql


@dataclass(frozen=True)
class CompiledQuery:
    where: str
    params: dict[str, object]
    geo_predicate: GeoPredicate | None = None
    geo_attr: str | None = None
    regexes: tuple[str, ...] = ()  # every bound regular expression (see `valid_for_pg`)

    def select_sql(self, *, paged: bool) -> str:
        """Docs (as text) in creation order; one page when `paged`."""
        page = " LIMIT %(limit)s OFFSET %(offset)s" if paged else ""
        return f"SELECT e.doc::text FROM entities AS e WHERE {self.where} ORDER BY e.rid{page}"

    def ids_sql(self) -> str:
        """The ids of every match (a sub-query for the history of live entities)."""
        return f"SELECT e.id FROM entities AS e WHERE {self.where}"

    def count_sql(self) -> str:
        return f"SELECT count(*) FROM entities AS e WHERE {self.where}"


def compile_query(tid: int, query: EntityQuery) -> CompiledQuery:
    """Compile every filter of `query` for tenant `tid` (geo: the pre-filter only)."""
    params = Params()
    params.values["tid"] = tid
    parts = ["e.tid = %(tid)s"]
    if query.ids:
        parts.append(f"e.id = ANY({params.bind(list(query.ids), 'text[]')})")
    if query.types is not None:
        parts.append(type_sql(query.types, params))
    predicate: GeoPredicate | None = None
    if query.geo is not None:
        parts.extend(geo_prefilter(query.geo, params))
        predicate = geo.compile_predicate(query.geo)
    if query.id_pattern is not None:
        parts.append(f"e.id ~ {params.bind_regex(query.id_pattern)}")
    if query.attrs:
        names = params.bind(checked_names(*query.attrs), "text[]")
        parts.append(f"((e.doc -> 'attrs') ?| {names})")
    if query.scope_q is not None:
        parts.append(scope_sql(query.scope_q, params))
    if query.q is not None:
        parts.append(q_sql(query.q, params))
    geo_attr = None if query.geo is None else query.geo.geoproperty
    return CompiledQuery(
        " AND ".join(parts), params.values, predicate, geo_attr, tuple(params.regexes)
    )


def type_sql(expr: TypeExpr, params: Params) -> str:
    """A type expression as GIN-indexed containment tests on `types`."""
    if isinstance(expr, TypeName):
        return f"e.types @> ARRAY[{params.bind(expr.name, 'text')}]"
    parts = [type_sql(term, params) for term in expr.terms]
    if not parts:
        return "true" if isinstance(expr, TypeAnd) else "false"
    return "(" + (" AND " if isinstance(expr, TypeAnd) else " OR ").join(parts) + ")"


_SCOPES = (
    "jsonb_array_elements_text(CASE jsonb_typeof(e.doc -> 'scope')"
    " WHEN 'array' THEN e.doc -> 'scope'"
    " WHEN 'string' THEN jsonb_build_array(e.doc -> 'scope') END) AS s"
)


def scope_sql(expr: ScopeExpr, params: Params) -> str:
    """A scopeQ tree against the doc's "scope"; entities without scope never match."""
    if isinstance(expr, ScopeTerm):
        regex = scope_regex(expr.path)
        cond = (
            f"s = {params.bind(expr.path.strip(), 'text')}"
            if regex is None
            else f"s ~ {params.bind_regex(regex)}"
        )
        return f"EXISTS (SELECT 1 FROM {_SCOPES} WHERE {cond})"
    parts = [scope_sql(term, params) for term in expr.terms]
    if not parts:
        return "true" if isinstance(expr, ScopeAnd) else "false"
    return "(" + (" AND " if isinstance(expr, ScopeAnd) else " OR ").join(parts) + ")"


def geo_prefilter(query: GeoQuery, params: Params) -> list[str]:
    """The GiST bounding-box pre-filter, when the relation allows one."""
    box = geo.prefilter_bbox(query)
    if box is None:
        return []
    min_lon, min_lat, max_lon, max_lat = (params.bind(float(c), "float8") for c in box)
    attr = params.bind(query.geoproperty, "text")
    return [
        "e.rid IN (SELECT g.rid FROM entity_geo AS g WHERE g.tid = %(tid)s"
        f" AND g.attr = {attr}"
        f" AND g.box && ST_MakeEnvelope({min_lon}, {min_lat}, {max_lon}, {max_lat}))"
    ]


def geo_matches(doc: dict[str, object], attr: str, predicate: GeoPredicate) -> bool:
    """The exact test: some GeoProperty instance of `attr` satisfies the predicate."""
    attrs = doc.get("attrs")
    found = attrs.get(attr) if isinstance(attrs, dict) else None
    for inst in found if isinstance(found, list) else []:
        if isinstance(inst, dict) and inst.get("type") == "GeoProperty":
            value = inst.get("value")
            try:
                if isinstance(value, dict) and predicate(value):
                    return True
            except Exception:  # a malformed stored geometry never matches, never raises
                continue
    return False


def bad_regex(err: Exception) -> BadRequestData:
    return BadRequestData(f"invalid regular expression for PostgreSQL: {err}")
