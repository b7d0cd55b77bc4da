"""Round trips of the wire formats: what the broker renders, it reads back to the same doc."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cityfabric.ngsild.context import core_context
from cityfabric.ngsild.entity import parse_entity
from cityfabric.ngsild.model import DEFAULT_VOCAB, LOCATION, EntityDoc
from cityfabric.ngsild.render import View, pick_language, render_entity

CTX = core_context()
NOW = "2026-11-23T16:00:00.000Z"

names = st.sampled_from(["temperature", "status", "owner", "tags", "level", "note", "cfg"])
scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: f != int(f)),
    st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8),
    st.booleans(),
)
values = st.one_of(
    scalars,
    st.lists(scalars, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "city"]), scalars, min_size=1, max_size=2),
)
uris = st.integers(0, 99).map(lambda n: f"urn:ngsi-ld:Thing:{n}")
metadata = st.fixed_dictionaries(
    {},
    optional={
        "observedAt": st.just("2026-01-02T03:04:05Z"),
        "unitCode": st.sampled_from(["CEL", "MTR", "C62"]),
    },
)


def _instance(kind: str, value: Any, meta: dict[str, Any]) -> dict[str, Any]:
    member = {
        "Property": "value",
        "Relationship": "object",
        "ListProperty": "valueList",
        "LanguageProperty": "languageMap",
        "JsonProperty": "json",
    }[kind]
    return {"type": kind, member: value, **meta}


instances = st.one_of(
    st.builds(_instance, st.just("Property"), values, metadata),
    st.builds(_instance, st.just("Relationship"), uris, metadata),
    st.builds(_instance, st.just("ListProperty"), st.lists(scalars, max_size=3), metadata),
    st.builds(
        _instance,
        st.just("LanguageProperty"),
        st.fixed_dictionaries(
            {"en": st.text(min_size=1, max_size=5)},
            optional={"zh": st.text(min_size=1, max_size=5)},
        ),
        st.just({}),
    ),
    st.builds(_instance, st.just("JsonProperty"), values, st.just({})),
)


@st.composite
def docs(draw: st.DrawFn) -> EntityDoc:
    attrs: dict[str, list[dict[str, Any]]] = {}
    for name in draw(st.lists(names, unique=True, max_size=5)):
        inst = draw(instances)
        if inst["type"] == "Property" and draw(st.booleans()):
            inst[DEFAULT_VOCAB + "accuracy"] = {"type": "Property", "value": draw(scalars)}
        attrs[DEFAULT_VOCAB + name] = [inst]
    if draw(st.booleans()):
        point = {
            "type": "Point",
            "coordinates": [draw(st.floats(-180, 180)), draw(st.floats(-90, 90))],
        }
        attrs[LOCATION] = [{"type": "GeoProperty", "value": point}]
    return {
        "id": f"urn:ngsi-ld:Thing:{draw(st.integers(0, 999))}",
        "type": [DEFAULT_VOCAB + draw(st.sampled_from(["Thing", "Lamp"]))],
        "createdAt": NOW,
        "modifiedAt": NOW,
        "attrs": attrs,
    }


@settings(max_examples=200, deadline=None)
@given(doc=docs(), fmt=st.sampled_from(["normalized", "concise"]))
def test_rendered_entity_reads_back_the_same(doc: EntityDoc, fmt: Any) -> None:
    wire = render_entity(doc, CTX.compact, View(format=fmt))
    assert parse_entity(wire, CTX.expand, now=NOW) == doc


@settings(max_examples=100, deadline=None)
@given(doc=docs())
def test_key_values_carry_every_value(doc: EntityDoc) -> None:
    wire = render_entity(doc, CTX.compact, View(format="keyValues"))
    for iri, (inst,) in doc["attrs"].items():
        shown = wire[CTX.compact(iri)]
        kind = inst["type"]
        if kind in ("Property", "GeoProperty"):
            assert shown == inst["value"]
        elif kind == "Relationship":
            assert shown == inst["object"]
        elif kind == "LanguageProperty":
            assert shown == {"languageMap": inst["languageMap"]}


def test_sys_attrs_default_to_the_entity_creation() -> None:
    doc: EntityDoc = {
        "id": "urn:ngsi-ld:Thing:1",
        "type": [DEFAULT_VOCAB + "Thing"],
        "createdAt": NOW,
        "modifiedAt": "2026-11-24T00:00:00.000Z",
        "attrs": {
            DEFAULT_VOCAB + "a": [{"type": "Property", "value": 1}],
            DEFAULT_VOCAB + "b": [
                {
                    "type": "Property",
                    "value": 2,
                    "createdAt": "2026-11-24T00:00:00.000Z",
                    "modifiedAt": "2026-11-24T00:00:00.000Z",
                }
            ],
        },
    }
    out = render_entity(doc, CTX.compact, View(sys_attrs=True))
    assert out["modifiedAt"] == "2026-11-24T00:00:00.000Z"
    assert out["a"]["createdAt"] == out["a"]["modifiedAt"] == NOW
    assert out["b"]["createdAt"] == "2026-11-24T00:00:00.000Z"


def test_pick_language() -> None:
    names = {"en": "Harbour", "zh-Hans": "港口", "@none": "Port"}
    assert pick_language(names, "zh") == ("港口", "zh-Hans")
    assert pick_language(names, "fr,en;q=0.8") == ("Harbour", "en")
    assert pick_language(names, "*") == ("Port", "@none")
    assert pick_language({"de": "Hafen"}, "fr") == ("Hafen", "de")
