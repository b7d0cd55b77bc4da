"""Compile a q expression (GS CIM 009 clause 4.9) to a PostgreSQL condition on `e.doc`.

The JSONB twin of `store/sqlite/qsql.py`, with the same semantics: a term matches
when ANY instance of the attribute (any datasetId) matches; for each instance `i`
the compared value node is chosen by the instance's kind (`model.VALUE_MEMBER`) or
is a metadata member, and `cf_values` (see `schema.py`) yields its candidate values
`v`. Strings compare byte-wise (COLLATE "C", as SQLite does). Regular expressions
are PostgreSQL's (POSIX ARE with Perl-style escapes), checked by Python first. All
user text is bound as named parameters; the SQL text is built from constants only.
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
from cityfabric.ngsild.regex import compile_regex
from cityfabric.store.filters import normalize_instant


class Params:
    """Named SQL parameters collected while compiling."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.regexes: list[str] = []

    def bind_regex(self, pattern: object) -> str:
        """Bind a regular expression Python accepts; kept in `regexes` for `valid_for_pg`."""
        checked = checked_regex(pattern)
        self.regexes.append(checked)
        return self.bind(checked, "text")

    def bind(self, value: object, cast: str = "") -> str:
        """Bind a value and return its placeholder (`%(pN)s`, with an optional cast)."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s" + (f"::{cast}" if cast else "")


def checked_names(*keys: str) -> list[str]:
    """Names used in a query; '"' is refused as by the SQLite engine (same errors)."""
    for key in keys:
        if '"' in key:
            raise BadRequestData(f"a name used in a query cannot contain '\"': {key!r}")
    return list(keys)


def instances(attr: str, params: Params) -> str:
    """The attribute's instance list in `e.doc` (NULL when absent)."""
    return f"(e.doc -> 'attrs' -> {params.bind(checked_names(attr)[0])})"


