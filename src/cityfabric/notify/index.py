"""The matcher's index: which subscriptions one entity change can concern.

Every entity selector of a subscription is filed under each of its type keys
(`model.type_keys`), then by id: an `id` under that exact id, an anchored `idPattern`
under its literal prefix (`literal_prefix`, looked up with `entity_id[:len(prefix)]`),
anything else in a scan list. Within those, by watched attribute IRI (plus those
watching any), as before. Subscriptions without selectors sit in one bucket by
watched attribute. idPatterns are compiled once, here, when the index is built.

A change thus meets the selectors of its types whose id or prefix fits its id, plus the
scan lists: the cost does not grow with the subscriptions that cannot match it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cityfabric.ngsild.query import TypeAnd, TypeExpr, TypeName
from cityfabric.ngsild.regex import compile_pattern
from cityfabric.notify.model import Subscription, type_keys

_SPECIAL = frozenset(".^$*+?{}[]()|\\")
_QUANTIFIERS = frozenset("*+?{")
_LITERAL_ESCAPES = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ")


def literal_prefix(pattern: str) -> str:
    """A text every id the pattern matches starts with ('' when none can be told).

    Only for a pattern anchored by a leading `^` with no top-level `|`: the literal
    characters after it, up to the first metacharacter, class, group or escape other
    than an escaped punctuation character; a character a quantifier follows is left out
    (`^ab*` -> "a"). Global flags can only stand first, so `^...` has none (no `(?i)`
    or `(?m)` to change the meaning of the literals or of `^`).
    """
    if not pattern.startswith("^") or _top_level_bar(pattern):
        return ""
    out: list[str] = []
    i, n = 1, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n or pattern[i + 1] not in _LITERAL_ESCAPES:
                break
            char, step = pattern[i + 1], 2
        elif c in _SPECIAL:
            break
        else:
            char, step = c, 1
        if i + step < n and pattern[i + step] in _QUANTIFIERS:
            break  # the character may be absent (or repeated): stop before it
        out.append(char)
        i += step
    return "".join(out)


def _top_level_bar(pattern: str) -> bool:
    """Whether the pattern has a `|` outside groups, classes and escapes."""
    depth, i, n = 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1  # a leading ] is a member
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth <= 0:
            return True
        i += 1
    return False


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    """One entity selector of a subscription (or the subscription, without selectors)."""

    seq: int  # load order: matches are returned in it
    sub: Subscription
    types: TypeExpr | None = None  # None: no selector, or a single type (the bucket's key)
    pattern: re.Pattern[str] | None = None  # idPattern still to test (not for `id`)


@dataclass
class Bucket:
    """Entries by watched attribute IRI, and those watching every attribute."""

    by_attr: dict[str, list[Entry]] = field(default_factory=dict)
    any_attr: list[Entry] = field(default_factory=list)

    def add(self, entry: Entry, attrs: frozenset[str] | None) -> None:
        if attrs is None:
            self.any_attr.append(entry)
        for attr in attrs or ():
            self.by_attr.setdefault(attr, []).append(entry)

    def entries(self, changed: Sequence[str]) -> Iterable[Entry]:
        yield from self.any_attr
        for attr in changed:
            yield from self.by_attr.get(attr, ())


@dataclass
class TypeBucket:
    """The selectors of one type key: by exact id, by idPattern prefix, the rest."""

    by_id: dict[str, Bucket] = field(default_factory=dict)
    by_prefix: dict[int, dict[str, Bucket]] = field(default_factory=dict)
    scan: Bucket = field(default_factory=Bucket)

    def buckets(self, entity_id: str) -> list[Bucket]:
        out = [self.scan]
        exact = self.by_id.get(entity_id)
        if exact is not None:
            out.append(exact)
        for length, prefixes in self.by_prefix.items():
            if length <= len(entity_id):
                bucket = prefixes.get(entity_id[:length])
                if bucket is not None:
                    out.append(bucket)
        return out


@dataclass
class Index:
    """One tenant's matchable subscriptions."""

    by_type: dict[str, TypeBucket] = field(default_factory=dict)
    any_type: Bucket = field(default_factory=Bucket)
    size: int = 0
    _patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def add(self, sub: Subscription) -> None:
        seq = self.size
        self.size += 1
        attrs = None if sub.watched_attributes is None else frozenset(sub.watched_attributes)
        if not sub.entities:
            self.any_type.add(Entry(seq, sub), attrs)
            return
        for sel in sub.entities:
            types = None if isinstance(sel.types, TypeName) else sel.types
            pattern = None
            if sel.id is None and sel.id_pattern is not None:
                pattern = self._compiled(sel.id_pattern)
            entry = Entry(seq, sub, types, pattern)
            for key in type_keys(sel.types):
                tb = self.by_type.setdefault(key, TypeBucket())
                if sel.id is not None:
                    bucket = tb.by_id.setdefault(sel.id, Bucket())
                elif sel.id_pattern is not None and (prefix := literal_prefix(sel.id_pattern)):
                    prefixes = tb.by_prefix.setdefault(len(prefix), {})
                    bucket = prefixes.setdefault(prefix, Bucket())
                else:
                    bucket = tb.scan
                bucket.add(entry, attrs)

    def _compiled(self, pattern: str) -> re.Pattern[str]:
        compiled = self._patterns.get(pattern)
        if compiled is None:
            compiled = self._patterns[pattern] = compile_pattern(pattern)
        return compiled

    def may_select(self, types: Sequence[str]) -> bool:
        """Whether a subscription may select an entity of these types (by type alone)."""
        if self.any_type.any_attr or self.any_type.by_attr:
            return True
        return any(t in self.by_type for t in types)

    def candidates(
        self, entity_id: str, types: Sequence[str], changed: Iterable[str]
    ) -> list[Subscription]:
        """The subscriptions one of whose selectors selects the entity (by type, id and
        idPattern), or that have none, and that watch a changed attribute; in load order."""
        names = tuple(changed)
        found: dict[int, Subscription] = {e.seq: e.sub for e in self.any_type.entries(names)}
        type_set = frozenset(types)
        for t in dict.fromkeys(types):
            tb = self.by_type.get(t)
            if tb is None:
                continue
            for bucket in tb.buckets(entity_id):
                for entry in bucket.entries(names):
                    if entry.seq in found:
                        continue
                    if entry.types is not None and not type_matches(entry.types, type_set):
                        continue
                    if entry.pattern is not None and entry.pattern.search(entity_id) is None:
                        continue
                    found[entry.seq] = entry.sub
        return [found[seq] for seq in sorted(found)]


def type_matches(expr: TypeExpr, types: frozenset[str]) -> bool:
    """Evaluate an expanded type expression on an entity's type IRIs."""
    if isinstance(expr, TypeName):
        return expr.name in types
    results = (type_matches(t, types) for t in expr.terms)
    return all(results) if isinstance(expr, TypeAnd) else any(results)
