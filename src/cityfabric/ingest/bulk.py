"""Bulk import: NGSI-LD entities and time series read from JSON Lines or CSV, in batches.

Readers turn the lines of a file into items (an entity to upsert, a temporal
representation to post, or one CSV row of instances) and `Reject`s that carry the
line number and the reason; `plan` groups the items into the requests to send.
Nothing here talks HTTP: `bulk_cli` does.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Final

import orjson

from cityfabric.ngsild.nul import json_nul_problem, text_nul_problem

Doc = dict[str, Any]
CORE_MEMBERS: Final = frozenset({"id", "type", "@context"})
CSV_KEYS: Final = ("id", "type", "observedAt")
MAX_INT: Final = 2**63 - 1  # orjson and most JSON consumers stop at 64-bit integers


class BadFile(ValueError):
    """The file cannot be read at all (no header, no id column...): a usage error."""


@dataclass(frozen=True)
class Reject:
    """A row that was not imported, and why."""

    line: int
    reason: str
    entity_id: str | None = None

    def to_json(self) -> Doc:
        out: Doc = {"line": self.line, "reason": self.reason}
        if self.entity_id is not None:
            out["entityId"] = self.entity_id
        return out


@dataclass(frozen=True)
class Entity:
    """One entity to upsert (a JSON line or a CSV row without observedAt)."""

    line: int
    doc: Doc
    size: int  # bytes of JSON, to keep a batch under the server's body limit

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def ld(self) -> bool:
        return "@context" in self.doc


@dataclass(frozen=True)
class Series:
    """One CSV row of a time series: one instance per non-empty attribute column."""

    line: int
    entity_id: str
    entity_type: str
    instances: dict[str, Doc]


@dataclass(frozen=True)
class EntityBatch:
    """Entities for one upsert request; `ld` ones carry their own @context."""

    entities: list[Entity]
    ld: bool


@dataclass(frozen=True)
class TemporalChunk:
    """A temporal representation for one POST /temporal/entities request."""

    lines: tuple[int, ...]
    entity_id: str
    doc: Doc
    instances: int

    @property
    def ld(self) -> bool:
        return "@context" in self.doc


Item = Entity | Series | TemporalChunk | Reject
Step = EntityBatch | TemporalChunk | Reject


# -- lines of the file ----------------------------------------------------------------


class Lines:
    """The numbered lines of a binary file, counting the bytes read (for a progress bar)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.bytes_read = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for number, raw in enumerate(self.stream, 1):
            self.bytes_read += len(raw)
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            yield number, raw


# -- JSON Lines -----------------------------------------------------------------------


def read_jsonl(lines: Iterable[tuple[int, bytes]]) -> Iterator[Item]:
    """One item per non-blank line: an entity, a temporal representation, or a reject."""
    for number, raw in lines:
        if not raw.strip():
            continue
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            yield Reject(number, f"not valid JSON: {err}")
            continue
        nul = json_nul_problem(raw, doc, "the line")
        if nul is not None:
            yield Reject(number, nul.detail)
            continue
        yield json_item(number, doc, len(raw))


def json_item(number: int, doc: object, size: int) -> Item:
    if not isinstance(doc, dict):
        return Reject(number, f"not a JSON object but {type(doc).__name__}")
    eid = doc.get("id")
    if not isinstance(eid, str) or not eid:
        return Reject(number, "no entity id: each line needs an 'id' string")
    if is_temporal(doc):
        count = sum(len(v) for k, v in doc.items() if k not in CORE_MEMBERS and isinstance(v, list))
        return TemporalChunk((number,), eid, doc, count)
    return Entity(number, doc, size)


def is_temporal(doc: Doc) -> bool:
    """True when an attribute is a history: instances with observedAt sharing a datasetId.

    Several instances of one attribute with distinct datasetIds are a multi-attribute
    of an ordinary entity; the same datasetId (or none) twice can only be a history.
    """
    for key, value in doc.items():
        if key in CORE_MEMBERS or not isinstance(value, list) or len(value) < 2:
            continue
        if all(isinstance(i, dict) and "observedAt" in i for i in value):
            datasets = [i.get("datasetId") for i in value]
            if len(set(datasets)) < len(datasets):
                return True
    return False


