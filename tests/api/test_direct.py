"""Endpoints are served by direct Starlette routes placed before FastAPI's own."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from cityfabric.app import ROUTERS
from tests.api.test_entities import B, lamp, problem


def test_direct_routes_come_first(client: TestClient) -> None:
    routes = client.app.router.routes  # type: ignore[attr-defined]
    api = [r for m in ROUTERS for r in m.router.routes if isinstance(r, APIRoute)]
    head = routes[: len(api)]
    assert all(type(r) is Route for r in head)
    assert [r.path for r in head] == [r.path for r in api]


def test_query_parameters_reach_the_endpoint(client: TestClient) -> None:
    client.post(f"{B}/entityOperations/create", json=[lamp(1), lamp(2)])
    r = client.get(f"{B}/entities", params={"type": "Streetlight", "count": "TRUE", "limit": 1})
    assert r.headers["NGSILD-Results-Count"] == "2" and len(r.json()) == 1
    r = client.get(f"{B}/entities", params={"type": "Streetlight", "count": "maybe"})
    problem(r, 400, "InvalidRequest")
