"""The Subscription model: status with an injected clock, index keys, endpoint helpers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cityfabric.ngsild.query import TypeAnd, TypeName, TypeOr
from cityfabric.notify.model import (
    Endpoint,
    State,
    Subscription,
    SubscriptionStatus,
    instant,
    new_subscription_id,
    status_of,
    type_keys,
    utc_text,
    watched,
)
from cityfabric.notify.parse import parse_subscription
from tests.notify.samples import AQL, BUILDING, CITY, CITY_NS, LATER, NOW, TOWER, minimal

T1, T2 = "2026-11-23T15:00:00.000Z", "2026-11-23T15:30:00.000Z"
ok = SubscriptionStatus(times_sent=2, last_notification=T2, last_success=T2)
failed = SubscriptionStatus(times_sent=2, times_failed=1, last_success=T1, last_failure=T2)
failed_only = SubscriptionStatus(times_failed=1, last_failure=T1, failure_reason="HTTP 500")
recovered = SubscriptionStatus(last_success=T2, last_failure=T1)
same_time = SubscriptionStatus(last_success=T1, last_failure=T1)


def subscription(**changes: object) -> Subscription:
    return replace(parse_subscription(minimal(), CITY, now=NOW), **changes)  # type: ignore[arg-type]


STATUS_CASES: list[tuple[dict[str, object], SubscriptionStatus, str, State]] = [
    ({}, SubscriptionStatus(), NOW, "active"),
    ({}, ok, NOW, "active"),
    ({"is_active": False}, SubscriptionStatus(), NOW, "paused"),
    ({"expires_at": LATER}, SubscriptionStatus(), NOW, "active"),
    ({"expires_at": LATER}, SubscriptionStatus(), LATER, "expired"),  # expiresAt <= now
    ({"expires_at": NOW}, SubscriptionStatus(), LATER, "expired"),
    ({"expires_at": NOW, "is_active": False}, SubscriptionStatus(), LATER, "expired"),
    ({"expires_at": NOW}, failed, LATER, "expired"),
    ({}, failed, NOW, "failed"),
    ({}, failed_only, NOW, "failed"),
    ({}, recovered, NOW, "active"),
    ({}, same_time, NOW, "active"),
    ({"is_active": False}, failed, NOW, "paused"),
    ({"expires_at": "2026-11-23T17:00:00+01:00"}, SubscriptionStatus(), NOW, "expired"),
]


@pytest.mark.parametrize(("changes", "counters", "now", "expected"), STATUS_CASES)
def test_status_of(
    changes: dict[str, object], counters: SubscriptionStatus, now: str, expected: State
) -> None:
    assert status_of(subscription(**changes), counters, now) == expected


def test_failing() -> None:
    assert [s.failing for s in (ok, failed, failed_only, recovered, same_time)] == [
        False,
        True,
        True,
        False,
        False,
    ]


WATCHED_CASES: list[tuple[dict[str, object], tuple[object, object]]] = [
    ({}, (frozenset({BUILDING}), None)),
    ({"entities": [{"type": "Building,Tower"}]}, (frozenset({BUILDING, TOWER}), None)),
    ({"entities": [{"type": "Building|Tower"}, {"type": "Tower"}]}, ({BUILDING, TOWER}, None)),
    ({"entities": [{"type": "Building;Tower"}]}, (frozenset({BUILDING}), None)),
    (
        {"entities": [{"type": "(Building;Tower),Landmark"}]},
        ({BUILDING, CITY_NS + "Landmark"}, None),
    ),
    (
        {"entities": [{"type": "Building", "id": "urn:ngsi-ld:Building:1"}]},
        (frozenset({BUILDING}), None),
    ),
    ({"watchedAttributes": ["airQualityLevel"]}, ({BUILDING}, frozenset({AQL}))),
    ({"entities": None, "watchedAttributes": ["airQualityLevel"]}, (None, {AQL})),
]


@pytest.mark.parametrize(("members", "expected"), WATCHED_CASES)
def test_watched(members: dict[str, object], expected: tuple[object, object]) -> None:
    body = {k: v for k, v in minimal(**members).items() if v is not None}
    assert watched(parse_subscription(body, CITY, now=NOW)) == expected


def test_type_keys_of_an_and_take_its_smallest_term() -> None:
    a, b, c = TypeName("a"), TypeName("b"), TypeName("c")
    assert type_keys(TypeAnd((TypeOr((a, b)), c))) == {"c"}
    assert type_keys(TypeOr((TypeAnd((a, b)), c))) == {"a", "c"}


def test_endpoint_helpers() -> None:
    http = Endpoint("HTTP://example.org/n")
    assert (http.scheme, http.is_mqtt, http.mqtt_qos, http.mqtt_version) == (
        "http",
        False,
        0,
        "mqtt5.0",
    )
    mqtt = Endpoint("mqtts://b/t", notifier_info=(("mqtt-qos", "2"), ("MQTT-Version", "mqtt3.1.1")))
    assert (mqtt.scheme, mqtt.is_mqtt, mqtt.mqtt_qos, mqtt.mqtt_version) == (
        "mqtts",
        True,
        2,
        "mqtt3.1.1",
    )


def test_new_ids_are_uuid_urns() -> None:
    first, second = new_subscription_id(), new_subscription_id()
    assert first != second and first.startswith("urn:ngsi-ld:Subscription:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T01:00:00+01:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.5Z", datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_instant(text: str, expected: datetime) -> None:
    assert instant(text) == expected


def test_utc_text() -> None:
    tz = timezone(timedelta(hours=-3))
    assert (
        utc_text(datetime(2026, 1, 1, 21, 30, 0, 123999, tzinfo=tz)) == "2026-01-02T00:30:00.123Z"
    )
    assert utc_text(instant(NOW)) == NOW
