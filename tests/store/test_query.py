"""Store.query on every engine: q, type expressions, attrs, ids, idPattern and scopeQ, in SQL."""

from __future__ import annotations

from typing import Any

import pytest

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.query import (
    And,
    AttrPath,
    Comparison,
    DateTimeLit,
    Exists,
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
from cityfabric.store.base import EntityQuery
from tests.store.conftest import AnyStore

V = "https://example.org/v#"  # attribute IRIs with '#', '/', ':' and '.' in them
T1, T2, T3 = "https://ex.org/types/A.1", "https://ex.org/types/B", "https://ex.org/types/C"
OBS = "https://uri.etsi.org/ngsi-ld/observedAt"


def prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra}


def dt(text: str) -> dict[str, str]:
    return {"@type": "DateTime", "@value": text}


DOCS: list[EntityDoc] = [
    {
        "id": "urn:e:1",
        "type": [T1],
        "scope": ["/Madrid/Gran_Via", "/Madrid/Sol/Puerta"],
        "attrs": {
            V + "temp": [prop(21.5, observedAt="2026-01-01T10:00:00Z")],
            V + "name": [prop("lamp one")],
            V + "on": [prop(True)],
            V + "tags": [prop(["red", "green", 3])],
            V + "when": [prop(dt("2026-03-01T12:00:00Z"))],
            V + "addr": [prop({"city": "Madrid", "geo": {"zip": 28013}})],
            V + "owner": [{"type": "Relationship", "object": "urn:person:1"}],
            V + "level": [
                prop(1, **{V + "accuracy": prop(0.5, **{V + "deep": prop("x")})}),
                prop(10, datasetId="urn:ds:b"),
            ],
            V + "label": [
                {"type": "LanguageProperty", "languageMap": {"en": "big", "es": "grande"}}
            ],
            V + "list": [{"type": "ListProperty", "valueList": [1, 2, 3]}],
        },
    },
    {
        "id": "urn:e:2",
        "type": [T2],
        "scope": ["/Madrid"],
        "attrs": {
            V + "temp": [prop(30, observedAt="2026-06-01T10:00:00+02:00")],
            V + "name": [prop("Lamp two")],
            V + "on": [prop(1)],
            V + "tags": [prop("blue")],
            V + "when": [prop("2026-02-01T00:00:00Z")],
            V + "addr": [prop({"city": "Sevilla"})],
            V + "owner": [{"type": "Relationship", "object": "urn:person:2"}],
            V + "level": [prop(5)],
            V + "label": [{"type": "LanguageProperty", "languageMap": {"en": "small"}}],
        },
    },
    {
        "id": "urn:f:3",
        "type": [T1, T2],
        "attrs": {
            V + "temp": [prop("hot")],
            V + "on": [prop(False)],
            V + "level": [prop(7, datasetId="urn:ds:a")],
            V + "list": [{"type": "ListProperty", "valueList": ["a"]}],
        },
    },
    {"id": "urn:g:4", "type": [T3], "scope": ["/Barcelona/Eixample"], "attrs": {}},
]


@pytest.fixture
async def store(store: AnyStore) -> AnyStore:
    await store.apply("", [(d["id"], lambda _, d=d: d) for d in DOCS])
    return store


async def ids(store: AnyStore, **kw: Any) -> list[str]:
    page = await store.query("", EntityQuery(limit=100, count=True, **kw))
    found = [d["id"] for d in page.docs]
    assert page.count == len(found)
    return found


def cmp(
    attr: str, op: Any, value: Any, *, sub: tuple[str, ...] = (), members: tuple[str, ...] = ()
) -> Comparison:
    return Comparison(AttrPath(V + attr, sub, members), op, value)


