"""Creating and patching subscriptions: every member valid and invalid, defaults, PATCH."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cityfabric.ngsild.errors import BadRequestData, NgsiLdError, OperationNotSupported
from cityfabric.ngsild.model import LOCATION, NGSI_LD
from cityfabric.ngsild.query import (
    AttrPath,
    Comparison,
    ScopeTerm,
    TypeAnd,
    TypeName,
    TypeOr,
)
from cityfabric.notify.model import DEFAULT_TRIGGERS, Subscription
from cityfabric.notify.parse import parse_subscription, patch_subscription
from tests.notify.samples import (
    AQL,
    BUILDING,
    CITY,
    CITY_NS,
    CITY_URL,
    CORE,
    EXAMPLES,
    LATER,
    NAME,
    NOW,
    OTHER,
    RECEIVER,
    TEMPERATURE,
    TOWER,
    minimal,
)

DELETE = object()  # marks a member to remove from the minimal body


def body_with(updates: dict[str, Any]) -> dict[str, Any]:
    """The minimal body with members set (or removed) by dotted path."""
    body = minimal()
    for path, value in updates.items():
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target.setdefault(key, {})
        if value is DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return body


def parse(updates: dict[str, Any]) -> Subscription:
    return parse_subscription(body_with(updates), CITY, now=NOW)


# --- defaults -------------------------------------------------------------------------


def test_defaults_of_a_minimal_subscription() -> None:
    sub = parse({})
    assert sub.id.startswith("urn:ngsi-ld:Subscription:") and len(sub.id) == 25 + 36
    assert sub.context == [CITY_URL]
    assert sub.created_at == sub.modified_at == NOW
    assert sub.entities[0].types == TypeName(BUILDING)
    assert sub.watched_attributes is None
    assert sub.notification_trigger == DEFAULT_TRIGGERS == ("attributeCreated", "attributeUpdated")
    assert sub.is_active is True
    assert (sub.time_interval, sub.throttling, sub.expires_at, sub.q, sub.geo_q) == (None,) * 5
    params = sub.notification
    assert (params.format, params.sys_attrs, params.show_changes, params.attributes) == (
        "normalized",
        False,
        False,
        None,
    )
    assert params.endpoint.accept == "application/json"
    assert params.endpoint.receiver_info == params.endpoint.notifier_info == ()
    assert sub.given == frozenset()


def test_generated_ids_differ_and_a_given_id_is_used() -> None:
    assert parse({}).id != parse({}).id
    sub = parse_subscription(minimal(), CITY, now=NOW, subscription_id="urn:ngsi-ld:Subscription:x")
    assert sub.id == "urn:ngsi-ld:Subscription:x"
    body = minimal(id="urn:ngsi-ld:Subscription:body")
    assert parse_subscription(body, CITY, now=NOW, subscription_id="urn:x:y").id == body["id"]


def test_defaulted_members_written_by_the_client_are_recorded() -> None:
    sub = parse(
        {
            "isActive": True,
            "notification.format": "normalized",
            "notification.sysAttrs": False,
            "notification.showChanges": False,
            "notification.endpoint.accept": "application/json",
        }
    )
    assert sub.given == {
        "isActive",
        "notification.format",
        "notification.sysAttrs",
        "notification.showChanges",
        "notification.endpoint.accept",
    }


def test_the_type_may_be_a_full_iri() -> None:
    assert parse({"type": NGSI_LD + "Subscription"}).entities


def test_read_only_members_are_ignored() -> None:
    read_only = {
        "status": "expired",
        "createdAt": "2020-01-01T00:00:00Z",
        "modifiedAt": "2020-01-01T00:00:00Z",
        "notification.status": "failed",
        "notification.timesSent": 3,
        "notification.timesFailed": 1,
        "notification.lastNotification": "2020-01-01T00:00:00Z",
        "notification.lastSuccess": "2020-01-01T00:00:00Z",
        "notification.lastFailure": "2020-01-01T00:00:00Z",
        "notification.lastFailureReason": "timeout",
        "@context": [CITY_URL],
    }
    same_id = "urn:ngsi-ld:Subscription:ro"
    assert parse({**read_only, "id": same_id}) == parse({"id": same_id})


# --- every member, valid ----------------------------------------------------------------

Get = Callable[[Subscription], object]

VALID: list[tuple[dict[str, Any], Get, object]] = [
    ({"id": "urn:ngsi-ld:Subscription:1"}, lambda s: s.id, "urn:ngsi-ld:Subscription:1"),
    ({"subscriptionName": "lamps"}, lambda s: s.subscription_name, "lamps"),
    ({"description": ""}, lambda s: s.description, ""),
    ({"entities": [{"type": "Tower"}]}, lambda s: s.entities[0].types, TypeName(TOWER)),
    (
        {"entities": [{"type": "Building,Tower"}]},
        lambda s: s.entities[0].types,
        TypeOr((TypeName(BUILDING), TypeName(TOWER))),
    ),
    (
        {"entities": [{"type": "Building;Tower"}]},
        lambda s: s.entities[0].types,
        TypeAnd((TypeName(BUILDING), TypeName(TOWER))),
    ),
    ({"entities": [{"type": CITY_NS + "Tower"}]}, lambda s: s.entities[0].types, TypeName(TOWER)),
    (
        {"entities": [{"type": "ex:Bridge"}]},
        lambda s: s.entities[0].types,
        TypeName(CITY_NS + "Bridge"),
    ),
    (
        {"entities": [{"type": "Building", "id": "urn:ngsi-ld:Building:1"}]},
        lambda s: s.entities[0].id,
        "urn:ngsi-ld:Building:1",
    ),
    (
        {"entities": [{"type": "Building", "idPattern": "^urn:ngsi-ld:Building:.*"}]},
        lambda s: s.entities[0].id_pattern,
        "^urn:ngsi-ld:Building:.*",
    ),
    (
        {"entities": [{"type": "Building"}, {"type": "Tower"}]},
        lambda s: len(s.entities),
        2,
    ),
    (
        {"watchedAttributes": ["airQualityLevel", "temperature", "airQualityLevel"]},
        lambda s: s.watched_attributes,
        (AQL, TEMPERATURE),
    ),
    (
        {"entities": DELETE, "watchedAttributes": ["airQualityLevel"]},
        lambda s: (s.entities, s.watched_attributes),
        ((), (AQL,)),
    ),
    (
        {"notificationTrigger": ["entityCreated", "attributeDeleted", "entityCreated"]},
        lambda s: s.notification_trigger,
        ("entityCreated", "attributeDeleted"),
    ),
    ({"timeInterval": 10}, lambda s: s.time_interval, 10),
    ({"timeInterval": 0.5}, lambda s: s.time_interval, 0.5),
    (
        {"q": "airQualityLevel>5"},
        lambda s: s.q and s.q.tree,
        Comparison(AttrPath(AQL), ">", 5),
    ),
    ({"q": 'name=="Eiffel%20Tower"'}, lambda s: s.q and s.q.tree.value, "Eiffel Tower"),  # type: ignore[union-attr]
    (
        {"q": "temperature.observedAt>2026-01-01T00:00:00Z"},
        lambda s: s.q and s.q.terms,
        (("temperature", TEMPERATURE),),
    ),
    (
        {
            "geoQ": {
                "geometry": "Point",
                "coordinates": [2.29, 48.85],
                "georel": "near;maxDistance==2000",
            }
        },
        lambda s: s.geo_q and (s.geo_q.query.max_distance, s.geo_q.query.geoproperty),
        (2000.0, LOCATION),
    ),
    (
        {
            "geoQ": {
                "geometry": "Polygon",
                "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                "georel": "within",
                "geoproperty": "where",
            }
        },
        lambda s: s.geo_q and (s.geo_q.query.georel, s.geo_q.query.geoproperty),
        ("within", CITY_NS + "where"),
    ),
    ({"scopeQ": "/Madrid/#"}, lambda s: s.scope_q and s.scope_q.tree, ScopeTerm("/Madrid/#")),
    (
        {"scopeQ": "/Madrid%2FCentro"},
        lambda s: s.scope_q and s.scope_q.tree,
        ScopeTerm("/Madrid/Centro"),
    ),
    ({"lang": "en"}, lambda s: s.lang, "en"),
    ({"lang": "fr,en;q=0.8"}, lambda s: s.lang, "fr,en;q=0.8"),
    ({"lang": "*"}, lambda s: s.lang, "*"),
    ({"datasetId": "urn:ngsi-ld:Dataset:a"}, lambda s: s.dataset_ids, ("urn:ngsi-ld:Dataset:a",)),
    ({"datasetId": ["@none", "urn:x:y", "@none"]}, lambda s: s.dataset_ids, ("@none", "urn:x:y")),
    ({"isActive": False}, lambda s: s.is_active, False),
    (
        {"expiresAt": "2030-01-01T10:00:00+02:00"},
        lambda s: s.expires_at,
        "2030-01-01T08:00:00.000Z",
    ),
    (
        {"expiresAt": "2030-01-01T00:00:00.123456Z"},
        lambda s: s.expires_at,
        "2030-01-01T00:00:00.123Z",
    ),
    ({"expiresAt": "2030-01-01T00:00"}, lambda s: s.expires_at, "2030-01-01T00:00:00.000Z"),
    ({"throttling": 0}, lambda s: s.throttling, 0),
    ({"throttling": 5.5}, lambda s: s.throttling, 5.5),
    (
        {"jsonldContext": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"},
        lambda s: s.jsonld_context,
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    ),
    (
        {"notification.attributes": ["name", "airQualityLevel", "name"]},
        lambda s: s.notification.attributes,
        (NAME, AQL),
    ),
    ({"notification.sysAttrs": True}, lambda s: s.notification.sys_attrs, True),
    ({"notification.format": "concise"}, lambda s: s.notification.format, "concise"),
    ({"notification.format": "keyValues"}, lambda s: s.notification.format, "keyValues"),
    ({"notification.showChanges": True}, lambda s: s.notification.show_changes, True),
    (
        {"notification.endpoint.uri": "https://alerts.example.org:8443/ngsi-ld?token=x"},
        lambda s: s.notification.endpoint.scheme,
        "https",
    ),
    (
        {"notification.endpoint.uri": "mqtt://user:secret@broker:1883/city/alerts"},
        lambda s: s.notification.endpoint.is_mqtt,
        True,
    ),
    (
        {"notification.endpoint.uri": "MQTTS://broker/city"},
        lambda s: s.notification.endpoint.scheme,
        "mqtts",
    ),
    (
        {"notification.endpoint.uri": "http://[::1]:1111/notify"},
        lambda s: s.notification.endpoint.uri,
        "http://[::1]:1111/notify",
    ),
    (
        {"notification.endpoint.accept": "application/ld+json"},
        lambda s: s.notification.endpoint.accept,
        "application/ld+json",
    ),
    (
        {"notification.endpoint.accept": "application/geo+json"},
        lambda s: s.notification.endpoint.accept,
        "application/geo+json",
    ),
    ({"notification.endpoint.timeout": 1000}, lambda s: s.notification.endpoint.timeout, 1000),
    ({"notification.endpoint.cooldown": 2.5}, lambda s: s.notification.endpoint.cooldown, 2.5),
    (
        {"notification.endpoint.receiverInfo": [{"key": "X-Auth-Token", "value": "abc"}]},
        lambda s: s.notification.endpoint.receiver_info,
        (("X-Auth-Token", "abc"),),
    ),
    (
        {"notification.endpoint.receiverInfo": []},
        lambda s: s.notification.endpoint.receiver_info,
        (),
    ),
    (
        {
            "notification.endpoint.uri": "mqtt://broker/city",
            "notification.endpoint.notifierInfo": [
                {"key": "MQTT-QoS", "value": "2"},
                {"key": "MQTT-Version", "value": "mqtt3.1.1"},
                {"key": "anything", "value": "else"},
            ],
        },
        lambda s: (s.notification.endpoint.mqtt_qos, s.notification.endpoint.mqtt_version),
        (2, "mqtt3.1.1"),
    ),
    (
        {
            "notification.endpoint.uri": "mqtt://broker/city",
            "notification.endpoint.receiverInfo": [{"key": "X-Name", "value": "Málaga"}],
        },
        lambda s: s.notification.endpoint.receiver_info,
        (("X-Name", "Málaga"),),
    ),
    (
        {"notification.endpoint.notifierInfo": [{"key": "anything", "value": ""}]},
        lambda s: s.notification.endpoint.notifier_info,
        (("anything", ""),),
    ),
]


@pytest.mark.parametrize(("updates", "get", "expected"), VALID)
def test_valid_member(updates: dict[str, Any], get: Get, expected: object) -> None:
    assert get(parse(updates)) == expected


# --- every member, invalid -----------------------------------------------------------

BAD = BadRequestData
UNSUPPORTED = OperationNotSupported

INVALID: list[tuple[dict[str, Any], type[NgsiLdError], str]] = [
    ({"type": DELETE}, BAD, 'a subscription needs "type": "Subscription"'),
    ({"type": "Entity"}, BAD, "type must be \"Subscription\", got 'Entity'"),
    ({"type": ["Subscription"]}, BAD, "type must be"),
    ({"id": "invalidId"}, BAD, "id must be a URI"),
    ({"id": ""}, BAD, "id must be a URI"),
    ({"id": 5}, BAD, "id must be a URI"),
    ({"entities": DELETE}, BAD, "a subscription needs entities, watchedAttributes or both"),
    ({"entities": []}, BAD, "entities must be a non-empty array of entity selectors"),
    ({"entities": {"type": "Building"}}, BAD, "entities must be a non-empty array"),
    ({"entities": ["Building"]}, BAD, "entities[0] must be a JSON object"),
    ({"entities": [{"id": "urn:ngsi-ld:Building:1"}]}, BAD, "entities[0] needs a type"),
    ({"entities": [{"type": ""}]}, BAD, "entities[0].type must be a non-empty string"),
    ({"entities": [{"type": "Building;;"}]}, BAD, "entities[0].type: expected an entity type"),
    ({"entities": [{"type": "Building", "foo": 1}]}, BAD, "unknown member 'entities[0].foo'"),
    (
        {"entities": [{"type": "Building", "idpattern": "x"}]},
        BAD,
        "(did you mean 'idPattern'?)",
    ),
    ({"entities": [{"type": "Building", "id": "nope"}]}, BAD, "entities[0].id must be a URI"),
    (
        {"entities": [{"type": "Building"}, {"type": "Building", "idPattern": "("}]},
        BAD,
        "entities[1].idPattern is not a valid regular expression",
    ),
    (
        {"entities": [{"type": "Building", "idPattern": "a" * 257}]},
        BAD,
        "entities[0].idPattern is longer than 256",
    ),
    ({"watchedAttributes": []}, BAD, "watchedAttributes must be a non-empty array"),
    ({"watchedAttributes": "name"}, BAD, "watchedAttributes must be a non-empty array"),
    ({"watchedAttributes": [3]}, BAD, "watchedAttributes[0] must be an attribute name"),
    ({"watchedAttributes": ["ok", "bad name"]}, BAD, "watchedAttributes[1] 'bad name'"),
    ({"notificationTrigger": []}, BAD, "notificationTrigger must be a non-empty array"),
    (
        {"notificationTrigger": ["entityChanged"]},
        BAD,
        "notificationTrigger[0] must be one of entityCreated, entityUpdated",
    ),
    ({"timeInterval": 0}, BAD, "timeInterval must be a number greater than 0, got 0"),
    ({"timeInterval": -1}, BAD, "timeInterval must be a number greater than 0"),
    ({"timeInterval": "10"}, BAD, "timeInterval must be a number"),
    ({"timeInterval": True}, BAD, "timeInterval must be a number"),
    (
        {"timeInterval": 10, "watchedAttributes": ["name"]},
        BAD,
        "timeInterval (periodic notifications) and watchedAttributes",
    ),
    ({"timeInterval": 10, "throttling": 5}, BAD, "throttling and timeInterval exclude each other"),
    ({"throttling": -1}, BAD, "throttling must be a number at least 0, got -1"),
    ({"throttling": float("inf")}, BAD, "throttling must be a number"),
    ({"q": ""}, BAD, "q must be a non-empty string"),
    ({"q": 5}, BAD, "q must be a non-empty string"),
    ({"q": "name=="}, BAD, "q: expected a value after '=='"),
    ({"q": "x" * 4097}, BAD, "q must be a non-empty string of at most 4096"),
    (
        {"geoQ": {"geometry": "Point", "coordinates": [1, 2]}},
        BAD,
        "geoQ: incomplete geo-query: georel missing",
    ),
    ({"geoQ": {}}, BAD, "geoQ: geoQ needs georel, geometry and coordinates"),
    (
        {"geoQ": {"geometry": "Point", "coordinates": [1, 2], "georel": "nearby"}},
        BAD,
        "geoQ: unknown georel 'nearby'",
    ),
    (
        {"geoQ": {"geometry": "Point", "coordinates": [1, 2], "georel": "within", "max": 1}},
        BAD,
        "unknown member 'geoQ.max'",
    ),
    (
        {
            "geoQ": {
                "geometry": "Point",
                "coordinates": [1, 2],
                "georel": "intersects",
                "geoproperty": "bad name",
            }
        },
        BAD,
        "geoQ",
    ),
    ({"geoQ": "near"}, BAD, "geoQ must be a JSON object"),
    ({"scopeQ": "Madrid"}, BAD, "scopeQ: expected a scope starting with '/'"),
    ({"scopeQ": ""}, BAD, "scopeQ must be a non-empty string"),
    ({"lang": "english language"}, BAD, "lang must be a language tag"),
    ({"lang": 5}, BAD, "lang must be a language tag"),
    ({"lang": "en;q=2"}, BAD, "lang must be a language tag"),
    ({"datasetId": []}, BAD, "datasetId must not be an empty array"),
    ({"datasetId": ["nope"]}, BAD, "datasetId must be a URI, '@none'"),
    ({"isActive": "yes"}, BAD, "isActive must be true or false, got 'yes'"),
    (
        {"expiresAt": "2000-01-01T00:00:00Z"},
        BAD,
        "expiresAt 2000-01-01T00:00:00Z is not in the future",
    ),
    ({"expiresAt": NOW}, BAD, "is not in the future"),
    ({"expiresAt": "tomorrow"}, BAD, "expiresAt must be an ISO 8601 date-time"),
    ({"jsonldContext": "not a url"}, BAD, "jsonldContext must be the http(s) URL"),
    ({"jsonldContext": "urn:x:y"}, BAD, "jsonldContext must be the http(s) URL"),
    ({"description": 5}, BAD, "description must be a string"),
    ({"subscriptionName": "x" * 4097}, BAD, "subscriptionName must be a string of at most"),
    ({"foo": 1}, BAD, "unknown member 'foo'; expected one of datasetId, description"),
    ({"watchedAttribute": ["a"]}, BAD, "(did you mean 'watchedAttributes'?)"),
    ({"csf": "p==1"}, UNSUPPORTED, "csf is not supported"),
    ({"temporalQ": {"timerel": "after"}}, UNSUPPORTED, "temporalQ is not supported"),
    ({"notification": DELETE}, BAD, "notification is mandatory and missing"),
    ({"notification": None}, BAD, "notification is mandatory: it cannot be null"),
    ({"notification": "http://x"}, BAD, "notification must be a JSON object"),
    ({"notification.endpoint": DELETE}, BAD, "notification.endpoint is mandatory and missing"),
    ({"notification.endpoint.uri": DELETE}, BAD, "notification.endpoint.uri is mandatory"),
    ({"notification.foo": 1}, BAD, "unknown member 'notification.foo'"),
    ({"notification.join": "inline"}, UNSUPPORTED, "notification.join is not supported"),
    ({"notification.pick": ["id"]}, UNSUPPORTED, "notification.pick is not supported"),
    ({"notification.attributes": []}, BAD, "notification.attributes must be a non-empty"),
    ({"notification.attributes": ["a b"]}, BAD, "notification.attributes[0]"),
    ({"notification.sysAttrs": "true"}, BAD, "notification.sysAttrs must be true or false"),
    ({"notification.format": "simplified"}, BAD, "notification.format must be one of normalized"),
    (
        {"notification.format": "keyValues", "notification.showChanges": True},
        BAD,
        "notification.showChanges cannot be true with format keyValues",
    ),
    ({"notification.showChanges": 1}, BAD, "notification.showChanges must be true or false"),
    ({"notification.endpoint": "http://x"}, BAD, "notification.endpoint must be a JSON object"),
    ({"notification.endpoint.foo": 1}, BAD, "unknown member 'notification.endpoint.foo'"),
    ({"notification.endpoint.uri": "ftp://host/x"}, BAD, "must use http, https, mqtt or mqtts"),
    ({"notification.endpoint.uri": "localhost:1111/notify"}, BAD, "must use http, https"),
    ({"notification.endpoint.uri": "/notify"}, BAD, "must use http, https"),
    ({"notification.endpoint.uri": "http:///notify"}, BAD, "notification.endpoint.uri has no host"),
    ({"notification.endpoint.uri": "http://host:99999/x"}, BAD, "is not a valid URI"),
    ({"notification.endpoint.uri": "http://host/a b"}, BAD, "must be an absolute URI"),
    ({"notification.endpoint.uri": "http://host/a\nb"}, BAD, "must be an absolute URI"),
    ({"notification.endpoint.uri": ""}, BAD, "must be an absolute URI"),
    ({"notification.endpoint.uri": 5}, BAD, "must be an absolute URI"),
    ({"notification.endpoint.uri": "http://h/" + "a" * 2048}, BAD, "must be an absolute URI"),
    ({"notification.endpoint.uri": "mqtt://broker"}, BAD, "must name a topic without wildcards"),
    ({"notification.endpoint.uri": "mqtt://broker/"}, BAD, "must name a topic"),
    ({"notification.endpoint.uri": "mqtt://broker/city/#"}, BAD, "must name a topic"),
    ({"notification.endpoint.uri": "mqtt://broker/city/+/x"}, BAD, "must name a topic"),
    ({"notification.endpoint.uri": "mqtt://broker/a?qos=1"}, BAD, "must name a topic"),
    (
        {"notification.endpoint.accept": "text/plain"},
        BAD,
        "notification.endpoint.accept must be one of",
    ),
    ({"notification.endpoint.timeout": 0}, BAD, "notification.endpoint.timeout must be a number"),
    (
        {"notification.endpoint.cooldown": -5},
        BAD,
        "notification.endpoint.cooldown must be a number",
    ),
    (
        {"notification.endpoint.receiverInfo": {"key": "a", "value": "b"}},
        BAD,
        "notification.endpoint.receiverInfo must be an array",
    ),
    (
        {"notification.endpoint.receiverInfo": [{"key": "k", "value": "v"}] * 65},
        BAD,
        "must be an array of at most 64",
    ),
    (
        {"notification.endpoint.receiverInfo": [{"key": "X-A"}]},
        BAD,
        'receiverInfo[0] must have exactly the members "key" and "value"',
    ),
    (
        {"notification.endpoint.receiverInfo": [{"key": "X A", "value": "v"}]},
        BAD,
        "receiverInfo[0].key must be an HTTP header name",
    ),
    (
        {"notification.endpoint.receiverInfo": [{"key": "Content-Type", "value": "x"}]},
        BAD,
        "'Content-Type' is a header the broker sets itself",
    ),
    (
        {"notification.endpoint.receiverInfo": [{"key": "X-A", "value": "a\r\nb"}]},
        BAD,
        "receiverInfo[0].value must be a string of at most 1024 characters without control",
    ),
    (
        {"notification.endpoint.receiverInfo": [{"key": "X-A", "value": 1}]},
        BAD,
        "receiverInfo[0].value must be a string",
    ),
    (
        {
            "notification.endpoint.receiverInfo": [
                {"key": "X-A", "value": "1"},
                {"key": "x-a", "value": "2"},
            ]
        },
        BAD,
        "receiverInfo[1].key 'x-a' is given twice",
    ),
    (
        {"notification.endpoint.receiverInfo": [{"key": "X-Name", "value": "Málaga"}]},
        BAD,
        "receiverInfo: the value of X-Name becomes an HTTP header and must be printable ASCII",
    ),
    (
        {"notification.endpoint.notifierInfo": [{"key": "", "value": "x"}]},
        BAD,
        "notifierInfo[0].key must be a non-empty string",
    ),
    (
        {"notification.endpoint.notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]},
        BAD,
        "notifierInfo: MQTT-QoS applies to mqtt:// and mqtts:// endpoints only",
    ),
    (
        {
            "notification.endpoint.uri": "mqtt://broker/city",
            "notification.endpoint.notifierInfo": [{"key": "MQTT-QoS", "value": "3"}],
        },
        BAD,
        "notifierInfo: MQTT-QoS must be one of 0, 1, 2, got '3'",
    ),
    (
        {
            "notification.endpoint.uri": "mqtts://broker/city",
            "notification.endpoint.notifierInfo": [{"key": "mqtt-version", "value": "mqtt4"}],
        },
        BAD,
        "notifierInfo: mqtt-version must be one of mqtt3.1.1, mqtt5.0",
    ),
]


@pytest.mark.parametrize(("updates", "error", "detail"), INVALID)
def test_invalid_member(updates: dict[str, Any], error: type[NgsiLdError], detail: str) -> None:
    with pytest.raises(error) as info:
        parse(updates)
    assert type(info.value) is error
    assert detail in info.value.detail


@pytest.mark.parametrize("body", [None, [], "Subscription", 3])
def test_a_subscription_is_an_object(body: object) -> None:
    with pytest.raises(BadRequestData, match="a subscription must be a JSON object"):
        parse_subscription(body, CITY, now=NOW)


def test_null_for_an_optional_member_means_absent() -> None:
    sub = parse({"q": None, "isActive": "urn:ngsi-ld:null", "csf": None})
    assert sub.q is None and sub.is_active is True and "isActive" not in sub.given


# --- the examples ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "body"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_examples_parse(name: str, body: dict[str, Any]) -> None:
    sub = parse_subscription(body, CITY, now=NOW)
    assert sub.notification.endpoint.uri == body["notification"]["endpoint"]["uri"]


def test_example_details() -> None:
    subs = {name: parse_subscription(body, CITY, now=NOW) for name, body in EXAMPLES}
    periodic = subs["periodic keyValues (ETSI 028_01)"]
    assert (periodic.id, periodic.time_interval, periodic.notification.format) == (
        "urn:ngsi-ld:Subscription:periodic",
        5,
        "keyValues",
    )
    stock = subs["low stock, watched attributes, q with a relationship (FIWARE tutorial style)"]
    assert stock.q is not None and {name for name, _ in stock.q.terms} == {
        "numberOfItems",
        "locatedIn",
    }
    mqtt = subs["MQTT with QoS and version"].notification.endpoint
    assert (mqtt.is_mqtt, mqtt.mqtt_qos, mqtt.mqtt_version) == (True, 1, "mqtt5.0")
    lamps = subs["geoQ near a point, scopeQ, expiry, throttling"]
    assert lamps.expires_at == "2030-01-01T00:00:00.000Z" and lamps.throttling == 10
    assert lamps.geo_q is not None and lamps.geo_q.query.geoproperty == LOCATION


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (  # ETSI 028_05_01
            minimal(timeInterval=10, throttling=5),
            BadRequestData,
        ),
        (minimal(throttling=-5), BadRequestData),  # ETSI 028_05_02
        ({}, BadRequestData),  # ETSI 028_02_02
        (  # ETSI pick with attributes: CityFabric has no pick at all
            minimal(
                notification={"endpoint": {"uri": RECEIVER}, "pick": ["id"], "attributes": ["id"]}
            ),
            OperationNotSupported,
        ),
    ],
)
def test_invalid_examples(body: dict[str, Any], error: type[NgsiLdError]) -> None:
    with pytest.raises(error):
        parse_subscription(body, CITY, now=NOW)


def test_the_geo_member_is_a_copy() -> None:
    body = body_with(
        {"geoQ": {"geometry": "Point", "coordinates": [1.0, 2.0], "georel": "near;maxDistance==5"}}
    )
    sub = parse_subscription(body, CITY, now=NOW)
    body["geoQ"]["coordinates"][0] = 9.0
    assert sub.geo_q is not None and sub.geo_q.member["coordinates"] == [1.0, 2.0]


# --- PATCH (clause 5.8.2) --------------------------------------------------------------


@pytest.fixture
def sub() -> Subscription:
    return parse(
        {
            "id": "urn:ngsi-ld:Subscription:p",
            "description": "before",
            "watchedAttributes": ["airQualityLevel"],
            "q": "airQualityLevel>3",
            "isActive": False,
            "notification.format": "concise",
            "notification.endpoint.accept": "application/ld+json",
            "notification.endpoint.receiverInfo": [{"key": "X-A", "value": "1"}],
        }
    )


def patch(sub: Subscription, body: dict[str, Any], ctx: Any = CITY) -> Subscription:
    return patch_subscription(sub, body, ctx, now=LATER)


def test_patch_replaces_the_members_present(sub: Subscription) -> None:
    new = patch(sub, {"description": "after", "entities": [{"type": "Tower"}]})
    assert new.description == "after"
    assert new.entities[0].types == TypeName(TOWER) and len(new.entities) == 1
    assert (new.created_at, new.modified_at) == (NOW, LATER)
    assert new.q == sub.q and new.notification == sub.notification and new.given == sub.given


@pytest.mark.parametrize("null", [None, "urn:ngsi-ld:null"])
def test_patch_null_removes_optional_members(sub: Subscription, null: object) -> None:
    new = patch(sub, {"q": null, "description": null, "isActive": null})
    assert (new.q, new.description, new.is_active) == (None, None, True)
    assert "isActive" not in new.given


def test_patch_merges_notification_and_endpoint(sub: Subscription) -> None:
    new = patch(sub, {"notification": {"format": "keyValues"}})
    assert new.notification.format == "keyValues"
    assert new.notification.endpoint == sub.notification.endpoint
    new = patch(sub, {"notification": {"endpoint": {"uri": "https://other.example.org/n"}}})
    endpoint = new.notification.endpoint
    assert endpoint.uri == "https://other.example.org/n"
    assert endpoint.accept == "application/ld+json" and endpoint.receiver_info == (("X-A", "1"),)
    new = patch(sub, {"notification": {"format": None, "endpoint": {"accept": None}}})
    assert (new.notification.format, new.notification.endpoint.accept) == (
        "normalized",
        "application/json",
    )
    assert not {"notification.format", "notification.endpoint.accept"} & new.given


def test_patch_the_etsi_update_fragment(sub: Subscription) -> None:  # ETSI 029_06
    fragment = {
        "type": "Subscription",
        "notification": {
            "format": "keyValues",
            "endpoint": {
                "uri": "http://my.second.endpoint.org/notify",
                "accept": "application/json",
            },
        },
    }
    new = patch(sub, fragment)
    assert new.notification.endpoint.uri == "http://my.second.endpoint.org/notify"
    assert new.notification.format == "keyValues"


def test_patch_resumes_a_paused_subscription(sub: Subscription) -> None:  # ETSI 5212_01
    new = patch(sub, {"isActive": True})
    assert new.is_active is True and "isActive" in new.given


PATCH_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"notification": {"endpoint": None}}, "notification.endpoint is mandatory: it cannot be null"),
    (
        {"notification": {"format": "keyValues", "endpoint": None}},
        "notification.endpoint is mandatory",
    ),
    ({"notification": None}, "notification is mandatory: it cannot be null"),
    ({"notification": {"endpoint": {"uri": None}}}, "notification.endpoint.uri is mandatory"),
    ({"id": "urn:ngsi-ld:Subscription:other"}, "id cannot change"),
    ({"type": "Entity"}, 'type must be "Subscription"'),
    ({}, "the fragment holds no member to update"),
    ({"type": "Subscription", "status": "active"}, "the fragment holds no member to update"),
    ({"timeInterval": 5}, "timeInterval (periodic notifications) and watchedAttributes"),
    ({"entities": None, "watchedAttributes": None}, "needs entities, watchedAttributes or both"),
    ({"notification": {"showChanges": True, "format": "keyValues"}}, "showChanges cannot be true"),
    ({"expiresAt": "2026-11-23T16:30:00Z"}, "is not in the future"),
    ({"watchedAttributes": []}, "watchedAttributes must be a non-empty array"),
    ({"unknown": 1}, "unknown member 'unknown'"),
]


@pytest.mark.parametrize(("body", "detail"), PATCH_ERRORS)
def test_patch_errors(sub: Subscription, body: dict[str, Any], detail: str) -> None:
    with pytest.raises(BadRequestData) as info:
        patch(sub, body)
    assert detail in info.value.detail


def test_patch_checks_the_endpoint_as_a_whole() -> None:
    mqtt = parse(
        {
            "notification.endpoint.uri": "mqtt://broker/city",
            "notification.endpoint.notifierInfo": [{"key": "MQTT-QoS", "value": "1"}],
        }
    )
    with pytest.raises(BadRequestData, match="MQTT-QoS applies to mqtt:// and mqtts://"):
        patch(mqtt, {"notification": {"endpoint": {"uri": RECEIVER}}})
    moved = patch(mqtt, {"notification": {"endpoint": {"uri": RECEIVER, "notifierInfo": None}}})
    assert moved.notification.endpoint.notifier_info == ()


def test_patch_is_not_a_fragment_object(sub: Subscription) -> None:
    with pytest.raises(BadRequestData, match="a subscription fragment must be a JSON object"):
        patch(sub, [])  # type: ignore[arg-type]


def test_patch_may_repeat_the_id_and_type(sub: Subscription) -> None:
    new = patch(sub, {"id": sub.id, "type": "Subscription", "description": "x"})
    assert new.description == "x"


def test_patch_csf_null_is_a_no_op_and_csf_is_unsupported(sub: Subscription) -> None:
    assert patch(sub, {"csf": None}).q == sub.q
    with pytest.raises(OperationNotSupported):
        patch(sub, {"csf": "a==1"})


def test_patch_expands_with_its_own_context_and_keeps_the_stored_one(sub: Subscription) -> None:
    new = patch(sub, {"watchedAttributes": ["aql"]}, OTHER)
    assert new.watched_attributes == (AQL,)
    assert new.context == sub.context == [CITY_URL]


def test_patch_of_an_expired_subscription_may_change_other_members() -> None:
    old = parse({"expiresAt": "2026-11-23T16:30:00Z"})
    new = patch(old, {"description": "renewed later", "expiresAt": "2027-01-01T00:00:00Z"})
    assert new.expires_at == "2027-01-01T00:00:00.000Z"
    assert patch(old, {"description": "still expired"}).expires_at == old.expires_at


def test_patch_core_context_names(sub: Subscription) -> None:
    new = patch(sub, {"notification": {"attributes": ["name"]}}, CORE)
    assert new.notification.attributes == (NAME,)
