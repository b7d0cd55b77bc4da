"""/ngsi-ld/v1/subscriptions through the ASGI app on a temporary SQLite file."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_entities import B, problem
from tests.api.test_no_500 import json_values, ok
from tests.conftest import STREETLIGHT_CTX, link
from tests.notify.samples import CITY_NS
from tests.notify.strategies import bodies

S = f"{B}/subscriptions"
SDM = "https://smartdatamodels.org/dataModel.Streetlighting/"
CORE_CTX = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
RECEIVER = "http://127.0.0.1:9/notify"
LD = {"Content-Type": "application/ld+json"}
SL = link(STREETLIGHT_CTX)
T0 = "2026-11-23T16:00:00.000Z"


class Clock:
    """The service's clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> str:
        return self.now


@pytest.fixture
def clock(client: TestClient) -> Clock:
    fake = Clock()
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.subscriptions.clock = fake
    return fake


def lamps(**members: Any) -> dict[str, Any]:
    """A subscription to lamp failures, with members added or replaced."""
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "watchedAttributes": ["powerState"],
        "q": 'powerState=="off"',
        "notification": {"attributes": ["powerState"], "endpoint": {"uri": RECEIVER}},
    }
    body.update(members)
    return body


def sub_id(n: int) -> str:
    return f"urn:ngsi-ld:Subscription:{n}"


def create(client: TestClient, body: dict[str, Any], **headers: str) -> str:
    r = client.post(S, json=body, headers=headers)
    assert r.status_code == 201, r.text
    location: str = r.headers["location"]
    assert location.startswith(S + "/")
    return location


def get(client: TestClient, url: str, **headers: str) -> dict[str, Any]:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def patch(client: TestClient, url: str, body: Any, **headers: str) -> None:
    r = client.patch(url, json=body, headers=headers)
    assert r.status_code == 204, r.text


# --- create and retrieve ---------------------------------------------------------------


def test_create_and_retrieve(client: TestClient, clock: Clock) -> None:
    url = create(client, lamps(id=sub_id(1)), **SL)
    assert url == f"{S}/{sub_id(1)}"
    r = client.get(url, headers=SL)
    assert r.headers["content-type"] == "application/json"
    assert STREETLIGHT_CTX in r.headers["link"]
    assert r.json() == {
        "id": sub_id(1),
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "watchedAttributes": ["powerState"],
        "notificationTrigger": ["attributeCreated", "attributeUpdated"],
        "q": 'powerState=="off"',
        "notification": {
            "attributes": ["powerState"],
            "endpoint": {"uri": RECEIVER},
            "timesSent": 0,
            "timesFailed": 0,
        },
        "status": "active",
    }
    # without the caller's @context the names come back as IRIs
    plain = get(client, url)
    assert plain["entities"] == [{"type": SDM + "Streetlight"}]
    assert plain["watchedAttributes"] == [SDM + "powerState"]
    assert plain["notification"]["attributes"] == [SDM + "powerState"]
    sys = get(client, f"{url}?options=sysAttrs", **SL)
    assert sys["createdAt"] == sys["modifiedAt"] == T0


def test_generated_id(client: TestClient) -> None:
    url = create(client, lamps(), **SL)
    generated = url.removeprefix(S + "/")
    assert re.fullmatch(r"urn:ngsi-ld:Subscription:[0-9a-f-]{36}", generated)
    assert get(client, url)["id"] == generated


