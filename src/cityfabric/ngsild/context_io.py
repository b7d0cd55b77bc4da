"""@context I/O: HTTP(S) fetches with limits, the offline cache folder, stored-context files."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from cityfabric.ngsild.errors import LdContextNotAvailable

log = logging.getLogger(__name__)

ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"


async def fetch_context(url: str, *, timeout: float, max_bytes: int) -> object:
    """The "@context" member of the JSON document at `url`, within a time and size limit."""
    if not url.startswith(("http://", "https://")):
        raise LdContextNotAvailable(f"cannot load @context {url}: only http(s) URLs are supported")
    try:
        async with asyncio.timeout(timeout):
            body = await _download(url, timeout=timeout, max_bytes=max_bytes)
    except TimeoutError as err:
        raise LdContextNotAvailable(
            f"cannot load @context {url}: no complete answer within {timeout:g} s"
        ) from err
    except httpx.HTTPError as err:
        raise LdContextNotAvailable(f"cannot load @context {url}: {err!r}") from err
    return context_member(body, url)


async def _download(url: str, *, timeout: float, max_bytes: int) -> bytes:
    too_big = f"cannot load @context {url}: the document is larger than {max_bytes} bytes"
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=True, trust_env=False) as client,
        client.stream("GET", url, headers={"Accept": ACCEPT}) as response,
    ):
        if response.status_code != 200:
            raise LdContextNotAvailable(
                f"cannot load @context {url}: the server answered HTTP {response.status_code}"
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise LdContextNotAvailable(too_big)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise LdContextNotAvailable(too_big)
    return bytes(body)


def context_member(body: bytes, url: str) -> object:
    """The "@context" member of a context document, or LdContextNotAvailable saying why not."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise LdContextNotAvailable(
            f"cannot load @context {url}: the document is not JSON"
        ) from err
    if not isinstance(doc, dict) or "@context" not in doc:
        raise LdContextNotAvailable(
            f"cannot load @context {url}: the document is not a JSON object with an @context member"
        )
    return doc["@context"]


def load_cache_index(cache_dir: Path) -> dict[str, Path]:
    """URL -> file of an offline context-cache folder, read from its index.json."""
    index_file = cache_dir / "index.json"
    try:
        index = orjson.loads(index_file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as err:
        raise ValueError(f"context cache {cache_dir}: cannot read index.json ({err})") from err
    if not isinstance(index, dict):
        raise ValueError(f"context cache {cache_dir}: index.json must map URLs to file names")
    return {str(url): cache_dir / str(name) for url, name in index.items()}


def read_cached_file(path: Path, url: str) -> object:
    """The "@context" member of a file of the offline context cache."""
    try:
        body = path.read_bytes()
    except OSError as err:
        raise LdContextNotAvailable(
            f"cannot load @context {url}: cache file {path.name} ({err})"
        ) from err
    return context_member(body, url)


def write_record(folder: Path, name: str, record: dict[str, Any]) -> None:
    """Write `folder/name.json` atomically: temp file, fsync, rename, fsync the folder."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(record))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / f"{name}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def remove_record(folder: Path, name: str) -> None:
    """Delete `folder/name.json` durably (missing is fine)."""
    (folder / f"{name}.json").unlink(missing_ok=True)
    _fsync_dir(folder)


def read_records(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The JSON objects stored in `folder/*.json`; unreadable files are logged and skipped."""
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue  # a temp file left by a crash before its rename: never acknowledged
        try:
            record = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as err:
            log.warning("skipping unreadable stored @context %s: %s", path, err)
            continue
        if isinstance(record, dict):
            yield path, record


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