Q_CASES: list[tuple[str, QExpr, list[str]]] = [
    ("number ==", cmp("temp", "==", 21.5), ["urn:e:1"]),
    ("number >", cmp("temp", ">", 25), ["urn:e:2"]),
    ("number <= int vs real", cmp("temp", "<=", 30.0), ["urn:e:1", "urn:e:2"]),
    ("string ==", cmp("name", "==", "Lamp two"), ["urn:e:2"]),
    ("string < on strings only", cmp("temp", "<", "z"), ["urn:f:3"]),
    ("mismatch never raises", cmp("name", ">", 5), []),
    ("true is not 1", cmp("on", "==", True), ["urn:e:1"]),
    ("false", cmp("on", "==", False), ["urn:f:3"]),
    ("1 is not true", cmp("on", "==", 1), ["urn:e:2"]),
    ("array any element", cmp("tags", "==", "green"), ["urn:e:1"]),
    ("array number element", cmp("tags", "==", 3), ["urn:e:1"]),
    ("array != none equal", cmp("tags", "!=", "green"), ["urn:e:2"]),
    ("!= needs attribute", cmp("name", "!=", "lamp one"), ["urn:e:2"]),
    (
        "datetime object",
        cmp("when", ">", DateTimeLit("2026-02-15T00:00:00Z", "dateTime")),
        ["urn:e:1"],
    ),
    (
        "datetime string",
        cmp("when", "<", DateTimeLit("2026-02-15T00:00:00Z", "dateTime")),
        ["urn:e:2"],
    ),
    (
        "datetime == other offset",
        cmp("when", "==", DateTimeLit("2026-03-01T13:00:00+01:00", "dateTime")),
        ["urn:e:1"],
    ),
    ("date literal", cmp("when", ">=", DateTimeLit("2026-03-01", "date")), ["urn:e:1"]),
    (
        "observedAt metadata",
        cmp("temp", ">", DateTimeLit("2026-03-01T00:00:00Z", "dateTime"), sub=("observedAt",)),
        ["urn:e:2"],
    ),
    ("datasetId metadata", cmp("level", "==", "urn:ds:a", sub=("datasetId",)), ["urn:f:3"]),
    ("compound member", cmp("addr", "==", "Madrid", members=("city",)), ["urn:e:1"]),
    ("deep compound member", cmp("addr", "==", 28013, members=("geo", "zip")), ["urn:e:1"]),
    ("compound itself never equals", cmp("addr", "==", "Madrid"), []),
    ("sub-attribute", cmp("level", "<", 1, sub=(V + "accuracy",)), ["urn:e:1"]),
    ("sub-sub-attribute", cmp("level", "==", "x", sub=(V + "accuracy", V + "deep")), ["urn:e:1"]),
    ("any datasetId instance", cmp("level", ">", 8), ["urn:e:1"]),
    ("range", cmp("level", "==", Range(6, 8)), ["urn:f:3"]),
    ("range over instances", cmp("level", "==", Range(9, 11)), ["urn:e:1"]),
    ("not in range", cmp("level", "!=", Range(4, 8)), ["urn:e:1"]),
    ("value list", cmp("level", "==", ValueList((5, 7))), ["urn:e:2", "urn:f:3"]),
    ("value list !=", cmp("level", "!=", ValueList((5, 7))), ["urn:e:1"]),
    ("relationship uri", cmp("owner", "==", UriLit("urn:person:2")), ["urn:e:2"]),
    ("relationship string", cmp("owner", "==", "urn:person:1"), ["urn:e:1"]),
    ("language map any value", cmp("label", "==", "grande"), ["urn:e:1"]),
    ("list property", cmp("list", "==", 2), ["urn:e:1"]),
    ("regex", cmp("name", "~=", "^[Ll]amp"), ["urn:e:1", "urn:e:2"]),
    ("regex case", cmp("name", "~=", "(?i)LAMP TWO"), ["urn:e:2"]),
    ("regex on numbers never", cmp("temp", "~=", "2"), []),
    ("not regex", cmp("name", "!~=", "one"), ["urn:e:2"]),
    ("exists", Exists(AttrPath(V + "list")), ["urn:e:1", "urn:f:3"]),
    ("exists sub", Exists(AttrPath(V + "level", (V + "accuracy",))), ["urn:e:1"]),
    ("exists metadata", Exists(AttrPath(V + "temp", ("observedAt",))), ["urn:e:1", "urn:e:2"]),
    ("exists member", Exists(AttrPath(V + "addr", (), ("geo",))), ["urn:e:1"]),
    ("and", And((cmp("level", ">", 0), cmp("temp", "==", 30))), ["urn:e:2"]),
    ("or", Or((cmp("temp", "==", "hot"), cmp("name", "==", "lamp one"))), ["urn:e:1", "urn:f:3"]),
    (
        "nested",
        And((Exists(AttrPath(V + "level")), Or((cmp("on", "==", True), cmp("on", "==", False))))),
        ["urn:e:1", "urn:f:3"],
    ),
]


