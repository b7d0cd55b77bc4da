"""Compile an `EntityQuery` to one SQL WHERE clause over `entities AS e`.

Every filter runs inside SQLite: ids and types are index seeks, patterns use
the REGEXP function, q is compiled by `qsql`, geo uses the R*Tree as a
pre-filter and the exact predicate as the `cf_geo` function, so LIMIT,
OFFSET and COUNT see exactly the matching rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from cityfabric.ngsild import geo
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geo import GeoQuery
from cityfabric.ngsild.query import ScopeAnd, ScopeExpr, ScopeTerm, TypeAnd, TypeExpr, TypeName
from cityfabric.store.base import EntityQuery
from cityfabric.store.filters import GeoPredicate, scope_regex
from cityfabric.store.sqlite.funcs import compiled
from cityfabric.store.sqlite.qsql import Params, attr_path, q_sql

GEO_TOKEN = "geo_token"  # parameter name filled with the registry token at run time


# with a type to look for, the scan walks that type's rows of `entity_types` in rid order
# (primary key), so `ORDER BY rid LIMIT n` stops after n matches without sorting
_BY_TYPE = "entity_types AS t0 JOIN entities AS e ON e.rid = t0.rid"


@dataclass(frozen=True)
class CompiledQuery:
    where: str
    params: dict[str, object]
    geo_predicate: GeoPredicate | None = None
    by_type: bool = False

    def select_sql(self) -> str:
        """Docs of one page, in creation order."""
        source, order = (_BY_TYPE, "t0.rid") if self.by_type else ("entities AS e", "e.rid")
        return (
            f"SELECT e.doc FROM {source} WHERE {self.where}"
            f" ORDER BY {order} LIMIT :limit OFFSET :offset"
        )

    def ids_sql(self) -> str:
        """The ids of every match (a sub-query for the history of live entities)."""
        source = _BY_TYPE if self.by_type else "entities AS e"
        return f"SELECT e.id FROM {source} WHERE {self.where}"

    def count_sql(self) -> str:
        """The number of matches of the same WHERE."""
        source = _BY_TYPE if self.by_type else "entities AS e"
        return f"SELECT count(*) FROM {source} WHERE {self.where}"


def compile_query(tid: int, query: EntityQuery) -> CompiledQuery:
    """Compile every filter of `query` for tenant `tid`."""
    params = Params()
    params.values["tid"] = tid
    parts = ["e.tid = :tid"]
    if query.ids:
        parts.append(f"e.id IN (SELECT value FROM json_each({params.bind(_json(query.ids))}))")
    driver, other_types = _split_driver(query.types)
    if driver is not None:
        parts.append(f"t0.tid = :tid AND t0.type = {params.bind(driver.name)}")
    if other_types is not None:
        parts.append(type_sql(other_types, params))
    predicate: GeoPredicate | None = None
    exact: list[str] = []
    if query.geo is not None:
        prefilter, exact = geo_sql(query.geo, params)
        parts.extend(prefilter)
        predicate = geo.compile_predicate(query.geo)
    if query.id_pattern is not None:
        parts.append(f"e.id REGEXP {params.bind(_checked_regex(query.id_pattern))}")
    if query.attrs:
        has = [f"json_type(e.doc, {params.bind(attr_path(a))}) IS NOT NULL" for a in query.attrs]
        parts.append("(" + " OR ".join(has) + ")")
    if query.scope_q is not None:
        parts.append(scope_sql(query.scope_q, params))
    if query.q is not None:
        parts.append(q_sql(query.q, params))
    parts.extend(exact)  # the exact geo test, in Python, last: on the fewest rows
    return CompiledQuery(" AND ".join(parts), params.values, predicate, driver is not None)


def _split_driver(types: TypeExpr | None) -> tuple[TypeName | None, TypeExpr | None]:
    """A type every match must have (to drive the scan) and the rest of the expression."""
    if isinstance(types, TypeName):
        return types, None
    if isinstance(types, TypeAnd):
        for i, term in enumerate(types.terms):
            if isinstance(term, TypeName):
                rest = types.terms[:i] + types.terms[i + 1 :]
                return term, TypeAnd(rest) if rest else None
    return None, types


def type_sql(expr: TypeExpr, params: Params) -> str:
    """A type expression as per-row primary key seeks in `entity_types`."""
    if isinstance(expr, TypeName):
        return (
            "EXISTS (SELECT 1 FROM entity_types AS t"
            f" WHERE t.tid = :tid AND t.type = {params.bind(expr.name)} AND t.rid = e.rid)"
        )
    parts = [type_sql(term, params) for term in expr.terms]
    if not parts:
        return "1" if isinstance(expr, TypeAnd) else "0"
    return "(" + (" AND " if isinstance(expr, TypeAnd) else " OR ").join(parts) + ")"


def scope_sql(expr: ScopeExpr, params: Params) -> str:
    """A scopeQ tree against the doc's "scope" list; entities without scope never match."""
    if isinstance(expr, ScopeTerm):
        regex = scope_regex(expr.path)
        cond = (
            f"s.value = {params.bind(expr.path.strip())}"
            if regex is None
            else f"s.value REGEXP {params.bind(regex)}"
        )
        return f"EXISTS (SELECT 1 FROM json_each(e.doc, '$.scope') AS s WHERE {cond})"
    parts = [scope_sql(term, params) for term in expr.terms]
    if not parts:
        return "1" if isinstance(expr, ScopeAnd) else "0"
    return "(" + (" AND " if isinstance(expr, ScopeAnd) else " OR ").join(parts) + ")"


def geo_sql(query: GeoQuery, params: Params) -> tuple[list[str], list[str]]:
    """The R*Tree pre-filter (when the relation allows one) and the exact predicate."""
    attr = params.bind(query.geoproperty)
    parts: list[str] = []
    box = geo.prefilter_bbox(query)
    if box is not None:
        min_lon, min_lat, max_lon, max_lat = (params.bind(float(c)) for c in box)
        parts.append(
            "e.rid IN (SELECT g.rid FROM geo_rtree AS r JOIN geo_index AS g ON g.gid = r.gid"
            f" WHERE r.min_lon <= {max_lon} AND r.max_lon >= {min_lon}"
            f" AND r.min_lat <= {max_lat} AND r.max_lat >= {min_lat} AND g.attr = {attr})"
        )
    exact = (
        f"EXISTS (SELECT 1 FROM json_each(e.doc, {params.bind(attr_path(query.geoproperty))})"
        " AS i WHERE json_extract(i.value, '$.type') = 'GeoProperty'"
        f" AND cf_geo(:{GEO_TOKEN}, json_extract(i.value, '$.value')))"
    )
    return parts, [exact]


def _checked_regex(pattern: str) -> str:
    try:
        compiled(pattern)
    except re.error as err:
        raise BadRequestData(f"invalid regular expression {pattern!r}: {err}") from err
    return pattern


def _json(value: object) -> str:
    return orjson.dumps(value).decode()
