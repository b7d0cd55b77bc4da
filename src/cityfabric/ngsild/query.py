"""The NGSI-LD query languages (GS CIM 009 clause 4.9 q, 4.17 type expressions, 4.19 scopeQ).

This module holds the syntax trees that the parsers produce and the store
compiles to SQL. Parsers yield raw (compacted) names; `expand_*` functions map
attribute and type names to IRIs with the request's @context before the tree
reaches the store. The parsers live in `qparse.py`; import them from here.

q syntax accepted by `parse_q` (input is the URL-decoded string, no spaces):

- terms: `path` (Exists) or `path op value`, op one of `== != > >= < <= ~= !~=`;
- `;` is AND, `|` is OR, AND binds tighter; parentheses nest (MAX_DEPTH);
- path: `attr`, `attr.sub.sub`, `attr.sub.observedAt` (a `model.METADATA`
  name may only end the path), then `[member]` brackets: `attr[a][b]` and
  `attr[a.b]` both mean members (a, b);
- names: terms (`temperature`), compact IRIs (`ngsi-ld:foo`, a prefix may
  hold `-`) and full IRIs (`https://ex.org/ns#x`); in a full IRI a `.` after
  its last `/` or `#` starts the sub-attribute path;
- values: `"strings"` (a backslash escapes `"` and itself; other backslashes stay),
  `true`/`false`, unquoted dateTime `2018-12-04T12:00:00Z`, date
  `2018-12-04`, time `12:00:00Z` (DateTimeLit), unquoted URIs `scheme:rest`
  (UriLit; they end at `; | ( ) ,` or whitespace);
- `==`/`!=` also take ranges `low..high` (numbers, strings, date/times) and
  lists `a,b,c`; `> >= < <=` take numbers, strings and date/times only;
- `~=`/`!~=` take a quoted regex, or a bare one that ends at `;` or at a `|`
  or `)` outside its own parentheses.

Limits (past them: `TooComplexQuery`, or `BadRequestData` for regexes):
MAX_Q_LENGTH characters per expression, MAX_DEPTH nested parentheses,
MAX_TERMS terms, MAX_REGEX_LENGTH characters per regex, which must compile
with Python `re`. Every syntax error is a `BadRequestData` whose detail names
the 0-based position and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias
from typing import Literal as Lit

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.model import METADATA

MAX_Q_LENGTH: Final = 4096
"""Longest q, type or scopeQ expression accepted, in characters."""
MAX_DEPTH: Final = 32
"""Deepest nesting of parentheses."""
MAX_TERMS: Final = 256
"""Most terms (comparisons, type names, scope paths) in one expression."""
MAX_REGEX_LENGTH: Final = 256
"""Longest regular expression after `~=` / `!~=`."""


@dataclass(frozen=True)
class DateTimeLit:
    """An unquoted date, time or dateTime literal (ISO 8601), kept as written."""

    text: str
    kind: Lit["dateTime", "date", "time"]


@dataclass(frozen=True)
class UriLit:
    """An unquoted URI, as used to compare Relationship objects."""

    text: str


Literal: TypeAlias = str | int | float | bool | DateTimeLit | UriLit


@dataclass(frozen=True)
class Range:
    low: Literal
    high: Literal


@dataclass(frozen=True)
class ValueList:
    items: tuple[Literal, ...]


@dataclass(frozen=True)
class AttrPath:
    """`attr.sub.sub[member][member]`.

    `attr`: the attribute name (an IRI after expansion). `sub`: the dotted path
    after it, sub-attribute names (IRIs after expansion) or one metadata name
    from `model.METADATA` (kept unexpanded). `members`: the compound-value path
    written in brackets; member names are never expanded.
    """

    attr: str
    sub: tuple[str, ...] = ()
    members: tuple[str, ...] = ()


Operator: TypeAlias = Lit["==", "!=", ">", ">=", "<", "<=", "~=", "!~="]


@dataclass(frozen=True)
class Comparison:
    """`path op value`. For `~=`/`!~=` the value is the regular expression (a str)."""

    path: AttrPath
    op: Operator
    value: Literal | Range | ValueList


@dataclass(frozen=True)
class Exists:
    """A bare attribute path: true when the entity has it."""

    path: AttrPath


@dataclass(frozen=True)
class And:
    terms: tuple[QExpr, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[QExpr, ...]


QExpr: TypeAlias = Comparison | Exists | And | Or


@dataclass(frozen=True)
class TypeName:
    name: str


@dataclass(frozen=True)
class TypeAnd:
    terms: tuple[TypeExpr, ...]


@dataclass(frozen=True)
class TypeOr:
    terms: tuple[TypeExpr, ...]


TypeExpr: TypeAlias = TypeName | TypeAnd | TypeOr


@dataclass(frozen=True)
class ScopeTerm:
    """One scope pattern: `/a/b` exactly, `/a/#` for a and all below it, `+` one level."""

    path: str


@dataclass(frozen=True)
class ScopeAnd:
    terms: tuple[ScopeExpr, ...]


@dataclass(frozen=True)
class ScopeOr:
    terms: tuple[ScopeExpr, ...]


ScopeExpr: TypeAlias = ScopeTerm | ScopeAnd | ScopeOr


# --- parsing (implemented in qparse, which imports the trees above) ---------


def parse_q(text: str) -> QExpr:
    """Parse an NGSI-LD q expression (clause 4.9) into a QExpr tree."""
    from cityfabric.ngsild import qparse  # deferred: qparse imports this module

    return qparse.parse_q(text)


def parse_types(text: str) -> TypeExpr:
    """Parse an entity type selection (clause 4.17): `A,B`, `A|B`, `A;B`, parentheses."""
    from cityfabric.ngsild import qparse

    return qparse.parse_types(text)


def parse_scope_q(text: str) -> ScopeExpr:
    """Parse a scopeQ (clause 4.19): `/a/b`, `/a/#`, `/#`, `+` levels, `,` `|` `;`."""
    from cityfabric.ngsild import qparse

    return qparse.parse_scope_q(text)


_SCOPE_PREFIX: Final = re.compile(r"(?:/\w+)*")


def validate_scope(s: str) -> str:
    """Return `s` if it is a scope value (`/a/b`: levels of letters, digits, `_`).

    Wildcards (`+`, `#`) belong to scopeQ only; anything else raises BadRequestData.
    """
    end = _SCOPE_PREFIX.match(s)
    valid = end.end() if end else 0
    if valid == len(s) and valid > 0:
        return s
    if valid == 0 and not s.startswith("/"):
        raise BadRequestData(f"scope: must start with '/' at position 0: '{s[:80]}'")
    at = valid + 1 if s.startswith("/", valid) else valid
    raise BadRequestData(
        f"scope: expected a level of letters, digits or '_' at position {at}: '{s[:80]}'"
    )


# --- printing ----------------------------------------------------------------


def print_q(expr: QExpr) -> str:
    """The canonical q text of `expr`; `parse_q(print_q(t)) == t`.

    Holds for trees the parser can produce: And/Or with at least two terms,
    names and values that fit the grammar in this module's docstring.
    """
    if isinstance(expr, Exists):
        return _print_path(expr.path)
    if isinstance(expr, Comparison):
        if expr.op in ("~=", "!~=") and isinstance(expr.value, str):
            return _print_path(expr.path) + expr.op + _quote(expr.value)
        return _print_path(expr.path) + expr.op + _print_operand(expr.value)
    if isinstance(expr, And):
        return ";".join(_paren_q(t, (And, Or)) for t in expr.terms)
    return "|".join(_paren_q(t, (Or,)) for t in expr.terms)


def _paren_q(expr: QExpr, wrap: tuple[type, ...]) -> str:
    text = print_q(expr)
    return f"({text})" if isinstance(expr, wrap) else text


def _print_path(path: AttrPath) -> str:
    dotted = ".".join((path.attr, *path.sub))
    return dotted + "".join(f"[{m}]" for m in path.members)


def _print_operand(value: Literal | Range | ValueList) -> str:
    if isinstance(value, Range):
        return _print_literal(value.low) + ".." + _print_literal(value.high)
    if isinstance(value, ValueList):
        return ",".join(_print_literal(v) for v in value.items)
    return _print_literal(value)


def _print_literal(value: Literal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    return value.text


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def print_types(expr: TypeExpr) -> str:
    """The canonical type selection text of `expr` (OR printed as `,`)."""
    if isinstance(expr, TypeName):
        return expr.name
    if isinstance(expr, TypeAnd):
        return ";".join(_paren_types(t, (TypeAnd, TypeOr)) for t in expr.terms)
    return ",".join(_paren_types(t, (TypeOr,)) for t in expr.terms)


def _paren_types(expr: TypeExpr, wrap: tuple[type, ...]) -> str:
    text = print_types(expr)
    return f"({text})" if isinstance(expr, wrap) else text


def print_scope_q(expr: ScopeExpr) -> str:
    """The canonical scopeQ text of `expr` (OR printed as `,`)."""
    if isinstance(expr, ScopeTerm):
        return expr.path
    if isinstance(expr, ScopeAnd):
        return ";".join(_paren_scope(t, (ScopeAnd, ScopeOr)) for t in expr.terms)
    return ",".join(_paren_scope(t, (ScopeOr,)) for t in expr.terms)


def _paren_scope(expr: ScopeExpr, wrap: tuple[type, ...]) -> str:
    text = print_scope_q(expr)
    return f"({text})" if isinstance(expr, wrap) else text


# --- expansion ---------------------------------------------------------------


def expand_q(expr: QExpr, expand: Callable[[str], str]) -> QExpr:
    """Map attribute and sub-attribute names (not metadata, not members) through `expand`."""
    if isinstance(expr, Exists):
        return Exists(_expand_path(expr.path, expand))
    if isinstance(expr, Comparison):
        return Comparison(_expand_path(expr.path, expand), expr.op, expr.value)
    terms = tuple(expand_q(t, expand) for t in expr.terms)
    return And(terms) if isinstance(expr, And) else Or(terms)


def _expand_path(path: AttrPath, expand: Callable[[str], str]) -> AttrPath:
    sub = tuple(s if s in METADATA else expand(s) for s in path.sub)
    return AttrPath(expand(path.attr), sub, path.members)


def expand_types(expr: TypeExpr, expand: Callable[[str], str]) -> TypeExpr:
    """Map every type name through `expand`."""
    if isinstance(expr, TypeName):
        return TypeName(expand(expr.name))
    terms = tuple(expand_types(t, expand) for t in expr.terms)
    return TypeAnd(terms) if isinstance(expr, TypeAnd) else TypeOr(terms)


def attribute_names(expr: QExpr) -> set[str]:
    """The top-level attribute names that `expr` uses."""
    if isinstance(expr, Exists | Comparison):
        return {expr.path.attr}
    names: set[str] = set()
    for term in expr.terms:
        names |= attribute_names(term)
    return names
