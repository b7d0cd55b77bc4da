"""Serve the API's endpoints through plain Starlette routes.

FastAPI describes the endpoints (the OpenAPI document is built from its
routes), but its per-request dependency solving costs about as much as our
own work on the hot paths. Each endpoint here takes only `request`, path
parameters and optional string or boolean query parameters, so a direct route
can call it with those read from the request; it is placed before FastAPI's
route, which then only serves the documentation.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, get_args, get_origin, get_type_hints

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cityfabric.ngsild.errors import BadRequestData, InvalidRequest
from cityfabric.ngsild.nul import NUL_REASON, text_nul_problem

Endpoint = Callable[..., Awaitable[Response]]
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def direct_routes(routes: Iterable[BaseRoute]) -> list[Route]:
    """A Starlette route for every FastAPI route, calling the same endpoint."""
    return [
        Route(route.path, _caller(route.endpoint), methods=sorted(route.methods or ()))
        for route in routes
        if isinstance(route, APIRoute)
    ]


def _is_bool(hint: Any) -> bool:
    if get_origin(hint) is not None and get_args(hint):
        hint = get_args(hint)[0]  # Annotated[bool, Query(...)]
    return hint is bool


def _caller(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    hints = get_type_hints(endpoint, include_extras=True)
    plan = [
        (name, _is_bool(hints.get(name)), param.default)
        for name, param in inspect.signature(endpoint).parameters.items()
        if name != "request"
    ]

    async def call(request: Request) -> Response:
        refuse_url_nul(request)
        path, query = request.path_params, request.query_params
        kwargs: dict[str, Any] = {}
        for name, is_bool, default in plan:
            if name in path:
                kwargs[name] = path[name]
                continue
            raw = query.get(name)
            if raw is None:
                kwargs[name] = default
            elif is_bool:
                kwargs[name] = _boolean(name, raw)
            else:
                kwargs[name] = raw
        return await endpoint(request, **kwargs)

    return call


def refuse_url_nul(request: Request) -> None:
    """BadRequestData for a path or query string carrying U+0000 (see ngsild/nul.py)."""
    if b"%00" in request.scope.get("query_string", b""):
        raise BadRequestData(f"the query string contains the character {NUL_REASON}")
    err = text_nul_problem(request.scope.get("path", ""), "the path")
    if err is not None:
        raise err


def _boolean(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidRequest(f"query parameter {name} must be true or false, got {raw!r}")
