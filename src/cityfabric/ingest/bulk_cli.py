"""`cityfabric import FILE`: bulk import into a running CityFabric over its public HTTP API."""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cityfabric.ingest.bulk import (
    BadFile,
    EntityBatch,
    Item,
    Lines,
    Reject,
    TemporalChunk,
    plan,
    read_csv,
    read_jsonl,
)

API = "/ngsi-ld/v1"
UPSERT = f"{API}/entityOperations/upsert"
TEMPORAL = f"{API}/temporal/entities"
LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
TENANT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")  # as the broker checks NGSILD-Tenant
SHOWN = 20  # rejected rows printed; --rejects keeps them all
err = Console(stderr=True)


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


SUFFIXES = {".jsonl": Format.jsonl, ".ndjson": Format.jsonl, ".csv": Format.csv}


class Unusable(Exception):
    """The import cannot go on: the server is unreachable or does not offer the API."""


@dataclass
class Tally:
    """What the import did; the rejected rows with the lowest line numbers are kept to print."""

    rows: int = 0
    entities: int = 0
    instances: int = 0
    series: set[str] = field(default_factory=set)
    rejected: int = 0
    lowest: list[tuple[int, int, Reject]] = field(default_factory=list)
    out: IO[bytes] | None = None

    def reject(self, reject: Reject) -> None:
        self.rejected += 1
        if self.out is not None:
            self.out.write(orjson.dumps(reject.to_json(), option=orjson.OPT_APPEND_NEWLINE))
        heapq.heappush(self.lowest, (-reject.line, -self.rejected, reject))
        if len(self.lowest) > SHOWN:
            heapq.heappop(self.lowest)

    def shown(self) -> list[Reject]:
        return [r for _, _, r in sorted(self.lowest, key=lambda t: (-t[0], -t[1]))]


def reason_of(problem: object, status: int | None = None) -> str:
    """A problem detail (RFC 9457) as one line: `title: detail`."""
    if isinstance(problem, dict):
        parts = [str(problem[k]) for k in ("title", "detail") if problem.get(k)]
        if parts:
            return ": ".join(parts)
    return f"HTTP {status}" if status else "rejected by the server"


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _response_reason(resp: httpx.Response) -> str:
    try:
        return reason_of(resp.json(), resp.status_code)
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"


class Sender:
    """Sends batches and temporal chunks, and books their outcome in a Tally."""

    def __init__(self, client: httpx.Client, tally: Tally, context: str | None) -> None:
        self.client, self.tally, self.context = client, tally, context

    def _post(self, path: str, body: Any, *, ld: bool, **params: str) -> httpx.Response:
        headers = {"Content-Type": "application/ld+json" if ld else "application/json"}
        if self.context and not ld:
            headers["Link"] = f"<{self.context}>; {LINK_REL}"
        try:
            resp = self.client.post(
                path, content=orjson.dumps(body), headers=headers, params=params
            )
        except httpx.TransportError as bad:
            raise Unusable(f"lost the connection to {self.client.base_url}: {bad}") from bad
        if resp.status_code in (404, 405):
            raise Unusable(
                f"{self.client.base_url} does not offer POST {path} "
                f"({_response_reason(resp)}); is it a CityFabric with this API?"
            )
        return resp

    def entities(self, batch: EntityBatch) -> None:
        docs = [e.doc for e in batch.entities]
        resp = self._post(UPSERT, docs, ld=batch.ld, options="update")
        if resp.status_code == 207:
            self._partial(batch, _json(resp))
        elif resp.is_success:
            self.tally.entities += len(docs)
        else:
            reason = _response_reason(resp)
            for e in batch.entities:
                self.tally.reject(Reject(e.line, reason, e.id))

    def _partial(self, batch: EntityBatch, result: dict[str, Any]) -> None:
        """Map a BatchOperationResult back to the lines (no id is twice in one batch)."""
        errors = {
            e.get("entityId"): reason_of(e.get("error"))
            for e in result.get("errors", [])
            if isinstance(e, dict)
        }
        success = {s for s in result.get("success", []) if isinstance(s, str)}
        for e in batch.entities:
            if e.id in errors:
                self.tally.reject(Reject(e.line, errors[e.id], e.id))
            elif e.id in success:
                self.tally.entities += 1
            else:
                self.tally.reject(Reject(e.line, "the server reported no outcome for it", e.id))

    def temporal(self, chunk: TemporalChunk) -> None:
        resp = self._post(TEMPORAL, chunk.doc, ld=chunk.ld)
        if resp.is_success:
            self.tally.instances += chunk.instances
            self.tally.series.add(chunk.entity_id)
            return
        reason = _response_reason(resp)
        for line in chunk.lines:
            self.tally.reject(Reject(line, reason, chunk.entity_id))


