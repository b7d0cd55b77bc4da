"""Resolving request @contexts to `ActiveContext`s, and the @context store (clause 5.13).

URL resolution order: the shipped core context; contexts hosted here
(`.../ngsi-ld/v1/jsonldContexts/{localId}`); the offline context-cache folder;
contexts fetched before; otherwise an HTTP(S) fetch, which becomes a Cached
entry. Hosted and ImplicitlyCreated entries are files under `hosted_dir`,
written atomically so an acknowledged context survives a crash.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import orjson

from cityfabric.ngsild.context import (
    HOSTED_PATH,
    ActiveContext,
    core_document,
    is_core_url,
    process_contexts,
)
from cityfabric.ngsild.context_io import (
    fetch_context,
    load_cache_index,
    read_cached_file,
    read_records,
    remove_record,
    write_record,
)
from cityfabric.ngsild.errors import BadRequestData, ResourceNotFound
from cityfabric.ngsild.model import CORE_CONTEXT_URL

log = logging.getLogger(__name__)

MAX_DEPTH: Final = 8  # remote contexts referencing remote contexts
CORE_LOCAL_ID: Final = "ngsi-ld-core-context"

CacheKey = tuple[str, ...]
Details = dict[str, object]
Listing = list[str] | list[Details]


class ContextKind(enum.StrEnum):
    """Kinds of stored @contexts (clause 5.13)."""

    HOSTED = "Hosted"
    CACHED = "Cached"
    IMPLICITLY_CREATED = "ImplicitlyCreated"


@dataclass(slots=True)
class StoredContext:
    """One entry of the @context store."""

    local_id: str
    kind: ContextKind
    context: object  # the "@context" value
    url: str | None = None  # the origin URL of a Cached entry
    created_at: float = field(default_factory=time.time)
    last_usage: float | None = None
    hits: int = 0
    extra_info: str | None = None

    def touch(self) -> None:
        self.hits += 1
        self.last_usage = time.time()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(value: object) -> str:
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as err:
        raise BadRequestData(f"invalid @context: {err}") from err
    return hashlib.sha256(data).hexdigest()[:32]


def hosted_id(url: str) -> str | None:
    """The localId of a URL pointing at a context hosted by a CityFabric broker."""
    _, sep, tail = url.rpartition(HOSTED_PATH)
    return tail if sep and tail and "/" not in tail else None


def shipped_contexts() -> Path:
    """The folder of @contexts shipped in the package (Smart Data Models domains)."""
    return Path(str(files("cityfabric") / "data" / "contexts"))


class ContextRegistry:
    """Resolves request @contexts (cached) and manages the stored @contexts."""

    def __init__(
        self,
        cache_dir: Path | None,
        hosted_dir: Path | None,
        *,
        fetch_timeout: float = 5.0,
        max_bytes: int = 1_000_000,
        max_cached: int = 1000,
    ) -> None:
        self.fetch_timeout = fetch_timeout
        self.max_bytes = max_bytes
        self.max_cached = max_cached
        # the Smart Data Models contexts ship with the package; a user folder wins
        self._cache_index = load_cache_index(shipped_contexts())
        if cache_dir is not None:
            self._cache_index.update(load_cache_index(cache_dir))
        self._hosted_dir = hosted_dir
        self._entries: dict[str, StoredContext] = {}  # localId -> entry (all kinds but core)
        self._by_url: dict[str, str] = {}  # origin URL -> localId of Cached entries
        self._active: dict[CacheKey, ActiveContext] = {}
        self._inflight: dict[str, asyncio.Task[StoredContext]] = {}
        if hosted_dir is not None:
            hosted_dir.mkdir(parents=True, exist_ok=True)
            self._load_hosted(hosted_dir)

    # ---- resolution -------------------------------------------------------------

    async def resolve(self, context: object | None) -> ActiveContext:
        """The ActiveContext of a request's @context (None: the core context only)."""
        if isinstance(context, dict) and "@context" in context:
            context = context["@context"]
        key = _cache_key(context)
        found = self._active.get(key)
        if found is None:
            found = await self._build(context)
            if len(self._active) >= self.max_cached:
                del self._active[next(iter(self._active))]
            self._active[key] = found
        self._count_hits(key)
        return found

    async def _build(self, context: object | None) -> ActiveContext:
        locals_: list[dict[str, Any] | None] = []
        await self._flatten(context, 0, (), locals_)
        if context is None or (isinstance(context, str) and is_core_url(context)):
            source: object = CORE_CONTEXT_URL if context is None else context
            return ActiveContext.from_locals(locals_, source=source, link_path=str(source))
        if isinstance(context, str):
            return ActiveContext.from_locals(locals_, source=context, link_path=context)
        local_id = _digest(context)
        active = ActiveContext.from_locals(
            locals_, source=context, link_path=HOSTED_PATH + local_id
        )
        await self._implicit_entry(local_id, context)
        return active

    async def _flatten(
        self, value: object, depth: int, seen: tuple[str, ...], out: list[dict[str, Any] | None]
    ) -> None:
        """Append the local contexts of a @context value, loading remote ones."""
        if depth > MAX_DEPTH:
            raise BadRequestData(f"invalid @context: nested deeper than {MAX_DEPTH} levels")
        if value is None:
            out.append(None)
        elif isinstance(value, str):
            if is_core_url(value):
                return  # the core context is always applied last anyway
            if value in seen:
                raise BadRequestData(f"invalid @context: {value} includes itself")
            remote = await self._load_url(value)
            await self._flatten(remote, depth + 1, (*seen, value), out)
        elif isinstance(value, list):
            for item in value:
                await self._flatten(item, depth + 1, seen, out)
        elif isinstance(value, dict):
            if "@context" in value:
                await self._flatten(value["@context"], depth + 1, seen, out)
            else:
                out.append(await self._with_import(value, depth, seen))
        else:
            raise BadRequestData("invalid @context: entries must be URLs or JSON objects")

    async def _with_import(
        self, local: dict[str, Any], depth: int, seen: tuple[str, ...]
    ) -> dict[str, Any]:
        url = local.get("@import")
        if url is None:
            return local
        if not isinstance(url, str) or depth >= MAX_DEPTH:
            raise BadRequestData("invalid @context: @import must be a URL string")
        imported = (
            await self._load_url(url) if not is_core_url(url) else core_document()["@context"]
        )
        if not isinstance(imported, dict):
            raise BadRequestData(f"invalid @context: @import {url} is not a single JSON object")
        return {**imported, **{k: v for k, v in local.items() if k != "@import"}}

    async def _load_url(self, url: str) -> object:
        """The "@context" value a URL stands for."""
        local_id = hosted_id(url)
        if local_id is not None and (local_id in self._entries or self._stored_by_peer(local_id)):
            return self._entries[local_id].context
        known = self._by_url.get(url)
        if known is not None:
            return self._entries[known].context
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.ensure_future(self._fetch_entry(url))
            self._inflight[url] = task
            task.add_done_callback(lambda _: self._inflight.pop(url, None))
        return (await task).context

    async def _fetch_entry(self, url: str) -> StoredContext:
        path = self._cache_index.get(url)
        if path is not None:
            value = await asyncio.to_thread(read_cached_file, path, url)
            extra = f"from the context cache file {path.name}"
        else:
            value = await fetch_context(url, timeout=self.fetch_timeout, max_bytes=self.max_bytes)
            extra = "fetched over HTTP"
        _validate(value, url)
        entry = StoredContext(_digest(url), ContextKind.CACHED, value, url=url, extra_info=extra)
        self._remember_cached(entry)
        return entry

    def _remember_cached(self, entry: StoredContext) -> None:
        assert entry.url is not None
        if entry.url not in self._by_url and len(self._by_url) >= self.max_cached:
            oldest = next(iter(self._by_url))
            self._entries.pop(self._by_url.pop(oldest), None)
        self._entries[entry.local_id] = entry
        self._by_url[entry.url] = entry.local_id

    async def _implicit_entry(self, local_id: str, context: object) -> StoredContext:
        entry = self._entries.get(local_id)
        if entry is None:
            entry = StoredContext(local_id, ContextKind.IMPLICITLY_CREATED, context)
            await asyncio.to_thread(self._persist, entry)
            self._entries[local_id] = entry
        return entry

    def _count_hits(self, key: CacheKey) -> None:
        for part in key:
            local_id = (
                part[1:] if part.startswith("#") else self._by_url.get(part) or hosted_id(part)
            )
            entry = self._entries.get(local_id) if local_id else None
            if entry is not None:
                entry.touch()

    # ---- the @context store (clause 5.13) -----------------------------------------

    def add_hosted(self, document: object) -> str:
        """Store a client's @context document (Hosted kind); returns its localId."""
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData("the body must be a JSON object with an @context member")
        context = document["@context"]
        _validate(context, "the posted @context")
        entry = StoredContext(uuid.uuid4().hex, ContextKind.HOSTED, context)
        self._persist(entry)
        self._entries[entry.local_id] = entry
        return entry.local_id

    def list(
        self, kind: str | None = None, *, details: bool = False, base_url: str = ""
    ) -> Listing:
        """The stored @contexts (URLs, or detail objects), optionally of one kind."""
        wanted = _kind(kind) if kind is not None else None
        rows = [self._core_details()] if wanted in (None, ContextKind.CACHED) else []
        rows += [
            self._details(entry, base_url)
            for entry in self._entries.values()
            if wanted is None or entry.kind is wanted
        ]
        return rows if details else [str(row["URL"]) for row in rows]

    def get(self, local_id: str, *, details: bool = False, base_url: str = "") -> Details:
        """A stored @context document ({"@context": ...}) or its details."""
        if local_id == CORE_LOCAL_ID:
            return self._core_details() if details else core_document()
        entry = self._entry(local_id)
        return self._details(entry, base_url) if details else {"@context": entry.context}

    async def delete(self, local_id: str, *, reload: bool = False) -> None:
        """Delete a stored @context, or with `reload` re-fetch a Cached one."""
        if local_id == CORE_LOCAL_ID:
            raise BadRequestData("the NGSI-LD core context cannot be deleted or reloaded")
        entry = self._entry(local_id)
        if reload and entry.kind is not ContextKind.CACHED:
            raise BadRequestData(
                f"reload applies to Cached contexts only; {local_id} is {entry.kind}"
            )
        if reload:
            assert entry.url is not None
            fresh = await self._fetch_entry(entry.url)  # failure keeps the old copy
            fresh.hits, fresh.last_usage = entry.hits, entry.last_usage
        else:
            del self._entries[local_id]
            if entry.url is not None:
                self._by_url.pop(entry.url, None)
            if entry.kind is not ContextKind.CACHED:
                await asyncio.to_thread(self._unlink, local_id)
        self._active.clear()  # contexts built from the old content are stale

    def _entry(self, local_id: str) -> StoredContext:
        entry = self._entries.get(local_id) or self._stored_by_peer(local_id)
        if entry is None:
            raise ResourceNotFound(f"no @context with localId {local_id!r}")
        return entry

    def _stored_by_peer(self, local_id: str) -> StoredContext | None:
        """A context another API process on the same data folder stored since we started."""
        if self._hosted_dir is not None and (self._hosted_dir / f"{local_id}.json").exists():
            self._load_hosted(self._hosted_dir)
        return self._entries.get(local_id)

    def _details(self, entry: StoredContext, base_url: str) -> Details:
        url = entry.url or base_url.rstrip("/") + HOSTED_PATH + entry.local_id
        row: Details = {
            "URL": url,
            "localId": entry.local_id,
            "kind": str(entry.kind),
            "timestamp": _iso(entry.created_at),
            "numberOfHits": entry.hits,
        }
        if entry.last_usage is not None:
            row["lastUsage"] = _iso(entry.last_usage)
        if entry.extra_info:
            row["extraInfo"] = entry.extra_info
        return row

    def _core_details(self) -> Details:
        return {
            "URL": CORE_CONTEXT_URL,
            "localId": CORE_LOCAL_ID,
            "kind": str(ContextKind.CACHED),
            "timestamp": _iso(_STARTED),
            "extraInfo": "NGSI-LD core context v1.9, shipped with CityFabric; cannot be deleted",
        }

    # ---- persistence ------------------------------------------------------------

    def _persist(self, entry: StoredContext) -> None:
        """Write a Hosted/ImplicitlyCreated entry so that it survives a crash."""
        if self._hosted_dir is None:
            return
        record = {
            "localId": entry.local_id,
            "kind": str(entry.kind),
            "createdAt": entry.created_at,
            "@context": entry.context,
        }
        write_record(self._hosted_dir, entry.local_id, record)

    def _unlink(self, local_id: str) -> None:
        if self._hosted_dir is not None:
            remove_record(self._hosted_dir, local_id)

    def _load_hosted(self, folder: Path) -> None:
        for path, record in read_records(folder):
            try:
                entry = StoredContext(
                    str(record["localId"]),
                    ContextKind(record["kind"]),
                    record["@context"],
                    created_at=float(record["createdAt"]),
                )
            except (KeyError, ValueError, TypeError) as err:
                log.warning("skipping unreadable stored @context %s: %r", path, err)
                continue
            self._entries[entry.local_id] = entry


_STARTED: Final = time.time()


def _kind(value: str) -> ContextKind:
    try:
        return ContextKind(value)
    except ValueError:
        names = ", ".join(k.value for k in ContextKind)
        raise BadRequestData(f"unknown @context kind {value!r}; use one of {names}") from None


def _cache_key(context: object) -> CacheKey:
    if context is None:
        return ()
    if isinstance(context, str):
        return (context,)
    if isinstance(context, list) and all(isinstance(item, str) for item in context):
        return tuple(context)
    return ("#" + _digest(context),)


def _validate(context: object, origin: str) -> None:
    """Check the local (non-URL) parts of a @context value; remote ones are checked on use."""
    if isinstance(context, str) or context is None:
        return
    if isinstance(context, dict):
        if "@context" in context:
            _validate(context["@context"], origin)
        else:
            process_contexts([context])
        return
    if isinstance(context, list):
        for item in context:
            _validate(item, origin)
        return
    raise BadRequestData(f"invalid @context in {origin}: entries must be URLs or JSON objects")