def test_every_member_round_trips_through_get(client: TestClient) -> None:
    full = lamps(
        id=sub_id(1),
        subscriptionName="lamp failures",
        description="every lamp that goes off near the port",
        notificationTrigger=["entityCreated", "attributeUpdated"],
        geoQ={
            "geometry": "Point",
            "coordinates": [117.7, 39.1],
            "georel": "near;maxDistance==2000",
            "geoproperty": "location",
        },
        scopeQ="/Tianjin/#",
        lang="en",
        datasetId=["urn:ngsi-ld:Dataset:a"],
        isActive=True,
        expiresAt="2030-01-01T00:00:00.000Z",
        throttling=10,
        jsonldContext=STREETLIGHT_CTX,
        notification={
            "attributes": ["powerState"],
            "format": "keyValues",
            "sysAttrs": True,
            "showChanges": False,
            "endpoint": {
                "uri": "mqtt://127.0.0.1:1883/city/lamps",
                "accept": "application/json",
                "timeout": 2000,
                "cooldown": 500,
                "receiverInfo": [{"key": "X-City", "value": "Tianjin"}],
                "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}],
            },
        },
    )
    url = create(client, full, **SL)
    got = get(client, url, **SL)
    expected = copy.deepcopy(full)
    expected["notification"].update(timesSent=0, timesFailed=0)
    expected["status"] = "active"
    assert got == expected


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "status", "detail"),
    [
        (lamps(type="Entity"), "BadRequestData", 400, "type"),
        ({k: v for k, v in lamps().items() if k != "notification"}, "BadRequestData", 400, ""),
        (lamps(notification={"endpoint": {"uri": "ftp://x/y"}}), "BadRequestData", 400, "uri"),
        (lamps(q="powerState=="), "BadRequestData", 400, "q"),
        (lamps(watchedAttributes=[], entities=[]), "BadRequestData", 400, ""),
        (lamps(expiresAt="2020-01-01T00:00:00Z"), "BadRequestData", 400, "expiresAt"),
        (lamps(id="not a uri"), "BadRequestData", 400, "id"),
        (lamps(colour="red"), "BadRequestData", 400, "colour"),
        (lamps(csf="x"), "OperationNotSupported", 422, "csf"),
        ([lamps()], "BadRequestData", 400, ""),
    ],
)
def test_create_errors(
    client: TestClient, clock: Clock, body: Any, kind: str, status: int, detail: str
) -> None:
    found = problem(client.post(S, json=body, headers=SL), status, kind)
    assert detail in found["detail"]
    assert client.get(S).json() == []


def test_request_errors(client: TestClient) -> None:
    problem(
        client.post(S, content=b"{", headers={"Content-Type": "application/json"}),
        400,
        "InvalidRequest",
    )
    problem(
        client.post(S, content=b"", headers={"Content-Type": "application/json"}),
        400,
        "InvalidRequest",
    )
    problem(
        client.post(S, content=b"{}", headers={"Content-Type": "text/plain"}), 415, "InvalidRequest"
    )
    problem(client.get(S, headers={"Accept": "text/csv"}), 406, "InvalidRequest")
    problem(client.get(S, params={"options": "keyValues"}), 400, "BadRequestData")
    problem(client.get(S, headers={"NGSILD-Tenant": "bad tenant!"}), 400, "BadRequestData")
    problem(client.get(f"{S}/not-a-uri"), 400, "BadRequestData")
    problem(client.patch(f"{S}/not-a-uri", json={"isActive": False}), 400, "BadRequestData")
    problem(client.delete(f"{S}/not-a-uri"), 400, "BadRequestData")


def test_already_exists_and_not_found(client: TestClient) -> None:
    url = create(client, lamps(id=sub_id(1)), **SL)
    found = problem(client.post(S, json=lamps(id=sub_id(1)), headers=SL), 409, "AlreadyExists")
    assert sub_id(1) in found["detail"]
    missing = f"{S}/{sub_id(2)}"
    problem(client.get(missing), 404, "ResourceNotFound")
    problem(client.patch(missing, json={"isActive": False}), 404, "ResourceNotFound")
    problem(client.delete(missing), 404, "ResourceNotFound")
    assert client.delete(url).status_code == 204
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.delete(url), 404, "ResourceNotFound")


def test_nonexistent_tenant(client: TestClient) -> None:
    ghost = {"NGSILD-Tenant": "ghost"}
    url = f"{S}/{sub_id(1)}"
    problem(client.get(S, headers=ghost), 404, "NonexistentTenant")
    problem(client.get(url, headers=ghost), 404, "NonexistentTenant")
    problem(client.patch(url, json={"isActive": False}, headers=ghost), 404, "NonexistentTenant")
    problem(client.delete(url, headers=ghost), 404, "NonexistentTenant")
    # the default tenant always exists
    assert client.get(S).json() == []


# --- tenants ---------------------------------------------------------------------------


def test_tenants_are_isolated(client: TestClient) -> None:
    a, b = {"NGSILD-Tenant": "tianjin"}, {"NGSILD-Tenant": "minsk"}
    create(client, lamps(id=sub_id(1)), **SL, **a)
    create(client, lamps(id=sub_id(1), description="minsk"), **SL, **b)  # same id, other tenant
    assert [s["id"] for s in client.get(S, headers=a).json()] == [sub_id(1)]
    assert client.get(f"{S}/{sub_id(1)}", headers=b).json()["description"] == "minsk"
    problem(client.get(f"{S}/{sub_id(1)}"), 404, "ResourceNotFound")
    assert client.delete(f"{S}/{sub_id(1)}", headers=a).status_code == 204
    assert get(client, f"{S}/{sub_id(1)}", **b)["description"] == "minsk"
    # a subscription creates its tenant, as an entity does
    assert client.get(f"{B}/entities", params={"type": "T"}, headers=a).json() == []


