"""Readers of single Subscription members for the tables of `parse.py`.

A reader takes the JSON value, its JSON path (for error details) and the request
`Input`, and returns the stored value or raises `BadRequestData` naming the path.
Endpoint members live in `endpoint.py`.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeGuard

from cityfabric.ngsild.entity import check_datetime, check_entity_id, check_name, is_uri
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geojson import describe
from cityfabric.ngsild.regex import compile_regex
from cityfabric.notify.model import (
    TRIGGERS,
    EntitySelector,
    Expand,
    GeoFilter,
    QFilter,
    ScopeFilter,
    Terms,
    Trigger,
    geo_query,
    instant,
    q_tree,
    scope_tree,
    type_tree,
    utc_text,
)

MAX_TEXT: Final = 4096  # subscriptionName, description, q, scopeQ
MAX_ID_PATTERN: Final = 256

# clause 4.15: a tag, "*", or a list with quality values
_LANG_ITEM = re.compile(
    r"^(\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)(;q=(0(\.\d{1,3})?|1(\.0{1,3})?))?$"
)
_SELECTOR_MEMBERS: Final = ("id", "idPattern", "type")
_GEO_MEMBERS: Final = ("geometry", "coordinates", "georel", "geoproperty")


class Names(Protocol):
    """The @context of a request (`ngsild.context.ActiveContext` fits)."""

    @property
    def source(self) -> object: ...

    def expand(self, term: str) -> str: ...


@dataclass(frozen=True)
class Input:
    """What readers need besides the value: the request's @context and the time."""

    names: Names
    now: str


Reader = Callable[[Any, str, Input], Any]  # (value, JSON path, input) -> stored value


# --- shared checks -------------------------------------------------------------------


