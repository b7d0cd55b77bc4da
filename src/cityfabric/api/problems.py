"""The one place where errors become RFC 9457 problem details with NGSI-LD types."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.responses import PROBLEM_JSON, json_response
from cityfabric.ngsild.errors import (
    InternalError,
    InvalidRequest,
    NgsiLdError,
    OperationNotSupported,
    ResourceNotFound,
)

log = logging.getLogger("cityfabric.api")


def problem(err: NgsiLdError, instance: str | None = None) -> Response:
    body = err.to_problem()
    if instance:
        body["instance"] = instance
    return json_response(body, status=err.status, media_type=PROBLEM_JSON)


async def _ngsild(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NgsiLdError)
    return problem(exc, request.url.path)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{where}: {e.get('msg')}")
    return problem(InvalidRequest("; ".join(parts) or "invalid request"), request.url.path)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err: NgsiLdError = ResourceNotFound(f"no resource at {request.url.path}")
    elif exc.status_code == 405:
        err = OperationNotSupported(
            f"{request.method} is not supported on {request.url.path}", status=405
        )
    else:
        err = InvalidRequest(str(exc.detail), status=exc.status_code)
    return problem(err, request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(InternalError("an unexpected error occurred; it has been logged"), None)


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(NgsiLdError, _ngsild)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
