"""Interoperability: an independent NGSI-LD client library (ngsildclient, Orange) drives a
live `cityfabric run` over HTTP on 127.0.0.1: create, retrieve, query (type, q, paging,
count), update, delete, and the mapping of ProblemDetails errors to the client's exceptions.

Every answer the library hands back is checked against what was sent, and the broker's state
is cross-checked with plain httpx requests so that a lenient client cannot hide a bug.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ngsildclient import NESTED, Auto, Client, Entity
from ngsildclient.api.exceptions import NgsiAlreadyExistsError, NgsiResourceNotFoundError

from tests.conftest import link
from tests.e2e.server import Server, running_server

# Importing ngsildclient turns on http.client's wire dump for the whole process; turn it off.
http.client.HTTPConnection.debuglevel = 0

pytestmark = pytest.mark.e2e

STREETLIGHT_CTX = "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"
ENVIRONMENT_CTX = "https://smart-data-models.github.io/dataModel.Environment/context.jsonld"
BUILDING_CTX = "https://smart-data-models.github.io/dataModel.Building/context.jsonld"
STREETLIGHT_IRI = "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("interop") / "data") as srv:
        yield srv


@pytest.fixture
def ngsi(server: Server) -> Iterator[Client]:
    port = httpx.URL(server.url).port
    assert port is not None
    # The constructor checks the connection (GET /entities?type=None&limit=0&count=true)
    # and raises NgsiNotConnectedError if the broker does not answer it.
    client = Client(hostname="127.0.0.1", port=port)
    try:
        assert client.is_connected()
        yield client
    finally:
        client.close()


def raw_get(server: Server, eid: str, ctx: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/ngsi-ld/v1/entities/{eid}", params=params, headers=link(ctx), timeout=10
    )


def without_context(entity: Entity) -> dict[str, Any]:
    return {k: v for k, v in entity.to_dict().items() if k != "@context"}


def streetlight(name: str, power: str, level: float, lon: float, lat: float) -> Entity:
    e = Entity("Streetlight", f"interop:{name}", ctx=[STREETLIGHT_CTX])
    e.prop("powerState", power).prop("illuminanceLevel", level)
    e.gprop("location", (lat, lon))  # ngsildclient takes (lat, lon), stores GeoJSON [lon, lat]
    return e


def test_create_and_get_round_trip(server: Server, ngsi: Client) -> None:
    e = Entity("AirQualityObserved", "interop:tj-aq-1", ctx=[ENVIRONMENT_CTX])
    e.tprop("dateObserved", datetime(2024, 8, 7, 12, tzinfo=UTC))
    e.prop("NO2", 22, unitcode="GP", observedat=Auto).prop("accuracy", 0.95, NESTED)
    e.prop("name", "Tianjin harbour station")
    e.rel("refPointOfInterest", "PointOfInterest:tj:harbour")
    e.gprop("location", (39.1020, 117.7010))

    created = ngsi.create(e)
    assert created is not None
    assert created.id == "urn:ngsi-ld:AirQualityObserved:interop:tj-aq-1"

    # The library parses the broker's answer back into an Entity: it must be the very same
    # entity, @context included (the broker echoes the context the caller used).
    fetched = ngsi.get(e.id, ctx=ENVIRONMENT_CTX)
    assert fetched == e, (fetched.to_dict(), e.to_dict())
    assert fetched["NO2.accuracy.value"] == 0.95
    assert fetched["location.value"]["coordinates"] == [117.7010, 39.1020]
    assert ngsi.exists(e.id)

    # Cross-check with a plain HTTP client and another rendering.
    kv = raw_get(server, e.id, ENVIRONMENT_CTX, options="keyValues")
    assert kv.status_code == 200, kv.text
    body = kv.json()
    assert body["NO2"] == 22
    assert body["name"] == "Tianjin harbour station"
    assert body["refPointOfInterest"] == "urn:ngsi-ld:PointOfInterest:tj:harbour"

    # With the core context only (no Link, no @context in the answer but the core one).
    core = Entity("AirQualityObserved", "interop:core-1")
    core.prop("NO2", 5).prop("status", "ok")
    ngsi.create(core)
    fetched_core = ngsi.get(core.id)
    assert without_context(fetched_core) == without_context(core)
    assert "ngsi-ld-core-context" in str(fetched_core.context)


def test_create_existing_maps_to_already_exists(ngsi: Client) -> None:
    e = streetlight("dup", "on", 0.5, 117.70, 39.10)
    ngsi.create(e)
    with pytest.raises(NgsiAlreadyExistsError) as err:
        ngsi.create(e)
    assert err.value.problemdetails.status == 409
    assert e.id in (err.value.problemdetails.detail or "")
    assert ngsi.create(e, skip=True) is None
    with pytest.raises(NgsiResourceNotFoundError) as missing:
        ngsi.get("urn:ngsi-ld:Streetlight:interop:never-created", ctx=STREETLIGHT_CTX)
    assert missing.value.problemdetails.status == 404
    ngsi.delete(e)


def test_query_by_type_q_paging_and_count(server: Server, ngsi: Client) -> None:
    lights = [
        streetlight("q-1", "on", 0.8, 117.7010, 39.1020),
        streetlight("q-2", "off", 0.0, 117.7060, 39.1040),
        streetlight("q-3", "on", 0.3, 117.7080, 39.1050),
        streetlight("q-4", "on", 0.9, 117.7100, 39.1060),
        streetlight("q-5", "off", 0.6, 117.7120, 39.1070),
    ]
    ok, created = ngsi.batch.create(lights)
    assert ok, created
    assert sorted(created) == sorted(e.id for e in lights)
    by_id = {e.id: e for e in lights}

    found = ngsi.entities.query(type="Streetlight", ctx=STREETLIGHT_CTX, limit=100)
    assert sorted(e.id for e in found) == sorted(by_id)
    for e in found:
        assert e == by_id[e.id]

    on = ngsi.entities.query(type="Streetlight", q='powerState=="on"', ctx=STREETLIGHT_CTX)
    assert sorted(e.id for e in on) == [f"urn:ngsi-ld:Streetlight:interop:q-{i}" for i in (1, 3, 4)]

    bright_on = ngsi.entities.query(
        type="Streetlight", q='powerState=="on";illuminanceLevel>0.5', ctx=STREETLIGHT_CTX
    )
    assert sorted(e.id for e in bright_on) == [
        "urn:ngsi-ld:Streetlight:interop:q-1",
        "urn:ngsi-ld:Streetlight:interop:q-4",
    ]
    assert all(e["illuminanceLevel.value"] > 0.5 for e in bright_on)

    either = ngsi.entities.query(
        type="Streetlight", q="illuminanceLevel<0.1|illuminanceLevel>0.85", ctx=STREETLIGHT_CTX
    )
    assert sorted(e.id for e in either) == [
        "urn:ngsi-ld:Streetlight:interop:q-2",
        "urn:ngsi-ld:Streetlight:interop:q-4",
    ]

    # query_all pages with limit/offset after a count=true&limit=0 request. The library sends
    # no Link header for the count, so the type is given as the full IRI there.
    assert ngsi.count(type=STREETLIGHT_IRI) == 5
    paged = ngsi.query_all(type=STREETLIGHT_IRI, ctx=STREETLIGHT_CTX, limit=2)
    assert [e.id for e in paged] == sorted({e.id for e in paged})  # no page repeats an entity
    assert sorted(e.id for e in paged) == sorted(by_id)

    # The context decides what a short type name means: under the core context alone,
    # "Streetlight" is another type, which has no entities.
    assert ngsi.entities.query(type="Streetlight") == []
    types = ngsi.list_types()
    assert STREETLIGHT_IRI in types

    ok, _ = ngsi.batch.delete(lights)
    assert ok
    assert ngsi.entities.query(type="Streetlight", ctx=STREETLIGHT_CTX) == []


def test_update_replace_and_batch_upsert(server: Server, ngsi: Client) -> None:
    e = Entity("Building", "interop:b-1", ctx=[BUILDING_CTX])
    e.prop("name", "Minsk depot").prop("floorsAboveGround", 3).prop("category", ["depot"])
    ngsi.create(e)

    # Client.update: the library replaces the entity (delete + create).
    e["floorsAboveGround.value"] = 4
    e.prop("description", "rebuilt in 2024")
    updated = ngsi.update(e)
    assert updated == e
    fetched = ngsi.get(e.id, ctx=BUILDING_CTX)
    assert fetched == e
    assert fetched["floorsAboveGround.value"] == 4
    assert fetched["description.value"] == "rebuilt in 2024"

    # Batch update (POST /entityOperations/update): appends/overwrites attributes.
    e["name.value"] = "Minsk depot 2"
    ok, _ = ngsi.batch.update([e])
    assert ok
    assert ngsi.get(e.id, ctx=BUILDING_CTX)["name.value"] == "Minsk depot 2"

    # Batch upsert of one existing and one new entity.
    e["floorsAboveGround.value"] = 5
    other = Entity("Building", "interop:b-2", ctx=[BUILDING_CTX]).prop("name", "Tashkent hub")
    ok, _ = ngsi.batch.upsert([e, other])
    assert ok
    assert ngsi.get(e.id, ctx=BUILDING_CTX)["floorsAboveGround.value"] == 5
    assert ngsi.get(other.id, ctx=BUILDING_CTX) == other

    raw = raw_get(server, e.id, BUILDING_CTX, options="keyValues")
    assert raw.status_code == 200
    assert raw.json()["floorsAboveGround"] == 5
    assert raw.json()["name"] == "Minsk depot 2"

    ok, _ = ngsi.batch.delete([e, other])
    assert ok


def test_delete(server: Server, ngsi: Client) -> None:
    e = streetlight("del-1", "on", 0.4, 117.70, 39.10)
    ngsi.create(e)
    assert ngsi.exists(e)
    assert ngsi.delete(e) is True
    assert not ngsi.exists(e)
    assert raw_get(server, e.id, STREETLIGHT_CTX).status_code == 404
    with pytest.raises(NgsiResourceNotFoundError):
        ngsi.delete(e)
    with pytest.raises(NgsiResourceNotFoundError):
        ngsi.get(e.id, ctx=STREETLIGHT_CTX)
    # Deleted ids can be created again.
    ngsi.create(e)
    assert ngsi.get(e.id, ctx=STREETLIGHT_CTX) == e
    assert ngsi.delete(e.id) is True