# -- CSV ------------------------------------------------------------------------------

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLS: Final = {"true": True, "false": False}


def parse_cell(text: str) -> str | int | float | bool:
    """A CSV cell as a JSON value: a JSON number, true/false (any case), else the text."""
    t = text.strip()
    if _INT.fullmatch(t):
        number = int(t)
        return number if -MAX_INT - 1 <= number <= MAX_INT else text
    if _NUMBER.fullmatch(t):
        real = float(t)
        return real if math.isfinite(real) else text
    flag = _BOOLS.get(t.lower())
    return text if flag is None else flag


def parse_observed_at(text: str) -> str | None:
    """An ISO 8601 date-time as NGSI-LD UTC text (no offset means UTC); None if it is not one."""
    t = text.strip()
    if len(t) <= 10:  # a date alone is not a date-time
        return None
    try:
        moment = datetime.fromisoformat(t)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


@dataclass
class _Decoded:
    """Feeds csv.reader with text, remembering the last line read and the lines not UTF-8."""

    lines: Iterable[tuple[int, bytes]]
    last: int = 0
    bad: set[int] = field(default_factory=set)

    def __iter__(self) -> Iterator[str]:
        for number, raw in self.lines:
            self.last = number
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.add(number)
                yield raw.decode("utf-8", errors="replace")


def _records(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, list[str] | Reject]]:
    """(first line, fields) of each CSV record; records spanning lines keep their first line."""
    text = _Decoded(lines)
    reader = csv.reader(text)
    while True:
        start = text.last + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield start, Reject(start, f"not valid CSV: {err}")
            continue
        if any(n in text.bad for n in range(start, text.last + 1)):
            yield start, Reject(start, "not valid UTF-8")
        elif record and not (len(record) == 1 and not record[0].strip()):
            yield start, record  # blank lines are skipped


def _header(fields: list[str]) -> list[str]:
    names = [f.strip() for f in fields]
    missing = [k for k in ("id", "type") if k not in names]
    if missing:
        raise BadFile(
            f"the CSV header must name the columns id and type (missing: {', '.join(missing)}); "
            f"it has {', '.join(names)}"
        )
    if "" in names:
        raise BadFile(f"the CSV header has a column without a name (column {names.index('') + 1})")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadFile(f"the CSV header names {', '.join(twice)} more than once")
    return names


def read_csv(lines: Iterable[tuple[int, bytes]]) -> Iterator[Item]:
    """Rows of `id,type[,observedAt],<attr>...`: with observedAt a time series, else entities."""
    records = _records(lines)
    names: list[str] | None = None
    for number, record in records:
        if isinstance(record, Reject):
            yield record
        elif names is None:
            names = _header(record)
        elif len(record) != len(names):
            yield Reject(number, f"{len(record)} columns where the header has {len(names)}")
        elif (nul := text_nul_problem("".join(record), "the row")) is not None:
            yield Reject(number, nul.detail)
        else:
            yield csv_item(number, dict(zip(names, record, strict=True)))
    if names is None:
        raise BadFile(
            "the CSV file is empty: it needs a header line such as id,type,observedAt,..."
        )


def csv_item(number: int, row: dict[str, str]) -> Item:
    eid, etype = row["id"].strip(), row["type"].strip()
    if not eid:
        return Reject(number, "no entity id")
    if not etype:
        return Reject(number, "no entity type", eid)
    values = {k: parse_cell(v) for k, v in row.items() if k not in CSV_KEYS and v.strip() != ""}
    if "observedAt" not in row:
        doc: Doc = {"id": eid, "type": etype}
        doc.update({k: {"type": "Property", "value": v} for k, v in values.items()})
        return Entity(number, doc, len(orjson.dumps(doc)))
    at = parse_observed_at(row["observedAt"])
    if at is None:
        return Reject(number, f"observedAt {row['observedAt']!r} is not an ISO 8601 date-time", eid)
    instances = {k: {"type": "Property", "value": v, "observedAt": at} for k, v in values.items()}
    return Series(number, eid, etype, instances)


# -- batching -------------------------------------------------------------------------


