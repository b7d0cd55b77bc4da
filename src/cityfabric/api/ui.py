"""The dashboard: its built files at `/` and `/ui/*`, its config, and its notification sink.

The dashboard (`ui/`, built by `make install` into the package's `ui_dist/`) talks to the
public HTTP API only. Its live alerts come from a subscription whose notifications it reads
from the subscription's event stream; the subscription's endpoint is the sink here, which
accepts and drops them, so the delivery worker records them as delivered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from cityfabric.api.responses import json_response
from cityfabric.config import Settings
from cityfabric.ngsild.errors import OperationNotSupported, ResourceNotFound

router = APIRouter(tags=["dashboard"])

PACKAGED: Final = Path(__file__).resolve().parent.parent / "ui_dist"
ASSETS: Final = "ui"  # Vite's assetsDir (ui/vite.config.ts)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def ui_dir(request: Request) -> Path:
    """The built dashboard's folder: CITYFABRIC_UI_DIR, else the package's ui_dist."""
    settings: Settings = request.app.state.settings
    return settings.ui_dir or PACKAGED


@router.get("/", summary="The dashboard (HTML)", response_class=Response)
async def dashboard(request: Request) -> Response:
    index = ui_dir(request) / "index.html"
    if not index.is_file():
        raise OperationNotSupported(
            f"the dashboard is not built ({index} is missing): run `make install`, which "
            "builds it from ui/ with Node.js 20+ (npm ci, npm run build)",
            status=503,
        )
    return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/ui/{name}", summary="A file of the built dashboard", response_class=Response)
async def dashboard_file(request: Request, name: str) -> Response:
    path = ui_dir(request) / ASSETS / name
    if not _NAME.match(name) or not path.is_file():
        raise ResourceNotFound(f"no dashboard file {name!r}")
    return FileResponse(
        path,
        media_type=_TYPES.get(path.suffix),
        # Vite puts a content hash in every file name
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.get("/cityfabric/v1/ui/config", summary="The dashboard's settings")
async def dashboard_config(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    return json_response({"tileUrl": settings.ui_tile_url})


@router.post(
    "/cityfabric/v1/ui/notifications",
    status_code=204,
    summary="Notification sink of the dashboard's subscriptions (accepts and drops)",
)
async def dashboard_notifications(request: Request) -> Response:
    return Response(status_code=204)
