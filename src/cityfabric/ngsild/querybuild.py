"""Build an `EntityQuery` from the query parameters of clause 6.4.3.2 (or a Query body).

Parsing is cached per expression text and @context, so a repeated query costs
a dict lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from cityfabric.ngsild.entity import check_entity_id, check_name
from cityfabric.ngsild.errors import BadRequestData, TooManyResults
from cityfabric.ngsild.geo import GeoQuery, parse_geo_query
from cityfabric.ngsild.query import (
    QExpr,
    ScopeExpr,
    TypeExpr,
    expand_q,
    expand_types,
    parse_q,
    parse_scope_q,
    parse_types,
)
from cityfabric.ngsild.regex import compile_regex
from cityfabric.store.base import EntityQuery

MAX_LIMIT = 1000  # largest page a query may ask for
DEFAULT_LIMIT = 20
MAX_ID_PATTERN = 256
MAX_INTEGER = 2**63 - 1  # the largest integer both engines' SQL integers hold


class Names(Protocol):
    """A hashable @context (cached parses are keyed by it) that expands terms."""

    def expand(self, term: str) -> str: ...

    def __hash__(self) -> int: ...


@dataclass(frozen=True)
class QueryParams:
    """The raw filter parameters, as strings (or JSON for a Query body's geoQ)."""

    type: str | None = None
    id: str | None = None
    id_pattern: str | None = None
    attrs: str | None = None
    q: str | None = None
    scope_q: str | None = None
    georel: str | None = None
    geometry: str | None = None
    coordinates: Any = None
    geoproperty: str | None = None
    limit: str | None = None
    offset: str | None = None
    count: bool = False


def split_list(text: str | None, what: str) -> tuple[str, ...]:
    """A comma-separated parameter value; empty items are an error."""
    if text is None:
        return ()
    items = tuple(t.strip() for t in text.split(","))
    if not all(items):
        raise BadRequestData(f"{what} has an empty item: {text!r}")
    return items


def parse_int(text: str | None, name: str, default: int, low: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequestData(f"{name} must be an integer, got {text!r}") from None
    if value < low:
        raise BadRequestData(f"{name} must be at least {low}, got {value}")
    if value > MAX_INTEGER:
        raise BadRequestData(f"{name} must be at most {MAX_INTEGER}, got {value}")
    return value


@lru_cache(maxsize=2048)
def _q(text: str, ctx: Names) -> QExpr:
    return expand_q(parse_q(text), ctx.expand)


@lru_cache(maxsize=1024)
def _types(text: str, ctx: Names) -> TypeExpr:
    return expand_types(parse_types(text), ctx.expand)


@lru_cache(maxsize=256)
def _scope(text: str) -> ScopeExpr:
    return parse_scope_q(text)


def _id_pattern(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > MAX_ID_PATTERN:
        raise BadRequestData(f"idPattern is longer than {MAX_ID_PATTERN} characters")
    try:
        compile_regex(text)
    except re.error as err:
        raise BadRequestData(f"idPattern is not a valid regular expression: {err}") from None
    return text


def _geo(p: QueryParams, ctx: Names) -> GeoQuery | None:
    geo = parse_geo_query(p.georel, p.geometry, p.coordinates, p.geoproperty)
    if geo is None:
        return None
    return GeoQuery(
        georel=geo.georel,
        geometry=geo.geometry,
        geoproperty=ctx.expand(check_name(geo.geoproperty, where="geoproperty"))
        if p.geoproperty
        else geo.geoproperty,
        max_distance=geo.max_distance,
        min_distance=geo.min_distance,
    )


def parse_page(limit: str | None, offset: str | None, count: bool) -> tuple[int, int]:
    """limit and offset of a page: limit at most MAX_LIMIT, 0 only with count."""
    page_size = parse_int(limit, "limit", DEFAULT_LIMIT, 0)
    if page_size > MAX_LIMIT:
        raise TooManyResults(f"limit may be at most {MAX_LIMIT}; page with offset instead")
    if page_size == 0 and not count:
        raise BadRequestData("limit=0 is only allowed together with count=true")
    return page_size, parse_int(offset, "offset", 0, 0)


def build_query(p: QueryParams, ctx: Names, *, require_filter: bool = True) -> EntityQuery:
    """The store query for these parameters; BadRequestData names what is wrong."""
    ids = tuple(check_entity_id(i) for i in split_list(p.id, "id"))
    attrs = tuple(ctx.expand(check_name(a)) for a in split_list(p.attrs, "attrs"))
    limit, offset = parse_page(p.limit, p.offset, p.count)
    query = EntityQuery(
        ids=ids,
        id_pattern=_id_pattern(p.id_pattern),
        types=_types(p.type, ctx) if p.type else None,
        attrs=attrs,
        q=_q(p.q, ctx) if p.q else None,
        scope_q=_scope(p.scope_q) if p.scope_q else None,
        geo=_geo(p, ctx),
        limit=limit,
        offset=offset,
        count=p.count,
    )
    filters = (
        query.ids,
        query.id_pattern,
        query.types,
        query.attrs,
        query.q,
        query.scope_q,
        query.geo,
    )
    if require_filter and not any(f for f in filters):
        raise BadRequestData(
            "a query needs at least one of type, id, idPattern, attrs, q, scopeQ or geoQ"
        )
    return query
