"""Compile a q expression (GS CIM 009 clause 4.9) to an SQL condition on `e.doc`.

A term matches when ANY instance of the attribute (any datasetId) matches.
For each instance `i` the compared value node is chosen by the instance's
kind (`model.VALUE_MEMBER`), or is a metadata member; `json_each` over that
node yields the candidate values `v`: the node itself when it is a scalar,
its elements when it is an array, the `@value` of a typed literal
(`{"@type": "DateTime", "@value": ...}`) and every value of a languageMap.
All user text is bound as named parameters; the SQL text is built from
constants only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.model import METADATA, VALUE_MEMBER
from cityfabric.ngsild.query import (
    And,
    AttrPath,
    Comparison,
    DateTimeLit,
    Exists,
    Literal,
    QExpr,
    Range,
    UriLit,
    ValueList,
)
from cityfabric.store.filters import normalize_instant
from cityfabric.store.sqlite.funcs import compiled


class Params:
    """Named SQL parameters collected while compiling."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def bind(self, value: object) -> str:
        """Bind a value and return its placeholder (`:pN`)."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return ":" + name


def key_path(*keys: str) -> str:
    """A JSON path of quoted object keys (`$."k1"."k2"`), safe for IRIs with `.#/:`."""
    for key in keys:
        if '"' in key:
            raise BadRequestData(f"a name used in a query cannot contain '\"': {key!r}")
    return "$" + "".join(f'."{key}"' for key in keys)


def attr_path(iri: str) -> str:
    """The JSON path of an attribute's instance list inside a doc."""
    return key_path("attrs", iri)