@dataclass
class _Pending:
    entity_type: str
    attrs: dict[str, list[Doc]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)
    count: int = 0

    def chunk(self, entity_id: str) -> TemporalChunk:
        doc: Doc = {"id": entity_id, "type": self.entity_type, **self.attrs}
        return TemporalChunk(tuple(self.lines), entity_id, doc, self.count)


class SeriesGrouper:
    """Groups CSV rows per entity into temporal representations of at most `chunk` instances.

    Memory stays bounded: past `buffered` pending instances every entity is flushed.
    """

    def __init__(self, chunk: int = 10_000, buffered: int = 50_000) -> None:
        self.chunk, self.buffered = chunk, buffered
        self.pending: dict[str, _Pending] = {}
        self.types: dict[str, str] = {}
        self.count = 0

    def add(self, row: Series) -> Iterator[Step]:
        first = self.types.setdefault(row.entity_id, row.entity_type)
        if first != row.entity_type:
            reason = f"entity {row.entity_id} was given type {first} before, not {row.entity_type}"
            yield Reject(row.line, reason, row.entity_id)
            return
        if not row.instances:
            return  # a row of empty cells: nothing was measured
        size = len(row.instances)
        entry = self.pending.get(row.entity_id)
        if entry is not None and entry.count + size > self.chunk:
            yield self._flush(row.entity_id)
        entry = self.pending.setdefault(row.entity_id, _Pending(row.entity_type))
        for name, instance in row.instances.items():
            entry.attrs.setdefault(name, []).append(instance)
        entry.lines.append(row.line)
        entry.count += size
        self.count += size
        if entry.count >= self.chunk:
            yield self._flush(row.entity_id)
        elif self.count >= self.buffered:
            yield from self.flush()

    def _flush(self, entity_id: str) -> TemporalChunk:
        entry = self.pending.pop(entity_id)
        self.count -= entry.count
        return entry.chunk(entity_id)

    def flush(self) -> Iterator[TemporalChunk]:
        for entity_id in list(self.pending):
            yield self._flush(entity_id)


class EntityBatcher:
    """Batches of at most `size` entities and `max_bytes` bytes, with no id twice in one batch.

    An id seen twice starts a new batch, so that each error of a batch answer names
    exactly one line and later lines update what earlier ones wrote.
    """

    def __init__(self, size: int = 1000, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.size, self.max_bytes = size, max_bytes
        self.pending: dict[bool, list[Entity]] = {False: [], True: []}
        self.bytes = {False: 0, True: 0}
        self.ids: set[str] = set()

    def add(self, entity: Entity) -> Iterator[EntityBatch]:
        if entity.id in self.ids:
            yield from self.flush()
        ld = entity.ld
        if self.pending[ld] and self.bytes[ld] + entity.size > self.max_bytes:
            yield self._flush(ld)
        self.pending[ld].append(entity)
        self.bytes[ld] += entity.size
        self.ids.add(entity.id)
        if len(self.pending[ld]) >= self.size:
            yield self._flush(ld)

    def holds(self, entity_id: str) -> bool:
        return entity_id in self.ids

    def _flush(self, ld: bool) -> EntityBatch:
        batch = EntityBatch(self.pending[ld], ld)
        self.ids.difference_update(e.id for e in batch.entities)
        self.pending[ld], self.bytes[ld] = [], 0
        return batch

    def flush(self) -> Iterator[EntityBatch]:
        for ld in (False, True):
            if self.pending[ld]:
                yield self._flush(ld)


def plan(items: Iterable[Item], *, batch_size: int = 1000, chunk: int = 10_000) -> Iterator[Step]:
    """The requests to send for `items`, in file order as far as batching allows."""
    entities = EntityBatcher(batch_size)
    series = SeriesGrouper(chunk, buffered=max(5 * chunk, 50_000))
    for item in items:
        if isinstance(item, Entity):
            yield from entities.add(item)
        elif isinstance(item, Series):
            yield from series.add(item)
        elif isinstance(item, TemporalChunk):
            if entities.holds(item.entity_id):  # keep the file's order for one entity
                yield from entities.flush()
            yield item
        else:
            yield item
    yield from entities.flush()
    yield from series.flush()