_KIND_CASES = " ".join(
    f"WHEN '{kind}' THEN '{member}'" for kind, member in VALUE_MEMBER.items() if member != "value"
)
SQL_OPS = {"==": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
TEXT = "(v #>> '{}')"


@dataclass(frozen=True)
class Target:
    """Where a path's values are, relative to one attribute instance `i`."""

    instances: str  # SQL expression: the attribute's instance array
    inst: str  # SQL expression: the (sub-)instance JSONB
    node: str  # SQL expression: the value node inside `inst`
    lang: str  # SQL condition: every languageMap value is a candidate

    def each_instance(self) -> str:
        """The FROM item iterating the attribute's instances as `i`."""
        return f"jsonb_array_elements({self.instances}) AS i"

    def each_value(self) -> str:
        """The FROM item iterating the candidate values of instance `i` as `v`."""
        return f"cf_values({self.node}, {self.lang}) AS v"


def target(path: AttrPath, params: Params) -> Target:
    """Resolve an attribute path to the SQL pieces that reach its values."""
    sub, meta = path.sub, None
    if sub and sub[-1] in METADATA:
        sub, meta = sub[:-1], sub[-1]
    inst = f"(i #> {params.bind(checked_names(*sub), 'text[]')})" if sub else "i"
    members = checked_names(*path.members)
    lang = "false"
    if meta is not None:
        node = f"({inst} #> {params.bind([meta, *members], 'text[]')})"
    else:
        kind_member = f"(CASE {inst} ->> 'type' {_KIND_CASES} ELSE 'value' END)"
        node = f"({inst} -> {kind_member} #> {params.bind(members, 'text[]')})"
        if not path.members:
            lang = f"({inst} ->> 'type' = 'LanguageProperty')"
    return Target(instances(path.attr, params), inst, node, lang)


def literal_condition(lit: Literal, op: str, params: Params) -> str:
    """Condition on the candidate value `v` for `v op lit` with op in ==, >, >=, <, <=."""
    sql_op = SQL_OPS[op]
    if isinstance(lit, bool):
        if op != "==":
            return "false"
        return f"v = '{'true' if lit else 'false'}'::jsonb"
    if isinstance(lit, int | float):
        cast = "numeric" if isinstance(lit, int) else "float8"
        return (
            f"(CASE WHEN jsonb_typeof(v) = 'number'"
            f" THEN v::numeric::{cast} {sql_op} {params.bind(lit, cast)} END)"
        )
    if isinstance(lit, DateTimeLit):
        instant = normalize_instant(lit.text, lit.kind)
        if instant is None:
            raise BadRequestData(f"not a valid ISO 8601 {lit.kind}: {lit.text!r}")
        kind = params.bind(lit.kind, "text")
        return (
            f"(CASE WHEN jsonb_typeof(v) = 'string' THEN cf_ts({TEXT}, {kind})"
            f' COLLATE "C" {sql_op} {params.bind(instant, "text")} END)'
        )
    text = lit.text if isinstance(lit, UriLit) else lit
    return (
        f"(CASE WHEN jsonb_typeof(v) = 'string'"
        f' THEN {TEXT} COLLATE "C" {sql_op} {params.bind(text, "text")} END)'
    )


def value_condition(op: str, value: Literal | Range | ValueList, params: Params) -> str:
    """Condition on `v` for a positive operator (==, >, >=, <, <=) and any value form."""
    if isinstance(value, Range):
        low = literal_condition(value.low, ">=", params)
        high = literal_condition(value.high, "<=", params)
        return f"({low} AND {high})"
    if isinstance(value, ValueList):
        items = [literal_condition(item, op, params) for item in value.items]
        return "(" + (" OR ".join(items) or "false") + ")"
    return literal_condition(value, op, params)


def checked_regex(pattern: object) -> str:
    """A pattern Python accepts (PostgreSQL may still refuse it: see the store)."""
    if not isinstance(pattern, str):
        raise BadRequestData("the ~= and !~= operators need a regular expression string")
    try:
        compile_regex(pattern)
    except re.error as err:
        raise BadRequestData(f"invalid regular expression {pattern!r}: {err}") from err
    return pattern


def regex_condition(pattern: object, params: Params) -> str:
    """Condition on `v`: a string value the regular expression matches."""
    regex = params.bind_regex(pattern)
    return f"(CASE WHEN jsonb_typeof(v) = 'string' THEN {TEXT} ~ {regex} END)"


def comparison_sql(term: Comparison, params: Params) -> str:
    """SQL for one comparison term (with a fast path for plain scalar Properties)."""
    general = _general_comparison_sql(term, params)
    fast = _scalar_condition(term, params)
    if fast is None:
        return general
    return f"(CASE WHEN {fast[0]} THEN {fast[1]} ELSE {general} END)"


def _scalar_condition(term: Comparison, params: Params) -> tuple[str, str] | None:
    """(when, then) for the common case: one instance whose value is a JSON scalar.

    Such an instance is a Property (every other kind keeps its value elsewhere or as an
    object), so its only candidate value is that scalar: comparing it directly gives the
    general answer without expanding the instances and `cf_values` (as `qsql.py` does
    on SQLite). `->` never raises on a missing key or a non-array, it gives NULL.
    """
    lit, path = term.value, term.path
    if term.op not in SQL_OPS or path.sub or path.members:
        return None
    if isinstance(lit, bool) or not isinstance(lit, str | int | float):
        return None
    found = instances(path.attr, params)
    value = f"({found} -> 0 -> 'value')"
    when = f"{found} -> 1 IS NULL AND jsonb_typeof({value}) IN ('string', 'number', 'boolean')"
    op = SQL_OPS[term.op]
    # CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and casting a
    # JSON string to numeric raises
    if isinstance(lit, str):
        compare = f"({value} #>> '{{}}') COLLATE \"C\" {op} {params.bind(lit, 'text')}"
        return when, f"(CASE WHEN jsonb_typeof({value}) = 'string' THEN {compare} ELSE false END)"
    cast = "numeric" if isinstance(lit, int) else "float8"
    compare = f"{value}::numeric::{cast} {op} {params.bind(lit, cast)}"
    return when, f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN {compare} ELSE false END)"


def _general_comparison_sql(term: Comparison, params: Params) -> str:
    where = target(term.path, params)
    if term.op in ("~=", "!~="):
        cond = regex_condition(term.value, params)
    else:
        cond = value_condition("==" if term.op == "!=" else term.op, term.value, params)
    if term.op not in ("!=", "!~="):
        return f"EXISTS (SELECT 1 FROM {where.each_instance()}, {where.each_value()} WHERE {cond})"
    values = f"SELECT 1 FROM {where.each_value()}"
    present = (
        f"EXISTS ({values} WHERE jsonb_typeof(v) = 'string')"
        if term.op == "!~="
        else f"{where.node} IS NOT NULL"
    )
    return (
        f"EXISTS (SELECT 1 FROM {where.each_instance()} WHERE {present}"
        f" AND NOT EXISTS ({values} WHERE {cond}))"
    )


def exists_sql(term: Exists, params: Params) -> str:
    """SQL for a bare attribute path: the attribute (and its sub path) exists."""
    if not term.path.sub and not term.path.members:
        return f"((e.doc -> 'attrs') ? {params.bind(checked_names(term.path.attr)[0], 'text')})"
    where = target(term.path, params)
    return f"EXISTS (SELECT 1 FROM {where.each_instance()} WHERE {where.node} IS NOT NULL)"


def q_sql(expr: QExpr, params: Params) -> str:
    """Compile a q expression tree to one SQL condition."""
    if isinstance(expr, Comparison):
        return comparison_sql(expr, params)
    if isinstance(expr, Exists):
        return exists_sql(expr, params)
    joiner = " AND " if isinstance(expr, And) else " OR "
    parts = [q_sql(term, params) for term in expr.terms]
    if not parts:
        return "true" if isinstance(expr, And) else "false"
    return "(" + joiner.join(parts) + ")"