def _counted(items: Iterable[Item], tally: Tally) -> Iterator[Item]:
    for item in items:
        tally.rows += 1
        yield item


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeRemainingColumn(),
        console=err,
    )


def _import(path: Path, kind: Format, sender: Sender, batch_size: int) -> None:
    tally = sender.tally
    with path.open("rb") as stream, _progress() as progress:
        task = progress.add_task(
            f"importing {escape(path.name)}", total=path.stat().st_size, rows=0
        )
        lines = Lines(stream)
        items = read_jsonl(lines) if kind is Format.jsonl else read_csv(lines)
        for step in plan(_counted(items, tally), batch_size=batch_size):
            if isinstance(step, Reject):
                tally.reject(step)
            elif isinstance(step, EntityBatch):
                sender.entities(step)
            else:
                sender.temporal(step)
            progress.update(task, completed=lines.bytes_read, rows=tally.rows)


def _summary(tally: Tally, seconds: float, rejects: Path | None) -> None:
    typer.echo(f"rows read:         {tally.rows:,} in {seconds:.1f} s")
    typer.echo(f"entities written:  {tally.entities:,}")
    typer.echo(f"instances written: {tally.instances:,} (of {len(tally.series):,} entities)")
    typer.echo(f"rows rejected:     {tally.rejected:,}")
    for r in tally.shown():
        who = f" ({r.entity_id})" if r.entity_id else ""
        typer.echo(f"  line {r.line}{who}: {r.reason}")
    more = tally.rejected - len(tally.lowest)
    if more > 0:
        where = f"all are in {rejects}" if rejects else "--rejects FILE keeps them all"
        typer.echo(f"  ... and {more:,} more ({where})")


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(2)


def _base_url(url: str) -> str:
    base = url.rstrip("/")
    if not re.match(r"^https?://[^/]", base):
        raise _fail(f"--url must be an http:// or https:// address, not {url!r}")
    return base.removesuffix(API)


def _format_of(path: Path, given: Format | None) -> Format:
    if given is not None:
        return given
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise _fail(f"cannot tell the format of {path.name}: use --format jsonl or --format csv")
    return kind


def _client(base: str, tenant: str | None) -> httpx.Client:
    if tenant is not None and not TENANT.match(tenant):
        raise _fail(f"--tenant {tenant!r}: a tenant name is 1-64 letters, digits, '_' or '-'")
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    client = httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(120, connect=5))
    try:
        client.get("/health")
    except httpx.TransportError as bad:
        client.close()
        raise _fail(f"cannot reach CityFabric at {base}: {bad}") from None
    return client


def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON Lines (.jsonl, .ndjson) or CSV (.csv) file",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    url: Annotated[str, typer.Option(help="base URL of the CityFabric")] = "http://127.0.0.1:8000",
    tenant: Annotated[str | None, typer.Option(help="NGSILD-Tenant to write into")] = None,
    context: Annotated[
        str | None, typer.Option(help="@context URL (Link header) for rows without @context")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="entities per upsert request")
    ] = 1000,
    fmt: Annotated[
        Format | None, typer.Option("--format", help="file format; default: from the extension")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="write every rejected row here as JSON Lines")
    ] = None,
) -> None:
    """Import NGSI-LD entities or time series from JSON Lines or CSV (see docs/import.md).

    Exit code 0 when every row was imported, 1 when some were rejected, 2 on a usage error.
    """
    kind = _format_of(file, fmt)
    tally = Tally()
    started = time.monotonic()
    with ExitStack() as stack:
        client = _client(_base_url(url), tenant)
        stack.callback(client.close)
        try:
            if rejects is not None:
                tally.out = stack.enter_context(rejects.open("wb"))
            _import(file, kind, Sender(client, tally, context), batch_size)
        except (BadFile, Unusable, OSError) as bad:
            if tally.rows:
                _summary(tally, time.monotonic() - started, rejects)
            raise _fail(str(bad)) from None
    _summary(tally, time.monotonic() - started, rejects)
    if tally.rejected:
        raise typer.Exit(1)
