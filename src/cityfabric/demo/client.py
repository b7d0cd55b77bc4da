"""The demo's HTTP side: a small async NGSI-LD client that writes through the public API only.

    async with DemoClient("http://127.0.0.1:8000") as client:
        await client.async_wait_healthy(timeout=0)
        await client.async_upsert("minsk", entities)            # create or replace
        await client.async_upsert("minsk", fragments, update=True)  # options=update
        await client.async_temporal("minsk", body)               # a temporal entity, as bytes

Every failure (unreachable server, an error answer, a partial batch) is a DemoError whose
message says what happened; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final

import httpx
import orjson

LD_JSON: Final = "application/ld+json"
TENANT_HEADER: Final = "NGSILD-Tenant"
BATCH: Final = 1000  # entities per batch upsert (the server allows 10,000)
API: Final = "/ngsi-ld/v1"


class DemoError(Exception):
    """The demo cannot go on; the message says why."""


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        body = body.get("detail") or body.get("title") or body
    return str(body)[:300]


class DemoClient:
    """Batch upserts and temporal entities over one pooled httpx connection set."""

    def __init__(self, url: str, *, connections: int = 8, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=connections),
        )

    async def __aenter__(self) -> DemoClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def _post(self, path: str, tenant: str, content: bytes) -> httpx.Response:
        headers = {"Content-Type": LD_JSON, TENANT_HEADER: tenant}
        try:
            return await self._http.post(path, content=content, headers=headers)
        except httpx.TransportError as err:
            raise DemoError(
                f"cannot reach CityFabric at {self.url}: {err or type(err).__name__}"
            ) from err

    async def async_wait_healthy(self, timeout: float = 0.0) -> None:
        """Return once GET /health answers 200; DemoError after `timeout` seconds (0: one try)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = await self._http.get("/health", timeout=2.0)
                if response.status_code == 200:
                    return
                why = f"GET /health answered {response.status_code}"
            except httpx.TransportError as err:
                why = str(err) or type(err).__name__
            if time.monotonic() >= deadline:
                raise DemoError(f"cannot reach CityFabric at {self.url}: {why}")
            await asyncio.sleep(0.2)

    async def async_upsert(
        self, tenant: str, entities: Sequence[dict[str, Any]], *, update: bool = False
    ) -> None:
        """Batch upsert in chunks of BATCH, each entity carrying its @context."""
        path = f"{API}/entityOperations/upsert" + ("?options=update" if update else "")
        for i in range(0, len(entities), BATCH):
            response = await self._post(path, tenant, orjson.dumps(entities[i : i + BATCH]))
            if response.status_code == 207:
                errors = response.json().get("errors") or [{}]
                detail = errors[0].get("error", {}).get("detail", errors[0])
                raise DemoError(
                    f"batch upsert into tenant {tenant!r}: {len(errors)} entities refused, "
                    f"e.g. {detail}"
                )
            if response.status_code >= 300:
                raise DemoError(
                    f"batch upsert into tenant {tenant!r} answered {response.status_code}: "
                    f"{_problem(response)}"
                )

    async def async_temporal(self, tenant: str, body: bytes) -> None:
        """POST one temporal entity (JSON bytes with its @context) to add it to history."""
        response = await self._post(f"{API}/temporal/entities", tenant, body)
        if response.status_code >= 300:
            raise DemoError(
                f"temporal write into tenant {tenant!r} answered {response.status_code}: "
                f"{_problem(response)}"
            )
