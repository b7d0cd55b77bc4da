"""Reading NGSI-LD requests: tenant, body, @context, options, content negotiation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.responses import GEO_JSON, JSON, JSON_LD, json_response
from cityfabric.ngsild.context import ActiveContext, parse_link_header
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import BadRequestData, InvalidRequest
from cityfabric.ngsild.model import CORE_CONTEXT_URL
from cityfabric.ngsild.nul import refuse_json_nul
from cityfabric.ngsild.render import Format, View
from cityfabric.store.base import DEFAULT_TENANT

TENANT_HEADER = "NGSILD-Tenant"
MERGE_PATCH = "application/merge-patch+json"  # clause 6.5.3.4: merge entity accepts it
_TENANT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
Mode = Literal["json", "ld", "geo"]


def tenant_of(request: Request) -> str:
    """The NGSILD-Tenant header (clause 6.3.14); absent means the default tenant."""
    name = request.headers.get(TENANT_HEADER)
    if name is None or name == "":
        return DEFAULT_TENANT
    if not _TENANT.match(name):
        raise BadRequestData(
            f"{TENANT_HEADER} {name!r} is not a valid tenant name: 1-64 letters, digits, '_' or '-'"
        )
    return name


def max_body(request: Request) -> int:
    return int(request.app.state.settings.max_body_bytes)


async def read_json(request: Request) -> Any:
    """The request body as JSON, checking its media type, size (413 past the limit) and NUL."""
    media = media_of(request)
    if media not in (JSON, JSON_LD, MERGE_PATCH):
        raise InvalidRequest(
            f"Content-Type must be {JSON} or {JSON_LD}, got {media or 'nothing'!r}", status=415
        )
    limit = max_body(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequestData(f"the body is larger than the limit of {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequestData(f"the body is larger than the limit of {limit} bytes", status=413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise InvalidRequest("the request has no body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(f"the body is not valid JSON: {err}") from None
    refuse_json_nul(raw, body)
    return body


def registry(request: Request) -> ContextRegistry:
    reg: ContextRegistry = request.app.state.contexts
    return reg


async def context_of(request: Request, body: Any = None) -> ActiveContext:
    """The @context of a request (clause 6.3.5): in the ld+json body, else the Link header."""
    media = media_of(request)
    link = request.headers.get("link")
    inline = body.get("@context") if isinstance(body, dict) else None
    if media == JSON_LD and body is not None:
        if inline is None and not isinstance(body, list):
            raise BadRequestData("an application/ld+json payload must contain @context")
        if link and parse_link_header(link):
            raise BadRequestData(
                "with application/ld+json the @context goes in the body, not in a Link header"
            )
        return await registry(request).resolve(inline)
    if inline is not None:
        raise BadRequestData(
            "@context in the body needs Content-Type application/ld+json; "
            "with application/json send it in a Link header"
        )
    url = parse_link_header(link) if link else None
    return await registry(request).resolve(url)


def media_of(request: Request) -> str:
    """The request's media type, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def item_context(
    request: Request, item: Any, default: ActiveContext, *, ld: bool
) -> ActiveContext:
    """The @context of one item of a batch; with `ld` (application/ld+json) each carries its own."""
    if isinstance(item, dict) and "@context" in item:
        if not ld:
            raise BadRequestData("@context in the body needs Content-Type application/ld+json")
        return await registry(request).resolve(item["@context"])
    if ld:
        raise BadRequestData("each entity of an application/ld+json batch must carry @context")
    return default


def response_mode(request: Request, *, geo_allowed: bool = False, fmt: str | None = None) -> Mode:
    """What to answer, from Accept (clause 6.3.6) and the format parameter."""
    if geo_allowed and fmt == "geojson":
        return "geo"
    accept = request.headers.get("accept", "*/*").lower()
    best: Mode | None = None
    for part in accept.split(","):
        media = part.split(";")[0].strip()
        if media == JSON_LD:
            return "ld"
        if media == GEO_JSON and geo_allowed:
            return "geo"
        if media in (JSON, "*/*", "application/*") and best is None:
            best = "json"
    if best is None:
        raise InvalidRequest(
            f"cannot answer in any of {accept!r}; use {JSON} or {JSON_LD}", status=406
        )
    return best


