"""Response helpers: orjson bodies and the JSON-LD media types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
PROBLEM_JSON = "application/problem+json"


def json_response(
    body: Any,
    *,
    status: int = 200,
    media_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON response serialised with orjson."""
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=media_type,
        headers=dict(headers) if headers else None,
    )


def no_content(headers: Mapping[str, str] | None = None) -> Response:
    return Response(status_code=204, headers=dict(headers) if headers else None)
