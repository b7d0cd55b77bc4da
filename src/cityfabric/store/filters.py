"""Entity filtering and indexing helpers the same on every engine.

The type and geo rows derived from a doc (`types_of`, `geo_rows`), type
expressions evaluated in Python (`type_names`, `type_matches`), the regular
expression of a scopeQ pattern (`scope_regex`) and ISO 8601 instants as
sortable text (`normalize_instant`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from cityfabric.ngsild import geo
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.query import TypeAnd, TypeExpr, TypeName

# the exact geo test of a query, on a GeoJSON geometry
GeoPredicate = Callable[[dict[str, Any]], bool]
GeoRow = tuple[str, tuple[float, float, float, float]]  # attribute IRI, bbox


def types_of(doc: EntityDoc | None) -> tuple[str, ...]:
    """The type IRIs of a doc (a list or one string)."""
    if doc is None:
        return ()
    types = doc.get("type", ())
    return (types,) if isinstance(types, str) else tuple(t for t in types if isinstance(t, str))


def geo_rows(doc: EntityDoc) -> list[GeoRow]:
    """The bbox of every GeoProperty instance of every attribute."""
    rows: list[GeoRow] = []
    for attr, instances in (doc.get("attrs") or {}).items():
        for inst in instances if isinstance(instances, list) else [instances]:
            if isinstance(inst, dict) and inst.get("type") == "GeoProperty":
                value = inst.get("value")
                if isinstance(value, dict):
                    rows.append((attr, geo.bbox(value)))
    return rows


def type_names(expr: TypeExpr) -> set[str]:
    if isinstance(expr, TypeName):
        return {expr.name}
    return set().union(*(type_names(t) for t in expr.terms))


def type_matches(expr: TypeExpr, types: set[str]) -> bool:
    if isinstance(expr, TypeName):
        return expr.name in types
    test = all if isinstance(expr, TypeAnd) else any
    return test(type_matches(t, types) for t in expr.terms)


def scope_regex(pattern: str) -> str | None:
    """The regular expression of a scope pattern; None when it has no wildcard."""
    segments = pattern.strip().removeprefix("/").split("/")
    if "#" not in segments and "+" not in segments:
        return None
    if "#" in segments[:-1]:
        raise BadRequestData(f"'#' may only end a scope pattern: {pattern!r}")
    regex = "^"
    for segment in segments:
        if segment == "#":
            regex += "(?:/.*)?"
        elif segment == "+":
            regex += "/[^/]+"
        else:
            regex += "/" + re.escape(segment)
    return regex + "$"


def normalize_instant(text: str, kind: str) -> str | None:
    """An ISO 8601 date, time or dateTime as sortable UTC text; None when unparsable."""
    try:
        if kind == "time":
            parsed_time = time.fromisoformat(text.replace("Z", "+00:00"))
            moment = datetime.combine(date(2000, 1, 1), parsed_time)
            return _utc(moment).strftime("%H:%M:%S.%f")
        return _utc(datetime.fromisoformat(text)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        return None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
