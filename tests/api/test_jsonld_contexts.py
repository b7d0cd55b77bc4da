"""The /ngsi-ld/v1/jsonldContexts endpoints over a real ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import fastapi
import httpx
import pytest
from starlette.responses import JSONResponse

from cityfabric.api.jsonld_contexts import router
from cityfabric.config import Settings
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import NgsiLdError
from cityfabric.ngsild.model import CORE_CONTEXT_URL

BASE = "/ngsi-ld/v1/jsonldContexts"
DOC = {"@context": {"height": "http://hosted.example/height"}}


def make_app(hosted_dir: Path) -> fastapi.FastAPI:
    app = fastapi.FastAPI()
    app.include_router(router)
    app.state.contexts = ContextRegistry(None, hosted_dir)
    app.state.settings = Settings()

    async def problem(request: fastapi.Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NgsiLdError)
        return JSONResponse(exc.to_problem(), status_code=exc.status)

    app.add_exception_handler(NgsiLdError, problem)
    return app


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as http:
        yield http


async def test_add_serve_list_delete(client: httpx.AsyncClient) -> None:
    created = await client.post(BASE, json=DOC)
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location.startswith(BASE + "/")
    local_id = location.rsplit("/", 1)[1]

    served = await client.get(location)
    assert served.status_code == 200 and served.json() == DOC
    assert served.headers["content-type"] == "application/ld+json"

    details = (await client.get(location, params={"details": "true"})).json()
    assert details["localId"] == local_id and details["kind"] == "Hosted"
    assert details["URL"] == "http://broker.test" + location

    urls = (await client.get(BASE)).json()
    assert CORE_CONTEXT_URL in urls and "http://broker.test" + location in urls
    hosted = (await client.get(BASE, params={"kind": "Hosted", "details": "true"})).json()
    assert [row["localId"] for row in hosted] == [local_id]
    assert (await client.get(BASE, params={"kind": "ImplicitlyCreated"})).json() == []

    assert (await client.delete(location)).status_code == 204
    missing = await client.get(location)
    assert missing.status_code == 404
    assert missing.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"


async def test_core_context_is_served_and_protected(client: httpx.AsyncClient) -> None:
    rows = (await client.get(BASE, params={"details": "true", "kind": "Cached"})).json()
    core = next(row for row in rows if row["URL"] == CORE_CONTEXT_URL)
    served = await client.get(f"{BASE}/{core['localId']}")
    assert served.json()["@context"]["ngsi-ld"] == "https://uri.etsi.org/ngsi-ld/"
    refused = await client.delete(f"{BASE}/{core['localId']}")
    assert refused.status_code == 400 and refused.json()["title"] == "BadRequestData"


@pytest.mark.parametrize(
    ("body", "status", "title"),
    [
        (b"{not json", 400, "InvalidRequest"),
        (b'{"no": "context"}', 400, "BadRequestData"),
        (b'{"@context": {"t": 5}}', 400, "BadRequestData"),
        (b'{"@context": 5}', 400, "BadRequestData"),
    ],
)
async def test_add_errors(client: httpx.AsyncClient, body: bytes, status: int, title: str) -> None:
    response = await client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status and response.json()["title"] == title


async def test_query_errors(client: httpx.AsyncClient) -> None:
    assert (await client.get(BASE, params={"kind": "Bogus"})).status_code == 400
    assert (await client.get(BASE, params={"details": "maybe"})).status_code == 400
    assert (await client.delete(f"{BASE}/nope")).status_code == 404
    location = (await client.post(BASE, json=DOC)).headers["Location"]
    reload = await client.delete(location, params={"reload": "true"})
    assert reload.status_code == 400 and reload.json()["title"] == "BadRequestData"


async def test_hosted_context_survives_restart(tmp_path: Path) -> None:
    first = httpx.ASGITransport(app=make_app(tmp_path))
    async with httpx.AsyncClient(transport=first, base_url="http://b.test") as http:
        location = (await http.post(BASE, json=DOC)).headers["Location"]
    second = httpx.ASGITransport(app=make_app(tmp_path))
    async with httpx.AsyncClient(transport=second, base_url="http://b.test") as http:
        assert (await http.get(location)).json() == DOC