@pytest.mark.parametrize(("name", "q", "expected"), Q_CASES, ids=[c[0] for c in Q_CASES])
async def test_q(store: AnyStore, name: str, q: QExpr, expected: list[str]) -> None:
    assert await ids(store, q=q) == expected


async def test_bad_regex_and_datetime_are_bad_request(store: AnyStore) -> None:
    with pytest.raises(BadRequestData):
        await ids(store, q=cmp("name", "~=", "("))
    with pytest.raises(BadRequestData):
        await ids(store, id_pattern="[")
    with pytest.raises(BadRequestData):
        await ids(store, q=cmp("when", ">", DateTimeLit("yesterday", "dateTime")))


async def test_user_text_is_never_sql(store: AnyStore) -> None:
    evil = "x') OR 1=1 --"
    assert await ids(store, q=cmp("name", "==", evil)) == []
    assert await ids(store, attrs=(evil,)) == []
    assert await ids(store, types=TypeName(evil)) == []
    with pytest.raises(BadRequestData):
        await ids(store, q=Exists(AttrPath('a"b')))


TYPE_CASES: list[tuple[TypeExpr, list[str]]] = [
    (TypeName(T1), ["urn:e:1", "urn:f:3"]),
    (TypeName("https://ex.org/none"), []),
    (TypeAnd((TypeName(T1), TypeName(T2))), ["urn:f:3"]),
    (TypeOr((TypeName(T2), TypeName(T3))), ["urn:e:2", "urn:f:3", "urn:g:4"]),
    (TypeOr((TypeAnd((TypeName(T1), TypeName(T2))), TypeName(T3))), ["urn:f:3", "urn:g:4"]),
]


@pytest.mark.parametrize(("types", "expected"), TYPE_CASES)
async def test_types(store: AnyStore, types: TypeExpr, expected: list[str]) -> None:
    assert await ids(store, types=types) == expected


async def test_attrs_ids_and_pattern(store: AnyStore) -> None:
    assert await ids(store, attrs=(V + "list",)) == ["urn:e:1", "urn:f:3"]
    assert await ids(store, attrs=(V + "list", V + "name")) == ["urn:e:1", "urn:e:2", "urn:f:3"]
    assert await ids(store, ids=("urn:g:4", "urn:e:2", "urn:none")) == ["urn:e:2", "urn:g:4"]
    assert await ids(store, id_pattern=r"^urn:e:") == ["urn:e:1", "urn:e:2"]
    assert await ids(store, id_pattern=r"[34]$", types=TypeName(T2)) == ["urn:f:3"]


SCOPE_CASES: list[tuple[ScopeExpr, list[str]]] = [
    (ScopeTerm("/Madrid"), ["urn:e:2"]),
    (ScopeTerm("/Madrid/Gran_Via"), ["urn:e:1"]),
    (ScopeTerm("/Madrid/Gran.Via"), []),
    (ScopeTerm("/Madrid/#"), ["urn:e:1", "urn:e:2"]),
    (ScopeTerm("/#"), ["urn:e:1", "urn:e:2", "urn:g:4"]),
    (ScopeTerm("/+/Eixample"), ["urn:g:4"]),
    (ScopeTerm("/Madrid/+"), ["urn:e:1"]),
    (ScopeTerm("/Madrid/+/Puerta"), ["urn:e:1"]),
    (ScopeOr((ScopeTerm("/Madrid"), ScopeTerm("/Barcelona/#"))), ["urn:e:2", "urn:g:4"]),
    (ScopeAnd((ScopeTerm("/Madrid/#"), ScopeTerm("/Madrid/Sol/#"))), ["urn:e:1"]),
]


@pytest.mark.parametrize(("scope", "expected"), SCOPE_CASES)
async def test_scope_q(store: AnyStore, scope: ScopeExpr, expected: list[str]) -> None:
    assert await ids(store, scope_q=scope) == expected
