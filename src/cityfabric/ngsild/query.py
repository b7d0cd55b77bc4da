"""The NGSI-LD query languages (GS CIM 009 clause 4.9 q, 4.17 type expressions, 4.19 scopeQ).

This module holds the syntax trees that the parsers produce and the store
compiles to SQL. Parsers yield raw (compacted) names; `expand_*` functions map
attribute and type names to IRIs with the request's @context before the tree
reaches the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as Lit
from typing import TypeAlias


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
