"""showChanges and datasetId in rendered notifications (`changes.py` through `render_data`)."""

from __future__ import annotations

from typing import Any

import pytest

from cityfabric.ngsild.model import EntityDoc
from cityfabric.notify.changes import dataset_changes, previous_values
from cityfabric.notify.parse import parse_subscription
from cityfabric.notify.payload import Match, decode, render_data
from tests.notify.samples import AQL, BUILDING, CITY, CITY_NS, NOW, TEMPERATURE, minimal

B1 = "urn:ngsi-ld:Building:1"
OWNER = CITY_NS + "owner"
LABEL = CITY_NS + "label"
KIND = CITY_NS + "kind"
SPEC = CITY_NS + "spec"
DS_A = "urn:ngsi-ld:Dataset:a"


def entity(**attrs: list[dict[str, Any]]) -> EntityDoc:
    return {
        "id": B1,
        "type": [BUILDING],
        "createdAt": NOW,
        "modifiedAt": NOW,
        "attrs": {CITY_NS + k: v for k, v in attrs.items()},
    }


def prop(value: Any, dataset: str | None = None) -> dict[str, Any]:
    inst: dict[str, Any] = {"type": "Property", "value": value}
    if dataset is not None:
        inst["datasetId"] = dataset
    return inst


def show(
    before: EntityDoc, after: EntityDoc, notification: dict[str, Any] | None = None, **more: Any
) -> dict[str, Any]:
    """The notification's data member for an update (the payload round-tripped)."""
    body = minimal(**more)
    body["notification"].update({"showChanges": True, **(notification or {})})
    sub = parse_subscription(body, CITY, now=NOW)
    names = set(before["attrs"]) | set(after["attrs"])
    previous = previous_values(before, names, sub.dataset_ids)
    match = decode(Match(after, "attributeUpdated", (), previous).encode())
    return render_data(sub, match, CITY, ld=False)


BEFORE = entity(
    airQualityLevel=[prop("good")],
    owner=[{"type": "Relationship", "object": "urn:ngsi-ld:Person:1"}],
    label=[{"type": "LanguageProperty", "languageMap": {"en": "Tower", "fr": "Tour"}}],
    kind=[{"type": "VocabProperty", "vocab": CITY_NS + "Tower"}],
    spec=[{"type": "JsonProperty", "json": {"floors": 3}}],
    temperature=[prop(20)],
)
AFTER = entity(
    airQualityLevel=[prop("bad")],
    owner=[{"type": "Relationship", "object": "urn:ngsi-ld:Person:2"}],
    label=[{"type": "LanguageProperty", "languageMap": {"en": "Hall"}}],
    kind=[{"type": "VocabProperty", "vocab": CITY_NS + "Landmark"}],
    spec=[{"type": "JsonProperty", "json": {"floors": 4}}],
    where=[prop("new")],
)


def test_previous_member_per_kind() -> None:
    out = show(BEFORE, AFTER)
    assert out["airQualityLevel"] == {"type": "Property", "value": "bad", "previousValue": "good"}
    assert out["ex:owner"]["previousObject"] == "urn:ngsi-ld:Person:1"
    assert out["ex:label"]["previousLanguageMap"] == {"en": "Tower", "fr": "Tour"}
    assert out["ex:kind"] == {
        "type": "VocabProperty",
        "vocab": "Landmark",
        "previousVocab": "Tower",
    }
    assert out["ex:spec"]["previousJson"] == {"floors": 3}
    assert out["where"] == {"type": "Property", "value": "new"}  # created: nothing before
    # deleted by the change: the NGSI-LD Null beside what it was
    assert out["temperature"] == {
        "type": "Property",
        "value": "urn:ngsi-ld:null",
        "previousValue": 20,
    }


def test_concise_and_projection() -> None:
    out = show(BEFORE, AFTER, notification={"format": "concise", "attributes": ["airQualityLevel"]})
    assert out == {
        "id": B1,
        "type": "Building",
        "airQualityLevel": {"value": "bad", "previousValue": "good"},
    }


def test_language_filter_shows_one_previous_text() -> None:
    out = show(BEFORE, AFTER, lang="fr")
    assert out["ex:label"]["value"] == "Hall"  # no French now: the only text
    assert out["ex:label"]["previousValue"] == "Tour"


def test_previous_values_follow_dataset_ids() -> None:
    before = entity(airQualityLevel=[prop("good"), prop("ok", DS_A)])
    after = entity(airQualityLevel=[prop("bad"), prop("poor", DS_A)])
    out = show(before, after)
    assert out["airQualityLevel"] == [
        {"type": "Property", "value": "bad", "previousValue": "good"},
        {"type": "Property", "value": "poor", "datasetId": DS_A, "previousValue": "ok"},
    ]
    only_a = show(before, after, datasetId=DS_A)
    assert only_a["airQualityLevel"] == {
        "type": "Property",
        "value": "poor",
        "datasetId": DS_A,
        "previousValue": "ok",
    }


def test_without_show_changes_nothing_is_added() -> None:
    sub = parse_subscription(minimal(), CITY, now=NOW)
    previous = previous_values(BEFORE, [AQL])
    out = render_data(sub, Match(AFTER, "attributeUpdated", (AQL,), previous), CITY, ld=False)
    assert out["airQualityLevel"] == {"type": "Property", "value": "bad"}
    assert "temperature" not in out


def test_dataset_id_filters_rendered_instances() -> None:
    doc = entity(airQualityLevel=[prop("good"), prop("ok", DS_A)], temperature=[prop(3)])
    sub = parse_subscription(minimal(datasetId=[DS_A]), CITY, now=NOW)
    out = render_data(sub, Match(doc, "attributeUpdated", ()), CITY, ld=False)
    assert out == {
        "id": B1,
        "type": "Building",
        "airQualityLevel": {"type": "Property", "value": "ok", "datasetId": DS_A},
    }
    default = parse_subscription(minimal(datasetId="@none"), CITY, now=NOW)
    out = render_data(default, Match(doc, "attributeUpdated", ()), CITY, ld=False)
    assert out["airQualityLevel"] == {"type": "Property", "value": "good"}
    assert out["temperature"] == {"type": "Property", "value": 3}


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ((DS_A,), {"created": set(), "updated": {AQL}, "deleted": {TEMPERATURE}}),
        (("@none",), {"created": {TEMPERATURE}, "updated": set(), "deleted": set()}),
    ],
)
def test_dataset_changes(ids: tuple[str, ...], expected: dict[str, set[str]]) -> None:
    before = entity(airQualityLevel=[prop("good"), prop("ok", DS_A)], temperature=[prop(1, DS_A)])
    after = entity(airQualityLevel=[prop("good"), prop("poor", DS_A)], temperature=[prop(1)])
    every = frozenset({AQL, TEMPERATURE})
    changes = {"created": frozenset(), "updated": every, "deleted": frozenset()}
    got = dataset_changes(before, after, changes, ids)
    assert {k: set(v) for k, v in got.items()} == expected
