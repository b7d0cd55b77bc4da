"""Hand-written recursive-descent parsers for q, type and scope expressions.

Import the public functions from `cityfabric.ngsild.query`; this module holds
the machinery. Every parser is linear in the input: one cursor walks the text
once, tokens are matched with anchored regular expressions, and nesting is
capped at `MAX_DEPTH` so recursion stays shallow.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from typing import Final

from cityfabric.ngsild.errors import BadRequestData, TooComplexQuery
from cityfabric.ngsild.model import METADATA
from cityfabric.ngsild.query import (
    MAX_DEPTH,
    MAX_Q_LENGTH,
    MAX_REGEX_LENGTH,
    MAX_TERMS,
    And,
    AttrPath,
    Comparison,
    DateTimeLit,
    Exists,
    Literal,
    Operator,
    Or,
    QExpr,
    Range,
    ScopeAnd,
    ScopeExpr,
    ScopeOr,
    ScopeTerm,
    TypeAnd,
    TypeExpr,
    TypeName,
    TypeOr,
    UriLit,
    ValueList,
)
from cityfabric.ngsild.regex import compile_regex

# Names (GS CIM 009 clause 4.6.2): a letter then letters, digits or `_`,
# optionally behind a `prefix:`; prefixes may hold `-` (`ngsi-ld:`).
_TERM: Final = re.compile(r"(?:[^\W\d_][\w-]*:)?[^\W\d_]\w*")
_ABS_IRI_START: Final = re.compile(r"[A-Za-z][A-Za-z0-9+-]*://")  # no "." in q: "a.http://"
_DATETIME: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME: Final = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_NUMBER: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s;|(),\"'<>\[\]\\]+")
_MEMBER: Final = re.compile(r"[^\[\].;|()=!<>~,\"\s]+")
_SCOPE_LEVEL: Final = re.compile(r"\w+")
_OPERATORS: Final[tuple[Operator, ...]] = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")
# Characters that end an unquoted full IRI in q (a `.` ends it only after the path, see _iri).
_Q_IRI_STOP: Final = frozenset(";|()[]=!<>~,\"' \t\r\n")
_TYPE_IRI_STOP: Final = frozenset(";|(),\"' \t\r\n")
_EXCERPT: Final = 60


class Cursor:
    """A position in the text being parsed, with error helpers that name it."""

    def __init__(self, text: str, lang: str) -> None:
        self.text = text
        self.lang = lang
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def take(self, s: str) -> bool:
        """Consume `s` if the text continues with it."""
        if self.text.startswith(s, self.pos):
            self.pos += len(s)
            return True
        return False

    def match(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.pos)
        if m is None or not m.group():
            return None
        self.pos = m.end()
        return m.group()

    def error(self, what: str, pos: int | None = None) -> BadRequestData:
        at = self.pos if pos is None else pos
        start = max(0, at - _EXCERPT)
        excerpt = ("..." if start else "") + self.text[start : at + _EXCERPT]
        return BadRequestData(f"{self.lang}: {what} at position {at}: '{excerpt}'")

    def expected(self, what: str) -> BadRequestData:
        found = "end of input" if self.at_end() else repr(self.peek())
        return self.error(f"expected {what}, found {found}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooComplexQuery(
                f"{self.lang}: parentheses nest deeper than {MAX_DEPTH} at position {self.pos}"
            )

    def count_term(self) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise TooComplexQuery(
                f"{self.lang}: more than {MAX_TERMS} terms (at position {self.pos})"
            )


def start(text: str, lang: str) -> Cursor:
    """A cursor on `text` after checking the length limit."""
    if len(text) > MAX_Q_LENGTH:
        raise TooComplexQuery(f"{lang}: longer than {MAX_Q_LENGTH} characters ({len(text)})")
    return Cursor(text, lang)


# --- names ------------------------------------------------------------------


def name(cur: Cursor, stop: frozenset[str], what: str, split_dot: bool) -> str:
    """A term, compact IRI (`prefix:name`) or full IRI (`scheme://...`)."""
    if _ABS_IRI_START.match(cur.text, cur.pos):
        return _iri(cur, stop, split_dot)
    found = cur.match(_TERM)
    if found is None:
        raise cur.expected(what)
    return found


def _iri(cur: Cursor, stop: frozenset[str], split_dot: bool) -> str:
    """A full IRI; in q a `.` in its path that precedes a name ends it.

    Dots in the authority, and path dots followed by more path
    (`https://smartdatamodels.org/dataModel.Energy/x`), belong to the IRI, so
    expanded names round-trip; `https://ex.org/ns#temp.observedAt` is the IRI
    `https://ex.org/ns#temp` with metadata `observedAt`.
    """
    begin = cur.pos
    text = cur.text
    end = begin
    while end < len(text) and text[end] not in stop:
        end += 1
    authority = text.index("://", begin) + 3
    if split_dot:
        end = _sub_path_dot(text, authority, end)
    if end <= authority:
        raise cur.error("expected an IRI after '://'", end)
    cur.pos = end
    return text[begin:end]


def _sub_path_dot(text: str, authority: int, end: int) -> int:
    """Where a dotted sub-path starts inside `text[authority:end]`, else `end`.

    That is the first path dot followed by `name(.name)*` up to `end`, where a
    name is a term or starts a new full IRI. Each character is looked at a
    bounded number of times: a failed chain resumes after its failure point.
    """
    seps = [i for i in (text.find("/", authority, end), text.find("#", authority, end)) if i >= 0]
    dot = text.find(".", min(seps, default=end), end)
    while dot != -1:
        pos = dot + 1
        while True:
            if _ABS_IRI_START.match(text, pos, end):
                return dot
            term = _TERM.match(text, pos, end)
            if term is None:
                break
            if term.end() >= end:
                return dot
            if text[term.end()] != ".":
                break
            pos = term.end() + 1
        dot = text.find(".", max(pos, dot + 1), end)
    return end


# --- q (clause 4.9) ---------------------------------------------------------


def parse_q(text: str) -> QExpr:
    """Parse an NGSI-LD q expression; see `cityfabric.ngsild.query` for the rules."""
    cur = start(text, "q")
    expr = _q_or(cur)
    if cur.peek() == ")":
        raise cur.error("unmatched ')'")
    if not cur.at_end():
        raise cur.expected("';', '|' or end of q")
    return expr


def _q_or(cur: Cursor) -> QExpr:
    # Clause 4.9's ABNF lists `;` and `|` as one flat `logicalOp` and allows
    # only one level of parentheses; we bind `;` (AND) tighter than `|` (OR),
    # as brokers do, and accept nesting up to MAX_DEPTH.
    terms = [_q_and(cur)]
    while cur.take("|"):
        terms.append(_q_and(cur))
    return terms[0] if len(terms) == 1 else Or(tuple(terms))


def _q_and(cur: Cursor) -> QExpr:
    terms = [_q_primary(cur)]
    while cur.take(";"):
        terms.append(_q_primary(cur))
    return terms[0] if len(terms) == 1 else And(tuple(terms))


def _q_primary(cur: Cursor) -> QExpr:
    if cur.take("("):
        cur.enter()
        expr = _q_or(cur)
        if not cur.take(")"):
            raise cur.expected("')'")
        cur.depth -= 1
        return expr
    cur.count_term()
    path = _attr_path(cur)
    op = _operator(cur)
    if op is None:
        return Exists(path)
    if op in ("~=", "!~="):
        return Comparison(path, op, _regex(cur, op))
    return Comparison(path, op, _operand(cur, op))


def _attr_path(cur: Cursor) -> AttrPath:
    what = "an attribute name"
    names = [name(cur, _Q_IRI_STOP, what, split_dot=True)]
    while cur.take("."):
        if names[-1] in METADATA and len(names) > 1:
            raise cur.error(f"metadata name '{names[-1]}' must end the path", cur.pos - 1)
        names.append(name(cur, _Q_IRI_STOP, "a sub-attribute or metadata name", True))
    members: list[str] = []
    while cur.peek() == "[":
        if len(names) > 1 and names[-1] in METADATA:
            raise cur.error(f"metadata '{names[-1]}' has no members")
        cur.pos += 1
        members.extend(_members(cur))
    return AttrPath(names[0], tuple(names[1:]), tuple(members))


def _members(cur: Cursor) -> list[str]:
    """The inside of `[a]` or `[a.b]` and the closing bracket."""
    found = [_member(cur)]
    while cur.take("."):
        found.append(_member(cur))
    if not cur.take("]"):
        raise cur.expected("']'")
    return found


def _member(cur: Cursor) -> str:
    member = cur.match(_MEMBER)
    if member is None:
        raise cur.expected("a member name")
    return member


def _operator(cur: Cursor) -> Operator | None:
    for op in _OPERATORS:
        if cur.take(op):
            return op
    if cur.at_end() or cur.peek() in ";|)":
        return None
    raise cur.expected("an operator (== != > >= < <= ~= !~=), ';', '|' or ')'")


def _operand(cur: Cursor, op: Operator) -> Literal | Range | ValueList:
    begin = cur.pos
    first = _value(cur, op)
    if op in ("==", "!="):
        if cur.take(".."):
            return Range(_comparable(cur, first, begin), _comparable(cur, _value(cur, op), None))
        if cur.peek() == ",":
            items = [first]
            while cur.take(","):
                items.append(_value(cur, op))
            return ValueList(tuple(items))
    elif isinstance(first, bool | UriLit):
        raise cur.error(f"'{op}' needs a number, string or date/time", begin)
    return first


def _comparable(cur: Cursor, value: Literal, begin: int | None) -> Literal:
    """Range bounds are numbers, strings or date/times (clause 4.9 ComparableValue)."""
    if isinstance(value, bool | UriLit):
        raise cur.error("a range bound must be a number, string or date/time", begin)
    return value


def _value(cur: Cursor, op: str) -> Literal:
    begin = cur.pos
    if cur.peek() == '"':
        return quoted(cur)
    for pattern, kind in ((_DATETIME, "dateTime"), (_DATE, "date"), (_TIME, "time")):
        found = cur.match(pattern)
        if found is not None:
            return _datetime(cur, found, kind, begin)
    number = cur.match(_NUMBER)
    if number is not None:
        return _number(cur, number, begin)
    for word, flag in (("true", True), ("false", False)):
        if cur.text.startswith(word, begin) and _value_ends(cur, begin + len(word)):
            cur.pos += len(word)
            return flag
    uri = cur.match(_URI)
    if uri is not None:
        return UriLit(uri)
    raise cur.expected(f"a value after '{op}' (strings must be quoted)")


def _value_ends(cur: Cursor, pos: int) -> bool:
    return pos >= len(cur.text) or cur.text[pos] in ";|)," or cur.text.startswith("..", pos)


def _datetime(cur: Cursor, text: str, kind: str, begin: int) -> DateTimeLit:
    iso = text.replace("Z", "+00:00")
    try:
        if kind == "dateTime":
            datetime.fromisoformat(iso)
            return DateTimeLit(text, "dateTime")
        if kind == "date":
            date.fromisoformat(iso)
            return DateTimeLit(text, "date")
        time.fromisoformat(iso)
        return DateTimeLit(text, "time")
    except ValueError as err:
        raise cur.error(f"invalid {kind} '{text}'", begin) from err


def _number(cur: Cursor, text: str, begin: int) -> int | float:
    if "." not in text and "e" not in text and "E" not in text:
        whole = int(text)
        if -(2**63) <= whole < 2**63:
            return whole
        # past 64 bits no engine holds it as an integer: compared as a float
    value = float(text)
    if not math.isfinite(value):
        raise cur.error(f"number '{text}' out of range", begin)
    return value


def quoted(cur: Cursor) -> str:
    """A double-quoted string; `\\"` and `\\\\` are escapes, other backslashes stay."""
    begin = cur.pos
    text = cur.text
    out: list[str] = []
    i = begin + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            cur.pos = i + 1
            return "".join(out)
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    raise cur.error("unterminated string (missing closing '\"')", begin)


def _regex(cur: Cursor, op: str) -> str:
    begin = cur.pos
    pattern = quoted(cur) if cur.peek() == '"' else _bare_regex(cur)
    if not pattern:
        raise cur.error(f"expected a regular expression after '{op}'", begin)
    if len(pattern) > MAX_REGEX_LENGTH:
        raise cur.error(f"regular expression longer than {MAX_REGEX_LENGTH} characters", begin)
    try:
        compile_regex(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as err:
        raise cur.error(f"invalid regular expression ({err})", begin) from err
    return pattern


def _bare_regex(cur: Cursor) -> str:
    """An unquoted regex: it ends at `;`, or at `|` / `)` outside its own parentheses."""
    text = cur.text
    i = cur.pos
    depth = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == ";" or (depth == 0 and c in "|)"):
            break
        depth += {"(": 1, ")": -1}.get(c, 0)
        i += 1
    i = min(i, len(text))
    found = text[cur.pos : i]
    cur.pos = i
    return found


# --- type expressions (clause 4.17) -----------------------------------------


def parse_types(text: str) -> TypeExpr:
    """Parse an entity type selection: `A,B`, `A|B` (OR), `A;B` (AND), parentheses."""
    cur = start(text, "type")
    expr = _type_or(cur)
    if not cur.at_end():
        raise cur.expected("',', '|', ';' or end of type")
    return expr


def _type_or(cur: Cursor) -> TypeExpr:
    terms = [_type_and(cur)]
    while cur.take("|") or cur.take(","):
        terms.append(_type_and(cur))
    return terms[0] if len(terms) == 1 else TypeOr(tuple(terms))


def _type_and(cur: Cursor) -> TypeExpr:
    terms = [_type_primary(cur)]
    while cur.take(";"):
        terms.append(_type_primary(cur))
    return terms[0] if len(terms) == 1 else TypeAnd(tuple(terms))


def _type_primary(cur: Cursor) -> TypeExpr:
    if cur.take("("):
        cur.enter()
        expr = _type_or(cur)
        if not cur.take(")"):
            raise cur.expected("')'")
        cur.depth -= 1
        return expr
    cur.count_term()
    return TypeName(name(cur, _TYPE_IRI_STOP, "an entity type name", split_dot=False))


# --- scope queries (clause 4.19) --------------------------------------------


def parse_scope_q(text: str) -> ScopeExpr:
    """Parse a scopeQ: `/a/b`, `/a/#`, `/#`, `+` levels, `,`/`|` (OR), `;` (AND)."""
    cur = start(text, "scopeQ")
    expr = _scope_or(cur)
    if not cur.at_end():
        raise cur.expected("',', '|', ';' or end of scopeQ")
    return expr


def _scope_or(cur: Cursor) -> ScopeExpr:
    terms = [_scope_and(cur)]
    while cur.take("|") or cur.take(","):
        terms.append(_scope_and(cur))
    return terms[0] if len(terms) == 1 else ScopeOr(tuple(terms))


def _scope_and(cur: Cursor) -> ScopeExpr:
    terms = [_scope_primary(cur)]
    while cur.take(";"):
        terms.append(_scope_primary(cur))
    return terms[0] if len(terms) == 1 else ScopeAnd(tuple(terms))


def _scope_primary(cur: Cursor) -> ScopeExpr:
    if cur.take("("):
        cur.enter()
        expr = _scope_or(cur)
        if not cur.take(")"):
            raise cur.expected("')'")
        cur.depth -= 1
        return expr
    cur.count_term()
    return ScopeTerm(_scope_path(cur))


def _scope_path(cur: Cursor) -> str:
    begin = cur.pos
    if not cur.take("/"):
        raise cur.expected("a scope starting with '/'")
    if cur.take("#"):
        return "/#"
    while True:
        if not (cur.take("+") or cur.match(_SCOPE_LEVEL)):
            raise cur.expected("a scope level (letters, digits, '_' or '+')")
        if not cur.take("/"):
            return cur.text[begin : cur.pos]
        if cur.take("#"):
            return cur.text[begin : cur.pos]