# --- paging ----------------------------------------------------------------------------


def test_list_pages_in_creation_order(client: TestClient) -> None:
    order = [5, 3, 9, 1, 7]
    for n in order:
        create(client, lamps(id=sub_id(n)), **SL)
    r = client.get(S, headers=SL)
    assert [s["id"] for s in r.json()] == [sub_id(n) for n in order]
    assert "ngsild-results-count" not in r.headers
    r = client.get(S, params={"limit": "2", "offset": "2", "count": "true"}, headers=SL)
    assert [s["id"] for s in r.json()] == [sub_id(9), sub_id(1)]
    assert r.headers["ngsild-results-count"] == "5"
    links = r.headers["link"]
    assert re.search(r"<[^>]*offset=4[^>]*>; rel=\"next\"", links)
    assert re.search(r"<[^>]*offset=0[^>]*>; rel=\"prev\"", links)
    assert STREETLIGHT_CTX in links
    last = client.get(S, params={"limit": "2", "offset": "4", "count": "true"})
    assert [s["id"] for s in last.json()] == [sub_id(7)]
    assert 'rel="next"' not in last.headers["link"]
    counted = client.get(S, params={"limit": "0", "count": "true"})
    assert counted.json() == [] and counted.headers["ngsild-results-count"] == "5"
    default = [create(client, lamps(), **SL) for _ in range(20)]
    assert len(client.get(S).json()) == 20 and len(default) == 20
    assert len(client.get(S, params={"limit": "1000"}).json()) == 25


@pytest.mark.parametrize(
    ("params", "status", "kind"),
    [
        ({"limit": "1001"}, 403, "TooManyResults"),
        ({"limit": "0"}, 400, "BadRequestData"),
        ({"limit": "-1"}, 400, "BadRequestData"),
        ({"limit": "ten"}, 400, "BadRequestData"),
        ({"offset": "-3"}, 400, "BadRequestData"),
        ({"count": "maybe"}, 400, "InvalidRequest"),
    ],
)
def test_paging_errors(client: TestClient, params: dict[str, str], status: int, kind: str) -> None:
    problem(client.get(S, params=params), status, kind)


# --- JSON-LD ---------------------------------------------------------------------------


