"""Hypothesis strategies for valid subscription request bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from tests.notify.samples import CITY_NS, RECEIVER

NAMES = st.sampled_from(
    ["airQualityLevel", "temperature", "name", "ex:speed", CITY_NS + "flow", "status"]
)
TYPES = st.sampled_from(
    ["Building", "Building,Tower", "(Building;Landmark)|Tower", "ex:Bridge", CITY_NS + "Tower"]
)
_WORDS = st.text("abcXYZ 019-_", max_size=8)
_ORDERED = st.one_of(
    st.integers(-1000, 1000).map(str),
    _WORDS.map(lambda w: f'"{w}"'),
    st.just("2026-01-01T00:00:00Z"),
)
_ANY = st.one_of(_ORDERED, st.sampled_from(["true", "urn:ngsi-ld:Building:1", "1..5", "1,2"]))
_TERMS = st.one_of(
    NAMES,
    st.builds(lambda n, op, v: f"{n}{op}{v}", NAMES, st.sampled_from(["==", "!="]), _ANY),
    st.builds(lambda n, op, v: f"{n}{op}{v}", NAMES, st.sampled_from([">", "<="]), _ORDERED),
    NAMES.map(lambda name: f'{name}~="^a.*"'),
    NAMES.map(lambda name: f"{name}.observedAt>2026-01-01T00:00:00Z"),
)
Q_TEXTS = st.one_of(
    _TERMS,
    st.lists(_TERMS, min_size=2, max_size=3).map(";".join),
    st.lists(_TERMS, min_size=2, max_size=3).map(lambda ts: "(" + "|".join(ts) + ")"),
    st.just('name=="Eiffel%20Tower"'),
)
SCOPES = st.sampled_from(["/Madrid", "/Madrid/#", "/+/Centro,/Paris", "/a;/b/#"])
GEO = st.sampled_from(
    [
        {"geometry": "Point", "coordinates": [-3.7, 40.4], "georel": "near;maxDistance==500"},
        {
            "geometry": "Polygon",
            "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 0]]],
            "georel": "within",
            "geoproperty": "location",
        },
        {
            "geometry": "LineString",
            "coordinates": "[[1,1],[2,2.5]]",
            "georel": "intersects",
            "geoproperty": "where",
        },
    ]
)
POSITIVE = st.one_of(
    st.integers(1, 10**6), st.floats(0.001, 1e6, allow_nan=False, allow_infinity=False)
)
NON_NEGATIVE = st.one_of(st.just(0), POSITIVE)
FUTURE = st.builds(
    lambda when, style: when.strftime(style),
    st.datetimes(datetime(2030, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M"]),
)
_HEADER = st.from_regex(r"X-[A-Za-z0-9]{1,8}", fullmatch=True)
# any text but U+0000, which every body refuses (tests/api/test_nul.py)
_FREE_TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=12)
_PAIR_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10)
_PAIRS = st.lists(
    st.tuples(_HEADER, _PAIR_TEXT), max_size=3, unique_by=lambda kv: kv[0].lower()
).map(lambda pairs: [{"key": k, "value": v} for k, v in pairs])
_URIS = st.sampled_from(
    [RECEIVER, "https://alerts.example.org:8443/n?x=1", "mqtt://broker/city/alerts", "mqtts://b/t"]
)


def _maybe(
    draw: st.DrawFn, out: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]
) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"type": draw(TYPES)}
    _maybe(draw, out, "id", st.sampled_from(["urn:ngsi-ld:Building:1", "urn:x:y"]))
    _maybe(draw, out, "idPattern", st.sampled_from(["^urn:ngsi-ld:.*", "[0-9]+$"]))
    return out


@st.composite
def endpoints(draw: st.DrawFn) -> dict[str, Any]:
    uri = draw(_URIS)
    out: dict[str, Any] = {"uri": uri}
    _maybe(draw, out, "accept", st.sampled_from(["application/json", "application/ld+json"]))
    _maybe(draw, out, "timeout", POSITIVE)
    _maybe(draw, out, "cooldown", POSITIVE)
    _maybe(draw, out, "receiverInfo", _PAIRS)
    if uri.startswith("mqtt"):
        info = [{"key": "MQTT-QoS", "value": draw(st.sampled_from(["0", "1", "2"]))}]
        _maybe(draw, out, "notifierInfo", st.just(info))
    return out


@st.composite
def notifications(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"endpoint": draw(endpoints())}
    _maybe(draw, out, "attributes", st.lists(NAMES, min_size=1, max_size=3))
    _maybe(draw, out, "sysAttrs", st.booleans())
    _maybe(draw, out, "format", st.sampled_from(["normalized", "concise", "keyValues"]))
    show = st.just(False) if out.get("format") == "keyValues" else st.booleans()
    _maybe(draw, out, "showChanges", show)
    return out


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid create body; timeInterval excludes watchedAttributes and throttling."""
    out: dict[str, Any] = {"type": "Subscription", "notification": draw(notifications())}
    periodic = draw(st.booleans())
    if periodic or draw(st.booleans()):
        out["entities"] = draw(st.lists(selectors(), min_size=1, max_size=3))
    if not periodic and ("entities" not in out or draw(st.booleans())):
        out["watchedAttributes"] = draw(st.lists(NAMES, min_size=1, max_size=3))
    if periodic:
        out["timeInterval"] = draw(POSITIVE)
    else:
        _maybe(draw, out, "throttling", NON_NEGATIVE)
    _maybe(draw, out, "id", st.just("urn:ngsi-ld:Subscription:h"))
    _maybe(draw, out, "subscriptionName", _FREE_TEXT)
    _maybe(draw, out, "description", _FREE_TEXT)
    _maybe(
        draw,
        out,
        "notificationTrigger",
        st.lists(
            st.sampled_from(
                ["entityCreated", "entityDeleted", "attributeUpdated", "attributeDeleted"]
            ),
            min_size=1,
            max_size=3,
            unique=True,
        ),
    )
    _maybe(draw, out, "q", Q_TEXTS)
    _maybe(draw, out, "geoQ", GEO)
    _maybe(draw, out, "scopeQ", SCOPES)
    _maybe(draw, out, "lang", st.sampled_from(["en", "fr,en;q=0.8", "*"]))
    _maybe(draw, out, "datasetId", st.sampled_from(["@none", ["urn:ngsi-ld:Dataset:a", "@none"]]))
    _maybe(draw, out, "isActive", st.booleans())
    _maybe(draw, out, "expiresAt", FUTURE)
    _maybe(draw, out, "jsonldContext", st.just("https://example.org/ctx.jsonld"))
    return out