def link_value(request: Request, ctx: ActiveContext) -> str:
    url = ctx.link_path or CORE_CONTEXT_URL
    if url.startswith("/"):
        url = str(request.base_url).rstrip("/") + url
    return f"<{url}>; {CONTEXT_REL}"


def answer(
    request: Request,
    body: Any,
    ctx: ActiveContext,
    mode: Mode,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON response with the @context in the body (ld+json) or in a Link header."""
    out_headers = dict(headers or {})
    if mode == "ld":
        source = ctx.source if ctx.source is not None else CORE_CONTEXT_URL
        if isinstance(body, list):
            body = [{**item, "@context": source} for item in body]
        elif isinstance(body, dict):
            body = {**body, "@context": source}
        return json_response(body, status=status, media_type=JSON_LD, headers=out_headers)
    link = link_value(request, ctx)
    out_headers["Link"] = (out_headers["Link"] + ", " + link) if "Link" in out_headers else link
    media = GEO_JSON if mode == "geo" else JSON
    return json_response(body, status=status, media_type=media, headers=out_headers)


@dataclass(frozen=True)
class Options:
    format: Format
    sys_attrs: bool
    flags: frozenset[str]


_FORMATS: dict[str, Format] = {
    "keyValues": "keyValues",
    "simplified": "keyValues",
    "concise": "concise",
    "normalized": "normalized",
}
_KNOWN_OPTIONS = frozenset(
    {
        *_FORMATS,
        "sysAttrs",
        "noOverwrite",
        "replace",
        "update",
        "temporalValues",
        "aggregatedValues",
    }
)


def options_of(options: str | None, fmt: str | None = None) -> Options:
    """The options and format parameters (clause 6.3.7)."""
    flags = frozenset(o.strip() for o in (options or "").split(",") if o.strip())
    unknown = flags - _KNOWN_OPTIONS
    if unknown:
        raise BadRequestData(
            f"unknown option(s) {sorted(unknown)}; known: {sorted(_KNOWN_OPTIONS)}"
        )
    chosen = [_FORMATS[f] for f in flags if f in _FORMATS]
    if fmt is not None and fmt != "geojson":
        if fmt not in _FORMATS:
            raise BadRequestData(
                f"unknown format {fmt!r}; use normalized, concise, keyValues or geojson"
            )
        chosen.append(_FORMATS[fmt])
    if len(set(chosen)) > 1:
        raise BadRequestData("choose one of keyValues, concise and normalized")
    return Options(chosen[0] if chosen else "normalized", "sysAttrs" in flags, flags)


def view_of(
    ctx: ActiveContext,
    opts: Options,
    *,
    pick: str | None = None,
    omit: str | None = None,
    attrs: str | None = None,
    lang: str | None = None,
) -> View:
    """The projection (attrs, pick, omit) and representation for rendering."""
    members = {"id", "type", "scope"}

    def names(text: str | None) -> list[str] | None:
        if text is None:
            return None
        items = [t.strip() for t in text.split(",")]
        if not all(items):
            raise BadRequestData(f"empty name in {text!r}")
        return items

    picked = names(pick)
    attr_names = names(attrs)
    omitted = names(omit) or []
    if picked is not None and omit is not None:
        raise BadRequestData("pick and omit cannot be used together")
    keep: frozenset[str] | None = None
    entity_members: frozenset[str] | None = None
    chosen = [*(picked or []), *(attr_names or [])] if picked or attr_names else None
    if chosen is not None:
        keep = frozenset(ctx.expand(n) for n in chosen if n not in members)
        if picked is not None:
            entity_members = frozenset(n for n in picked if n in members)
    if omitted:
        entity_members = frozenset(members - set(omitted))
    return View(
        format=opts.format,
        sys_attrs=opts.sys_attrs,
        attrs=keep,
        omit=frozenset(ctx.expand(n) for n in omitted if n not in members),
        entity_members=entity_members,
        lang=lang,
    )
