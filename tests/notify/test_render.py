"""GET representation: shape, members as written, status fields, compaction per caller."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cityfabric.ngsild.context import ActiveContext
from cityfabric.notify.model import SubscriptionStatus
from cityfabric.notify.parse import parse_subscription, patch_subscription
from cityfabric.notify.render import render_subscription
from tests.notify.samples import CITY, CORE, EXAMPLES, LATER, NOW, OTHER, RECEIVER, minimal
from tests.notify.strategies import bodies

FRESH = SubscriptionStatus()


def render(body: dict[str, Any], status: SubscriptionStatus = FRESH, **kw: Any) -> dict[str, Any]:
    sub = parse_subscription(body, CITY, now=NOW)
    return render_subscription(sub, CITY.compact, status, now=kw.pop("now", NOW), **kw)


def test_shape_of_the_etsi_028_01_expectation() -> None:
    assert render(EXAMPLES[0][1]) == {
        "id": "urn:ngsi-ld:Subscription:periodic",
        "type": "Subscription",
        "timeInterval": 5,
        "entities": [{"type": "Building"}],
        "notification": {
            "format": "keyValues",
            "endpoint": {"uri": RECEIVER, "accept": "application/json"},
            "timesSent": 0,
            "timesFailed": 0,
        },
        "status": "active",
        "notificationTrigger": ["attributeCreated", "attributeUpdated"],
    }


def test_every_member_as_written() -> None:
    body = dict(EXAMPLES[-1][1])
    out = render(body)
    assert out["status"] == "active"
    for key in ("id", "subscriptionName", "entities", "watchedAttributes", "q", "geoQ"):
        assert out[key] == body[key]
    assert (out["scopeQ"], out["throttling"], out["lang"]) == ("/Madrid/#", 10, "es,en;q=0.5")
    assert out["expiresAt"] == "2030-01-01T00:00:00.000Z"
    assert out["notification"] == {
        "format": "concise",
        "endpoint": {"uri": "https://alerts.example.org/ngsi-ld", "timeout": 2000},
        "timesSent": 0,
        "timesFailed": 0,
    }
    assert "isActive" not in out and "createdAt" not in out


def test_defaulted_members_only_when_written() -> None:
    written = render(
        minimal(
            isActive=True,
            notification={
                "sysAttrs": False,
                "showChanges": False,
                "format": "normalized",
                "endpoint": {"uri": RECEIVER, "accept": "application/json"},
            },
        )
    )
    assert written["isActive"] is True
    assert {k: written["notification"][k] for k in ("sysAttrs", "showChanges", "format")} == {
        "sysAttrs": False,
        "showChanges": False,
        "format": "normalized",
    }
    assert written["notification"]["endpoint"]["accept"] == "application/json"
    bare = render(minimal())
    assert "isActive" not in bare
    assert set(bare["notification"]) == {"endpoint", "timesSent", "timesFailed"}
    assert bare["notification"]["endpoint"] == {"uri": RECEIVER}


def test_optional_members() -> None:
    out = render(
        minimal(
            description="d",
            datasetId="@none",
            jsonldContext="https://example.org/c.jsonld",
            notification={
                "attributes": ["airQualityLevel"],
                "endpoint": {
                    "uri": "mqtt://b/t",
                    "cooldown": 5,
                    "receiverInfo": [{"key": "X-A", "value": "1"}],
                    "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}],
                },
            },
        )
    )
    assert (out["description"], out["datasetId"], out["jsonldContext"]) == (
        "d",
        ["@none"],
        "https://example.org/c.jsonld",
    )
    assert out["notification"]["attributes"] == ["airQualityLevel"]
    assert out["notification"]["endpoint"] == {
        "uri": "mqtt://b/t",
        "cooldown": 5,
        "receiverInfo": [{"key": "X-A", "value": "1"}],
        "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}],
    }


def test_status_and_delivery_fields() -> None:
    t1, t2 = "2026-11-23T15:00:00.000Z", "2026-11-23T15:30:00.000Z"
    good = SubscriptionStatus(times_sent=3, last_notification=t2, last_success=t2)
    out = render(minimal(), good)
    assert out["status"] == "active"
    assert out["notification"] | {"endpoint": None} == {
        "endpoint": None,
        "timesSent": 3,
        "timesFailed": 0,
        "lastNotification": t2,
        "lastSuccess": t2,
        "status": "ok",
    }
    bad = SubscriptionStatus(
        times_sent=3,
        times_failed=2,
        last_notification=t2,
        last_success=t1,
        last_failure=t2,
        failure_reason="HTTP 503 from http://localhost:1111/notify",
    )
    out = render(minimal(), bad)
    assert out["status"] == "failed"
    assert out["notification"]["status"] == "failed"
    assert out["notification"]["lastFailure"] == t2
    assert out["notification"]["lastFailureReason"].startswith("HTTP 503")


def test_status_follows_the_clock() -> None:
    body = minimal(expiresAt="2026-11-23T16:30:00Z")
    assert render(body)["status"] == "active"
    assert render(body, now=LATER)["status"] == "expired"
    assert render(minimal(isActive=False))["status"] == "paused"


def test_sys_attrs() -> None:
    out = render(minimal(), sys_attrs=True)
    assert (out["createdAt"], out["modifiedAt"]) == (NOW, NOW)


def test_names_are_compacted_for_the_caller() -> None:
    body = minimal(
        entities=[{"type": "Building"}],
        watchedAttributes=["airQualityLevel"],
        q='airQualityLevel>3;name=="x"',
        geoQ={
            "geometry": "Point",
            "coordinates": [1, 2],
            "georel": "near;maxDistance==9",
            "geoproperty": "where",
        },
        notification={"attributes": ["airQualityLevel"], "endpoint": {"uri": RECEIVER}},
    )
    sub = parse_subscription(body, CITY, now=NOW)
    mine = render_subscription(sub, CITY.compact, FRESH, now=NOW)
    assert mine["q"] == body["q"] and mine["entities"] == body["entities"]
    theirs = render_subscription(sub, OTHER.compact, FRESH, now=NOW)
    assert theirs["entities"] == [{"type": "Bldg"}]
    assert theirs["watchedAttributes"] == ["aql"]
    assert theirs["q"] == 'aql>3;name=="x"'
    assert theirs["geoQ"]["geoproperty"] == "spot"
    assert theirs["notification"]["attributes"] == ["aql"]


def test_a_type_expression_is_reprinted_when_names_differ() -> None:
    sub = parse_subscription(minimal(entities=[{"type": "(Building|Tower)"}]), CITY, now=NOW)
    assert render_subscription(sub, CITY.compact, FRESH, now=NOW)["entities"] == [
        {"type": "(Building|Tower)"}
    ]
    out = render_subscription(sub, OTHER.compact, FRESH, now=NOW)
    assert out["entities"] == [{"type": "Bldg,https://example.org/city#Tower"}]


def test_a_patch_in_another_context_renders_for_each_caller() -> None:
    sub = parse_subscription(minimal(), CITY, now=NOW)
    sub = patch_subscription(sub, {"watchedAttributes": ["aql"]}, OTHER, now=LATER)
    assert render_subscription(sub, CITY.compact, FRESH, now=NOW)["watchedAttributes"] == [
        "airQualityLevel"
    ]


CONTEXTS = st.sampled_from([CITY, CORE])


@settings(max_examples=75, deadline=None)
@given(bodies(), CONTEXTS)
def test_a_rendered_subscription_can_be_sent_back(body: dict[str, Any], ctx: ActiveContext) -> None:
    """GET then POST gives the same subscription; GET of that gives the same JSON."""
    sub = parse_subscription(body, ctx, now=NOW)
    shown = render_subscription(sub, ctx.compact, FRESH, now=NOW)
    again = parse_subscription(shown, ctx, now=NOW)
    assert render_subscription(again, ctx.compact, FRESH, now=NOW) == shown
    assert again.q == sub.q or (again.q and sub.q and again.q.tree == sub.q.tree)
    assert [s.types for s in again.entities] == [s.types for s in sub.entities]
    assert (again.notification, again.watched_attributes) == (
        sub.notification,
        sub.watched_attributes,
    )
    assert again.given == sub.given and again.expires_at == sub.expires_at


def test_names_that_do_not_fit_q_syntax_stay_iris() -> None:
    body = minimal(watchedAttributes=["airQualityLevel"], q="airQualityLevel>3")
    sub = parse_subscription(body, CORE, now=NOW)  # the default-context IRI
    out = render_subscription(sub, CITY.compact, FRESH, now=NOW)  # a CITY term has the name
    assert out["watchedAttributes"] == ["ngsi-ld:default-context/airQualityLevel"]
    assert out["q"] == "https://uri.etsi.org/ngsi-ld/default-context/airQualityLevel>3"
    again = parse_subscription(out, CITY, now=NOW)
    assert again.q is not None and sub.q is not None and again.q.tree == sub.q.tree
    assert again.watched_attributes == sub.watched_attributes