def json_object(value: object, where: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else BadRequestData naming `where`."""
    if not isinstance(value, dict):
        raise BadRequestData(f"{where} must be a JSON object, got {describe(value)}")
    return value


def unknown_member(where: str, key: str, known: Collection[str]) -> BadRequestData:
    """The error for an unknown member `key` at `where`, with a close match as a hint."""
    hint = difflib.get_close_matches(key, list(known), n=1)
    return BadRequestData(
        f"unknown member {where!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + f"; expected one of {', '.join(sorted(known))}"
    )


def _only(obj: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in obj:
        if key not in known:
            raise unknown_member(f"{where}.{key}", key, known)


def _array(value: object, where: str, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{where} must be a non-empty array of {what}, got {describe(value)}")
    return value


def _expression(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise BadRequestData(
            f"{where} must be a non-empty string of at most {MAX_TEXT} characters, "
            f"got {describe(value)}"
        )
    return value


def _recorder(names: Names) -> tuple[Expand, Callable[[], Terms]]:
    """An expand function that records the names it expands, and the record as `Terms`."""
    seen: dict[str, str] = {}

    def expand(term: str) -> str:
        iri = seen[term] = names.expand(term)
        return iri

    return expand, lambda: tuple(sorted(seen.items()))


# --- scalars -------------------------------------------------------------------------


def text(value: object, where: str, inp: Input) -> str:
    """subscriptionName, description: any string up to MAX_TEXT characters."""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise BadRequestData(
            f"{where} must be a string of at most {MAX_TEXT} characters, got {describe(value)}"
        )
    return value


def boolean(value: object, where: str, inp: Input) -> bool:
    """true or false (no "true" strings, no numbers)."""
    if not isinstance(value, bool):
        raise BadRequestData(f"{where} must be true or false, got {describe(value)}")
    return value


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: object, where: str, *, zero_ok: bool) -> float:
    if _is_number(value) and (value > 0 or (zero_ok and value == 0)):
        return value
    bound = "at least 0" if zero_ok else "greater than 0"
    raise BadRequestData(f"{where} must be a number {bound}, got {describe(value)}")


def positive(value: object, where: str, inp: Input) -> float:
    """A finite number greater than 0 (timeInterval, timeout, cooldown)."""
    return _number(value, where, zero_ok=False)


def non_negative(value: object, where: str, inp: Input) -> float:
    """A finite number of at least 0 (throttling)."""
    return _number(value, where, zero_ok=True)


def choice(options: tuple[str, ...]) -> Reader:
    """A reader that accepts one of `options`."""

    def read(value: object, where: str, inp: Input) -> str:
        if isinstance(value, str) and value in options:
            return value
        raise BadRequestData(f"{where} must be one of {', '.join(options)}, got {describe(value)}")

    return read


def lang(value: object, where: str, inp: Input) -> str:
    """A language filter (clause 4.15), kept as written."""
    if isinstance(value, str) and all(_LANG_ITEM.match(p.strip()) for p in value.split(",")):
        return value
    raise BadRequestData(
        f"{where} must be a language tag such as 'en', a list such as 'fr,en;q=0.8' "
        f"or '*', got {describe(value)}"
    )


def expires_at(value: object, where: str, inp: Input) -> str:
    """A future date-time, normalised to UTC with milliseconds."""
    written = check_datetime(value, where=where)
    if instant(written) <= instant(inp.now):
        raise BadRequestData(f"{where} {written} is not in the future")
    return utc_text(instant(written))


# --- lists ---------------------------------------------------------------------------


def attribute_names(value: object, where: str, inp: Input) -> tuple[str, ...]:
    """Attribute names, expanded, duplicates dropped."""
    out: list[str] = []
    for i, name in enumerate(_array(value, where, "attribute names")):
        if not isinstance(name, str):
            raise BadRequestData(f"{where}[{i}] must be an attribute name, got {describe(name)}")
        iri = inp.names.expand(check_name(name, where=f"{where}[{i}]"))
        if iri not in out:
            out.append(iri)
    return tuple(out)


def triggers(value: object, where: str, inp: Input) -> tuple[Trigger, ...]:
    """notificationTrigger values, duplicates dropped."""
    out: list[Trigger] = []
    for i, item in enumerate(_array(value, where, "notification triggers")):
        trigger = next((t for t in TRIGGERS if t == item), None)
        if trigger is None:
            raise BadRequestData(
                f"{where}[{i}] must be one of {', '.join(TRIGGERS)}, got {describe(item)}"
            )
        if trigger not in out:
            out.append(trigger)
    return tuple(out)


def dataset_ids(value: object, where: str, inp: Input) -> tuple[str, ...]:
    """One datasetId or a list: URIs or "@none" (the default instance)."""
    out: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if not (item == "@none" or (isinstance(item, str) and is_uri(item))):
            raise BadRequestData(
                f"{where} must be a URI, '@none' or a non-empty array of them, got {describe(item)}"
            )
        if item not in out:
            out.append(item)
    if not out:
        raise BadRequestData(f"{where} must not be an empty array")
    return tuple(out)


# --- entity selectors and queries ----------------------------------------------------


def entities(value: object, where: str, inp: Input) -> tuple[EntitySelector, ...]:
    """The entity selectors (clause 5.2.33): a type expression, optional id, idPattern."""
    items = _array(value, where, "entity selectors")
    return tuple(_selector(item, f"{where}[{i}]", inp) for i, item in enumerate(items))


def _selector(item: object, where: str, inp: Input) -> EntitySelector:
    obj = json_object(item, where)
    _only(obj, _SELECTOR_MEMBERS, where)
    if "type" not in obj:
        raise BadRequestData(
            f"{where} needs a type: an entity type or a type expression such as 'Building,Tower'"
        )
    written = _expression(obj["type"], f"{where}.type")
    expand, terms = _recorder(inp.names)
    try:
        types = type_tree(written, expand)
    except BadRequestData as err:
        raise BadRequestData(f"{where}.type: {err.detail.removeprefix('type: ')}") from err
    entity_id = check_entity_id(obj["id"], where=f"{where}.id") if "id" in obj else None
    pattern = _id_pattern(obj["idPattern"], f"{where}.idPattern") if "idPattern" in obj else None
    return EntitySelector(written, types, terms(), entity_id, pattern)


def _id_pattern(value: object, where: str) -> str:
    pattern = _expression(value, where)
    if len(pattern) > MAX_ID_PATTERN:
        raise BadRequestData(f"{where} is longer than {MAX_ID_PATTERN} characters")
    try:
        compile_regex(pattern)
    except (re.error, RecursionError, OverflowError) as err:
        raise BadRequestData(f"{where} is not a valid regular expression: {err}") from None
    return pattern


def q_filter(value: object, where: str, inp: Input) -> QFilter:
    """A q expression (clause 4.9), names expanded and recorded."""
    written = _expression(value, where)
    expand, terms = _recorder(inp.names)
    return QFilter(written, q_tree(written, expand), terms())


def scope_filter(value: object, where: str, inp: Input) -> ScopeFilter:
    """A scopeQ expression (clause 4.19)."""
    written = _expression(value, where)
    return ScopeFilter(written, scope_tree(written))


def geo_filter(value: object, where: str, inp: Input) -> GeoFilter:
    """A geoQ object (clause 5.2.13): geometry, coordinates, georel, optional geoproperty."""
    obj = json_object(value, where)
    _only(obj, _GEO_MEMBERS, where)
    name = obj.get("geoproperty")
    if isinstance(name, str):
        check_name(name, where=f"{where}.geoproperty")
    try:
        query = geo_query(obj, inp.names.expand)
    except BadRequestData as err:
        raise BadRequestData(f"{where}: {err.detail}") from err
    return GeoFilter(copy.deepcopy(obj), query)  # owns its data: the body may change later
