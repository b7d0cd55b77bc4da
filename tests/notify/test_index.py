"""The matcher's index against the plain rule it replaces: a subscription is a candidate
when it has no selectors or one of them selects the entity (type expression, id,
idPattern), and it watches a changed attribute or any."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityfabric.ngsild.query import TypeAnd, TypeExpr, TypeName, TypeOr
from cityfabric.notify.index import Index, literal_prefix, type_matches
from cityfabric.notify.model import Endpoint, EntitySelector, NotificationParams, Subscription

TYPES = ("T:A", "T:B", "T:C")
ATTRS = ("a:x", "a:y", "a:z")
IDS = ("urn:A:1", "urn:A:12", "urn:A:2", "urn:B:1", "urn:", "u")
PATTERNS = (
    "^urn:A:1",
    "^urn:A:1$",
    "^urn:A:\\d$",
    "^urn:A:1*",
    "^urn:(A|B):1",
    "^urn:A|^urn:B",
    "A:1",
    ".*",
    "^urn\\:A",
    "^urn[:]A",
    "^u?rn",
    "^urn:B:1$|x",
)
STAMP = "2026-12-05T13:00:00.000000Z"

type_exprs: st.SearchStrategy[TypeExpr] = st.recursive(
    st.sampled_from(TYPES).map(TypeName),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda t: TypeAnd(tuple(t))),
        st.lists(inner, min_size=2, max_size=3).map(lambda t: TypeOr(tuple(t))),
    ),
    max_leaves=4,
)


@st.composite
def selectors(draw: st.DrawFn) -> EntitySelector:
    kind = draw(st.sampled_from(("type", "id", "pattern")))
    types = draw(type_exprs)
    return EntitySelector(
        "t",
        types,
        (),
        draw(st.sampled_from(IDS)) if kind == "id" else None,
        draw(st.sampled_from(PATTERNS)) if kind == "pattern" else None,
    )


@st.composite
def subscriptions(draw: st.DrawFn, n: int) -> Subscription:
    watched = draw(st.none() | st.lists(st.sampled_from(ATTRS), min_size=1, unique=True))
    return Subscription(
        id=f"urn:ngsi-ld:Subscription:{n}",
        notification=NotificationParams(Endpoint("http://127.0.0.1:9/n")),
        context=None,
        created_at=STAMP,
        modified_at=STAMP,
        entities=tuple(draw(st.lists(selectors(), max_size=3))),
        watched_attributes=None if watched is None else tuple(watched),
    )


def plain(sub: Subscription, entity_id: str, types: frozenset[str], changed: set[str]) -> bool:
    def selects(sel: EntitySelector) -> bool:
        if not type_matches(sel.types, types):
            return False
        if sel.id is not None:
            return sel.id == entity_id
        if sel.id_pattern is not None:
            return re.search(sel.id_pattern, entity_id) is not None
        return True

    if sub.entities and not any(selects(s) for s in sub.entities):
        return False
    return sub.watched_attributes is None or bool(changed & set(sub.watched_attributes))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 12).flatmap(lambda n: st.tuples(*(subscriptions(i) for i in range(n)))),
    st.sampled_from(IDS),
    st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True),
    st.sets(st.sampled_from(ATTRS), min_size=1),
)
def test_index_finds_what_the_plain_rule_finds(
    subs: tuple[Subscription, ...], entity_id: str, types: list[str], changed: set[str]
) -> None:
    index = Index()
    for sub in subs:
        index.add(sub)
    found = index.candidates(entity_id, types, changed)
    expected = [s for s in subs if plain(s, entity_id, frozenset(types), changed)]
    assert found == expected  # each once, in load order


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("^urn:A:1", "urn:A:1"),
        ("^urn:A:\\d$", "urn:A:"),
        ("^ab*", "a"),
        ("^ab?c", "a"),
        ("^ab{2}", "a"),
        ("^urn\\:A\\.b", "urn:A.b"),
        ("^urn[:]A", "urn"),
        ("^urn:(A|B)", "urn:"),
        ("^urn:A|^urn:B", ""),
        ("urn:A", ""),
        ("^\\w+", ""),
        ("(?i)^urn", ""),
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATTERNS), st.text(alphabet="urn:AB12\\.x", max_size=10))
def test_every_match_starts_with_the_prefix(pattern: str, text: str) -> None:
    if re.search(pattern, text):
        assert text.startswith(literal_prefix(pattern))
