"""Shared test data for the subscription model: contexts, a clock, example payloads.

The examples follow the shapes of the NGSI-LD specification (GS CIM 009 clause 5.2.12),
of the ETSI NGSI-LD test suite and of the FIWARE tutorials; they are written here, not
copied.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from cityfabric.ngsild.context import ActiveContext, core_context
from cityfabric.ngsild.model import DEFAULT_VOCAB

NOW: Final = "2026-11-23T16:00:00.000Z"
LATER: Final = "2026-11-23T17:00:00.000Z"

CITY_URL: Final = "https://example.org/city/context.jsonld"
CITY_NS: Final = "https://example.org/city#"
CITY: Final = ActiveContext.from_locals(
    [
        {
            "ex": CITY_NS,
            "Building": CITY_NS + "Building",
            "Tower": CITY_NS + "Tower",
            "Landmark": CITY_NS + "Landmark",
            "airQualityLevel": CITY_NS + "airQualityLevel",
            "temperature": CITY_NS + "temperature",
            "where": CITY_NS + "where",
        }
    ],
    source=[CITY_URL],
    link_path=CITY_URL,
)
# the same IRIs under other names, as another client would see them
OTHER: Final = ActiveContext.from_locals(
    [{"Bldg": CITY_NS + "Building", "aql": CITY_NS + "airQualityLevel", "spot": CITY_NS + "where"}],
    source={"@context": {"Bldg": CITY_NS + "Building"}},
    link_path=None,
)
CORE: Final = core_context()

BUILDING: Final = CITY_NS + "Building"
TOWER: Final = CITY_NS + "Tower"
AQL: Final = CITY_NS + "airQualityLevel"
TEMPERATURE: Final = CITY_NS + "temperature"
NAME: Final = DEFAULT_VOCAB + "name"
RECEIVER: Final = "http://localhost:1111/notify"

MINIMAL: Final[dict[str, Any]] = {
    "type": "Subscription",
    "entities": [{"type": "Building"}],
    "notification": {"endpoint": {"uri": RECEIVER}},
}


def minimal(**members: Any) -> dict[str, Any]:
    """A fresh copy of MINIMAL with top-level members added or replaced."""
    body = copy.deepcopy(MINIMAL)
    body.update(members)
    return body


# --- examples: (name, body) ----------------------------------------------------------

EXAMPLES: Final[list[tuple[str, dict[str, Any]]]] = [
    (
        "periodic keyValues (ETSI 028_01)",
        {
            "id": "urn:ngsi-ld:Subscription:periodic",
            "type": "Subscription",
            "timeInterval": 5,
            "entities": [{"type": "Building"}],
            "notification": {
                "format": "keyValues",
                "endpoint": {"uri": RECEIVER, "accept": "application/json"},
            },
            "@context": [CITY_URL],
        },
    ),
    (
        "watched attribute with q",
        {
            "id": "urn:ngsi-ld:Subscription:air",
            "type": "Subscription",
            "isActive": True,
            "watchedAttributes": ["airQualityLevel"],
            "q": 'name=="Eiffel%20Tower"',
            "entities": [{"type": "Building"}],
            "notification": {"endpoint": {"uri": RECEIVER, "accept": "application/json"}},
        },
    ),
    (
        "type expression and entityCreated",
        {
            "type": "Subscription",
            "entities": [{"type": "(Building|Tower)"}],
            "notificationTrigger": ["entityCreated"],
            "notification": {"endpoint": {"uri": RECEIVER}},
        },
    ),
    (
        "attributeDeleted with sysAttrs",
        {
            "type": "Subscription",
            "entities": [{"type": "Building"}],
            "watchedAttributes": ["name"],
            "notificationTrigger": ["attributeDeleted"],
            "notification": {
                "format": "normalized",
                "sysAttrs": True,
                "endpoint": {"uri": RECEIVER, "accept": "application/json"},
            },
        },
    ),
    (
        "showChanges",
        {
            "type": "Subscription",
            "entities": [{"type": "Building"}],
            "notification": {"endpoint": {"uri": RECEIVER}, "showChanges": True},
        },
    ),
    (
        "receiverInfo",
        {
            "type": "Subscription",
            "entities": [{"type": "Building"}],
            "notification": {
                "format": "normalized",
                "endpoint": {
                    "uri": RECEIVER,
                    "accept": "application/json",
                    "receiverInfo": [{"key": "X-Additional-Key", "value": "Value"}],
                },
            },
        },
    ),
    (
        "jsonldContext for notifications",
        {
            "type": "Subscription",
            "entities": [{"type": "Building"}],
            "notification": {
                "format": "normalized",
                "endpoint": {"uri": RECEIVER, "accept": "application/ld+json"},
            },
            "jsonldContext": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
        },
    ),
    (
        "datasetId",
        {
            "type": "Subscription",
            "entities": [{"type": "Building"}],
            "notification": {"endpoint": {"uri": RECEIVER, "accept": "application/ld+json"}},
            "datasetId": ["urn:ngsi-ld:Dataset:french-name"],
        },
    ),
    (
        "paused",
        {
            "type": "Subscription",
            "entities": [{"type": "Building"}],
            "isActive": False,
            "notification": {"endpoint": {"uri": RECEIVER}},
        },
    ),
    (
        "MQTT with QoS and version",
        {
            "type": "Subscription",
            "entities": [{"id": "urn:ngsi-ld:Building:store001", "type": "Building"}],
            "notification": {
                "endpoint": {
                    "uri": "mqtt://mosquitto:1883/ngsild-test-suite/topic",
                    "accept": "application/json",
                    "notifierInfo": [
                        {"key": "MQTT-Version", "value": "mqtt5.0"},
                        {"key": "MQTT-QoS", "value": "1"},
                    ],
                    "receiverInfo": [{"key": "test-receiver-key", "value": "test-receiver-info"}],
                }
            },
        },
    ),
    (
        "low stock, watched attributes, q with a relationship (FIWARE tutorial style)",
        {
            "description": "Notify me of low stock in Store 001",
            "type": "Subscription",
            "entities": [{"type": "Shelf"}],
            "watchedAttributes": ["numberOfItems"],
            "q": "numberOfItems<10;locatedIn==urn:ngsi-ld:Building:store001",
            "notification": {
                "attributes": ["numberOfItems", "stocks", "locatedIn"],
                "format": "keyValues",
                "endpoint": {"uri": "http://tutorial:3000/subscription/low-stock-store001"},
            },
        },
    ),
    (
        "geoQ near a point, scopeQ, expiry, throttling",
        {
            "id": "urn:ngsi-ld:Subscription:madrid-lamps",
            "type": "Subscription",
            "subscriptionName": "lamp failures near Sol",
            "entities": [{"idPattern": "^urn:ngsi-ld:Streetlight:.*", "type": "Streetlight"}],
            "watchedAttributes": ["status"],
            "q": 'status=="defectiveLamp"',
            "geoQ": {
                "geometry": "Point",
                "coordinates": [-3.7035, 40.4169],
                "georel": "near;maxDistance==2000",
                "geoproperty": "location",
            },
            "scopeQ": "/Madrid/#",
            "throttling": 10,
            "expiresAt": "2030-01-01T00:00:00Z",
            "lang": "es,en;q=0.5",
            "notification": {
                "format": "concise",
                "endpoint": {"uri": "https://alerts.example.org/ngsi-ld", "timeout": 2000},
            },
        },
    ),
]