def test_json_ld_in_and_out(client: TestClient) -> None:
    body = {**lamps(id=sub_id(1)), "@context": STREETLIGHT_CTX}
    r = client.post(S, json=body, headers=LD)
    assert r.status_code == 201, r.text
    ld = client.get(r.headers["location"], headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == "application/ld+json"
    assert "link" not in ld.headers
    got = ld.json()
    assert got["@context"] == CORE_CTX  # the caller's @context (none given: the core)
    assert got["entities"] == [{"type": SDM + "Streetlight"}]
    listed = client.get(S, headers={"Accept": "application/ld+json", **SL}).json()
    assert [item["@context"] for item in listed] == [STREETLIGHT_CTX]
    assert listed[0]["entities"] == [{"type": "Streetlight"}]
    # the @context of an ld+json body goes in the body, never in a Link header
    problem(client.post(S, json=lamps(), headers=LD), 400, "BadRequestData")
    problem(client.post(S, json=body, headers={**LD, **SL}), 400, "BadRequestData")
    problem(client.post(S, json=body), 400, "BadRequestData")
    patch(client, f"{S}/{sub_id(1)}", {"@context": STREETLIGHT_CTX, "q": 'powerState=="on"'}, **LD)
    assert get(client, f"{S}/{sub_id(1)}", **SL)["q"] == 'powerState=="on"'


def test_names_compact_with_the_readers_context(client: TestClient) -> None:
    inline = {"Lamp": SDM + "Streetlight", "power": SDM + "powerState"}
    url = create(client, lamps(), **SL)
    body = {"@context": inline}
    r = client.post(f"{B}/jsonldContexts", json=body)
    assert r.status_code == 201, r.text
    hosted = "http://testserver" + r.headers["location"]
    got = get(client, url, **link(hosted))
    assert got["entities"] == [{"type": "Lamp"}]
    assert got["watchedAttributes"] == ["power"]
    assert got["q"] == 'power=="off"'


# --- PATCH -----------------------------------------------------------------------------


def test_patch_merges_members(client: TestClient, clock: Clock) -> None:
    url = create(client, lamps(throttling=5, description="first"), **SL)
    clock.now = "2026-11-23T16:05:00.000Z"
    patch(
        client,
        url,
        {
            "description": None,
            "throttling": "urn:ngsi-ld:null",
            "watchedAttributes": ["illuminanceLevel", "powerState"],
            "notification": {"format": "keyValues", "endpoint": {"accept": "application/ld+json"}},
        },
        **SL,
    )
    got = get(client, f"{url}?options=sysAttrs", **SL)
    assert "description" not in got and "throttling" not in got
    assert got["watchedAttributes"] == ["illuminanceLevel", "powerState"]
    assert got["notification"]["format"] == "keyValues"
    assert got["notification"]["attributes"] == ["powerState"]  # untouched members stay
    assert got["notification"]["endpoint"] == {"uri": RECEIVER, "accept": "application/ld+json"}
    assert got["createdAt"] == T0 and got["modifiedAt"] == clock.now
    # a removed default comes back to its default and is no longer shown
    patch(client, url, {"notification": {"format": None}})
    assert "format" not in get(client, url)["notification"]


def test_patch_pause_expire_and_reactivate(client: TestClient, clock: Clock) -> None:
    url = create(client, lamps(expiresAt="2026-11-23T18:00:00Z"), **SL)
    assert get(client, url)["status"] == "active"
    patch(client, url, {"isActive": False})
    assert get(client, url)["status"] == "paused"
    clock.now = "2026-11-23T19:00:00.000Z"
    assert get(client, url)["status"] == "expired"
    patch(client, url, {"isActive": True})
    assert get(client, url)["status"] == "expired"  # only a later expiresAt revives it
    patch(client, url, {"expiresAt": "2026-11-24T00:00:00Z"})
    got = get(client, url)
    assert got["status"] == "active" and got["expiresAt"] == "2026-11-24T00:00:00.000Z"
    listed = client.get(S).json()
    assert [s["status"] for s in listed] == ["active"]


def test_patch_names_expand_with_the_patch_context(client: TestClient) -> None:
    url = create(client, lamps(), **SL)
    patch(client, url, {"watchedAttributes": ["illuminanceLevel"]})  # core @context only
    assert get(client, url)["watchedAttributes"] == ["illuminanceLevel"]
    assert get(client, url, **SL)["watchedAttributes"] != ["illuminanceLevel"]  # another IRI
    # the subscription keeps the @context it was created with (the names of notifications)
    patch(client, url, {"watchedAttributes": ["illuminanceLevel"]}, **SL)
    assert get(client, url, **SL)["watchedAttributes"] == ["illuminanceLevel"]


@pytest.mark.parametrize(
    ("fragment", "kind", "status"),
    [
        ({"id": sub_id(99)}, "BadRequestData", 400),
        ({"type": "Entity"}, "BadRequestData", 400),
        ({}, "BadRequestData", 400),
        ({"status": "paused"}, "BadRequestData", 400),  # read-only members only
        ({"notification": None}, "BadRequestData", 400),
        ({"notification": {"endpoint": {"uri": None}}}, "BadRequestData", 400),
        ({"timeInterval": 10}, "BadRequestData", 400),  # not with watchedAttributes
        ({"expiresAt": "2001-01-01T00:00:00Z"}, "BadRequestData", 400),
        ({"throttling": -1}, "BadRequestData", 400),
        ({"notification": {"join": "flat"}}, "OperationNotSupported", 422),
        ([{"isActive": False}], "BadRequestData", 400),
    ],
)
def test_patch_errors_leave_it_unchanged(
    client: TestClient, clock: Clock, fragment: Any, kind: str, status: int
) -> None:
    url = create(client, lamps(id=sub_id(1)), **SL)
    before = get(client, f"{url}?options=sysAttrs", **SL)
    clock.now = "2026-11-23T16:05:00.000Z"
    problem(client.patch(url, json=fragment, headers=SL), status, kind)
    assert get(client, f"{url}?options=sysAttrs", **SL) == before


def test_patch_body_problems(client: TestClient) -> None:
    url = create(client, lamps(), **SL)
    problem(
        client.patch(url, content=b"{", headers={"Content-Type": "application/json"}),
        400,
        "InvalidRequest",
    )
    merge = {"Content-Type": "application/merge-patch+json"}
    assert client.patch(url, content=b'{"isActive": false}', headers=merge).status_code == 204
    assert get(client, url)["status"] == "paused"


# --- round trips and persistence -------------------------------------------------------


def test_get_output_is_valid_input(client: TestClient) -> None:
    url = create(client, lamps(id=sub_id(1), throttling=3, scopeQ="/a/#"), **SL)
    patch(client, url, {"isActive": False})
    shown = get(client, url, **SL)
    assert client.delete(url).status_code == 204
    create(client, shown, **SL)
    assert get(client, url, **SL) == shown
    # the same through JSON-LD, into another tenant
    ld = client.get(url, headers={"Accept": "application/ld+json", **SL}).json()
    r = client.post(S, json=ld, headers={**LD, "NGSILD-Tenant": "copy"})
    assert r.status_code == 201, r.text
    assert get(client, url, **SL, **{"NGSILD-Tenant": "copy"}) == shown


def test_subscriptions_survive_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first:
        url = create(first, lamps(id=sub_id(1)), **SL)
        create(first, lamps(id=sub_id(2)), **SL, **{"NGSILD-Tenant": "minsk"})
        patch(first, url, {"isActive": False, "throttling": 2})
        shown = get(first, f"{url}?options=sysAttrs", **SL)
    with TestClient(create_app(settings)) as second:
        assert get(second, f"{url}?options=sysAttrs", **SL) == shown
        assert [s["id"] for s in second.get(S, headers={"NGSILD-Tenant": "minsk"}).json()] == [
            sub_id(2)
        ]
        assert second.delete(url).status_code == 204
    with TestClient(create_app(settings)) as third:
        problem(third.get(url), 404, "ResourceNotFound")


async def test_concurrent_patches_all_take_effect(settings: Settings) -> None:
    """PATCHes of one subscription racing each other: none undoes another."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ac:
            r = await ac.post(S, json=lamps(id=sub_id(1)), headers=SL)
            assert r.status_code == 201, r.text
            url = r.headers["location"]
            fragments: list[dict[str, Any]] = [
                {"description": "d"},
                {"subscriptionName": "n"},
                {"throttling": 7},
                {"lang": "en"},
                {"isActive": False},
                {"scopeQ": "/Tianjin"},
                {"notification": {"format": "concise"}},
                {"notification": {"sysAttrs": True}},
            ]
            answers = await asyncio.gather(*(ac.patch(url, json=f) for f in fragments))
            assert [a.status_code for a in answers] == [204] * len(fragments)
            got = (await ac.get(url, headers=SL)).json()
    assert (got["description"], got["subscriptionName"], got["throttling"]) == ("d", "n", 7)
    assert (got["lang"], got["isActive"], got["scopeQ"]) == ("en", False, "/Tianjin")
    assert got["notification"]["format"] == "concise" and got["notification"]["sysAttrs"]


@pytest.fixture
def many(client: TestClient) -> Iterator[list[str]]:
    yield [create(client, lamps(id=sub_id(n)), **SL) for n in range(3)]


def test_delete_removes_only_that_one(client: TestClient, many: list[str]) -> None:
    assert client.delete(many[1]).status_code == 204
    assert [s["id"] for s in client.get(S).json()] == [sub_id(0), sub_id(2)]


def test_openapi_describes_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths[S]) == {"get", "post"}
    assert set(paths[S + "/{subscriptionId}"]) == {"get", "patch", "delete"}


# --- properties ------------------------------------------------------------------------

FAST = hypothesis.settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CITY_TERMS = {
    "ex": CITY_NS,
    "Building": CITY_NS + "Building",
    "Tower": CITY_NS + "Tower",
    "Landmark": CITY_NS + "Landmark",
    "airQualityLevel": CITY_NS + "airQualityLevel",
    "temperature": CITY_NS + "temperature",
    "where": CITY_NS + "where",
}


@pytest.fixture
def city(client: TestClient) -> dict[str, str]:
    """A Link header to a hosted @context that names the terms of the notify strategies."""
    r = client.post(f"{B}/jsonldContexts", json={"@context": CITY_TERMS})
    assert r.status_code == 201, r.text
    return link("http://testserver" + r.headers["location"])


@FAST
@given(body=bodies())
def test_any_valid_subscription_round_trips(
    client: TestClient, city: dict[str, str], body: dict[str, Any]
) -> None:
    url = create(client, body, **city)
    shown = get(client, url, **city)
    assert client.delete(url).status_code == 204
    assert create(client, shown, **city) == url
    assert get(client, url, **city) == shown
    assert client.delete(url).status_code == 204


fragments = st.dictionaries(
    st.sampled_from(["q", "entities", "notification", "throttling", "isActive", "x", "id"]),
    json_values,
    max_size=3,
)


@FAST
@given(body=json_values | fragments)
def test_no_body_yields_a_500(client: TestClient, body: Any) -> None:
    ok(client.post(S, json=body))
    ok(client.post(S, json=lamps(**body) if isinstance(body, dict) else body, headers=SL))
    url = f"{S}/{sub_id(1)}"
    if client.get(url).status_code == 404:
        create(client, lamps(id=sub_id(1)), **SL)
    ok(client.patch(url, json=body))