_KIND_CASES = " ".join(
    f"WHEN '{kind}' THEN '{member}'" for kind, member in VALUE_MEMBER.items() if member != "value"
)
# the candidate value and its JSON type; a typed literal object compares as its @value
CV = "(CASE WHEN v.type = 'object' THEN json_extract(v.value, '$.\"@value\"') ELSE v.atom END)"
CT = "(CASE WHEN v.type = 'object' THEN json_type(v.value, '$.\"@value\"') ELSE v.type END)"
SQL_OPS = {"==": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


@dataclass(frozen=True)
class Target:
    """Where a path's values are, relative to one attribute instance `i`."""

    attr: str  # placeholder of the attribute's JSON path in the doc
    inst: str  # SQL expression: the (sub-)instance JSON
    node: str  # SQL expression: the JSON path of the value node inside `inst`
    rows: str  # SQL condition on `v`: which json_each rows are candidate values

    def each_instance(self) -> str:
        """The FROM item iterating the attribute's instances as `i`."""
        return f"json_each(e.doc, {self.attr}) AS i"

    def each_value(self) -> str:
        """The FROM item iterating the candidate values of instance `i` as `v`."""
        return f"json_each({self.inst}, {self.node}) AS v"


def target(path: AttrPath, params: Params) -> Target:
    """Resolve an attribute path to the SQL pieces that reach its values."""
    sub, meta = path.sub, None
    if sub and sub[-1] in METADATA:
        sub, meta = sub[:-1], sub[-1]
    inst = f"json_extract(i.value, {params.bind(key_path(*sub))})" if sub else "i.value"
    members = key_path(*path.members)[1:]
    lang = "0"
    if meta is not None:
        node = params.bind(key_path(meta) + members)
    else:
        kind_member = f"(CASE json_extract({inst}, '$.type') {_KIND_CASES} ELSE 'value' END)"
        node = f"'$.' || {kind_member} || {params.bind(members)}"
        if not path.members:
            lang = f"json_extract({inst}, '$.type') = 'LanguageProperty'"
    rows = f"(v.key IS NULL OR typeof(v.key) = 'integer' OR v.key = '@value' OR {lang})"
    return Target(params.bind(attr_path(path.attr)), inst, node, rows)


def literal_condition(lit: Literal, op: str, params: Params) -> str:
    """Condition on the candidate value `v` for `v op lit` with op in ==, >, >=, <, <=."""
    sql_op = SQL_OPS[op]
    if isinstance(lit, bool):
        if op != "==":
            return "0"
        return f"{CT} = '{'true' if lit else 'false'}'"
    if isinstance(lit, int | float):
        return f"({CT} IN ('integer', 'real') AND {CV} {sql_op} {params.bind(lit)})"
    if isinstance(lit, DateTimeLit):
        instant = normalize_instant(lit.text, lit.kind)
        if instant is None:
            raise BadRequestData(f"not a valid ISO 8601 {lit.kind}: {lit.text!r}")
        kind = params.bind(lit.kind)
        return f"({CT} = 'text' AND cf_ts({CV}, {kind}) {sql_op} {params.bind(instant)})"
    text = lit.text if isinstance(lit, UriLit) else lit
    return f"({CT} = 'text' AND {CV} {sql_op} {params.bind(text)})"


def value_condition(op: str, value: Literal | Range | ValueList, params: Params) -> str:
    """Condition on `v` for a positive operator (==, >, >=, <, <=) and any value form."""
    if isinstance(value, Range):
        low = literal_condition(value.low, ">=", params)
        high = literal_condition(value.high, "<=", params)
        return f"({low} AND {high})"
    if isinstance(value, ValueList):
        items = [literal_condition(item, op, params) for item in value.items]
        return "(" + (" OR ".join(items) or "0") + ")"
    return literal_condition(value, op, params)


def regex_condition(pattern: object, params: Params) -> str:
    """Condition on `v`: a string value that `re.search` matches."""
    if not isinstance(pattern, str):
        raise BadRequestData("the ~= and !~= operators need a regular expression string")
    try:
        compiled(pattern)
    except re.error as err:
        raise BadRequestData(f"invalid regular expression {pattern!r}: {err}") from err
    return f"({CT} = 'text' AND {CV} REGEXP {params.bind(pattern)})"


def comparison_sql(term: Comparison, params: Params) -> str:
    """SQL for one comparison term (with a fast path for plain scalar Properties)."""
    general = _general_comparison_sql(term, params)
    fast = _scalar_condition(term, params)
    if fast is None:
        return general
    return f"(CASE WHEN {fast[0]} THEN {fast[1]} ELSE {general} END)"


def _scalar_condition(term: Comparison, params: Params) -> tuple[str, str] | None:
    """(when, then) for the common case: one instance whose value is a JSON scalar.

    Such an instance is a Property (every other kind keeps its value elsewhere or
    as an object), so its only candidate value is that scalar and reading it with
    json_extract, which reuses the doc's parse, gives the general answer.
    """
    lit, path = term.value, term.path
    if term.op not in SQL_OPS or path.sub or path.members:
        return None
    if isinstance(lit, bool) or not isinstance(lit, str | int | float):
        return None
    instances = params.bind(attr_path(path.attr))
    value = params.bind(attr_path(path.attr) + '[0]."value"')
    when = (
        f"json_array_length(e.doc, {instances}) = 1 AND json_type(e.doc, {value})"
        " IN ('text', 'integer', 'real', 'true', 'false')"
    )
    types = "('text')" if isinstance(lit, str) else "('integer', 'real')"
    then = (
        f"(json_type(e.doc, {value}) IN {types}"
        f" AND json_extract(e.doc, {value}) {SQL_OPS[term.op]} {params.bind(lit)})"
    )
    return when, then


def _general_comparison_sql(term: Comparison, params: Params) -> str:
    where = target(term.path, params)
    if term.op in ("~=", "!~="):
        cond = regex_condition(term.value, params)
    else:
        cond = value_condition("==" if term.op == "!=" else term.op, term.value, params)
    values = f"SELECT 1 FROM {where.each_value()} WHERE {where.rows}"
    if term.op not in ("!=", "!~="):
        return (
            f"EXISTS (SELECT 1 FROM {where.each_instance()}, {where.each_value()}"
            f" WHERE {where.rows} AND {cond})"
        )
    present = (
        f"EXISTS ({values} AND {CT} = 'text')"
        if term.op == "!~="
        else f"json_type({where.inst}, {where.node}) IS NOT NULL"
    )
    return (
        f"EXISTS (SELECT 1 FROM {where.each_instance()} WHERE {present}"
        f" AND NOT EXISTS ({values} AND {cond}))"
    )


def exists_sql(term: Exists, params: Params) -> str:
    """SQL for a bare attribute path: the attribute (and its sub path) exists."""
    if not term.path.sub and not term.path.members:
        return f"json_type(e.doc, {params.bind(attr_path(term.path.attr))}) IS NOT NULL"
    where = target(term.path, params)
    return (
        f"EXISTS (SELECT 1 FROM {where.each_instance()}"
        f" WHERE json_type({where.inst}, {where.node}) IS NOT NULL)"
    )


def q_sql(expr: QExpr, params: Params) -> str:
    """Compile a q expression tree to one SQL condition."""
    if isinstance(expr, Comparison):
        return comparison_sql(expr, params)
    if isinstance(expr, Exists):
        return exists_sql(expr, params)
    joiner = " AND " if isinstance(expr, And) else " OR "
    parts = [q_sql(term, params) for term in expr.terms]
    if not parts:
        return "1" if isinstance(expr, And) else "0"
    return "(" + joiner.join(parts) + ")"
