"""A city's history as columns: readings buffered per asset kind, sent as temporal entities.

The backfill simulates a day of one-minute steps at a time. `History.add` keeps each
step's readings as numpy columns (the asset, the time, one column per measure), never as
one object per reading; `History.take` turns the entities whose buffer is full into
temporal entities (`POST /temporal/entities` bodies), encoded column by column. A request
costs the server far more than an instance, so an entity's readings go in few large bodies.

Each entity's newest reading is held back from history: `take(last=True)` returns them as
updates, which the caller upserts last, so the current state is the newest reading and no
instance is written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import numpy as np
import orjson

from cityfabric.demo.build import Ints
from cityfabric.demo.ngsi import CONTEXT
from cityfabric.demo.simulator import Readings, Simulator, Update
from cityfabric.demo.telemetry import Telemetry

FLUSH: Final = 4000  # instances of an entity buffered before they are sent

Column = np.ndarray[Any, Any]


class Body(NamedTuple):
    """One temporal entity, encoded, and the attribute instances it carries."""

    content: bytes
    instances: int


@dataclass
class _Rows:
    """Readings of one kind: the asset (position among the kind's ids), the time (epoch
    seconds) and one column per measure; grouped by asset, in time order within each."""

    asset: Ints
    stamp: Ints
    columns: list[Column]

    def __len__(self) -> int:
        return len(self.asset)

    def pick(self, rows: Ints) -> _Rows:
        return _Rows(self.asset[rows], self.stamp[rows], [c[rows] for c in self.columns])


def _concat(parts: Sequence[_Rows]) -> _Rows:
    """The parts as one, grouped by asset (a stable sort keeps each asset's time order)."""
    asset = np.concatenate([p.asset for p in parts])
    order = np.argsort(asset, kind="stable")
    return _Rows(
        asset[order],
        np.concatenate([p.stamp for p in parts])[order],
        [np.concatenate(cols)[order] for cols in zip(*(p.columns for p in parts), strict=True)],
    )


def _texts(column: Column) -> list[str]:
    """Each value as JSON text (orjson's, as a whole-entity dump would give): the values
    are numbers, booleans or comma-free codes, so the array's JSON splits at its commas."""
    return orjson.dumps(column.tolist()).decode()[1:-1].split(",")


def _stamps(stamp: Ints) -> list[str]:
    """Each time as NGSI-LD text; formatted once per distinct step, not once per reading."""
    steps, where = np.unique(stamp, return_inverse=True)
    text = np.datetime_as_string(steps.astype("datetime64[s]"), unit="s").astype(object) + "Z"
    out: list[str] = text[where].tolist()
    return out


@dataclass
class _Kind:
    """The buffer of one asset kind: rows waiting to be sent, and this chunk's new rows."""

    telemetry: Telemetry
    ids: list[str]
    pending: list[_Rows] = field(default_factory=list)

    def add(self, stamp: int, r: Readings) -> None:
        stamps = np.full(len(r.assets), stamp, dtype=np.int64)
        self.pending.append(_Rows(r.assets.astype(np.int64), stamps, list(r.columns)))

    def take(self, last: bool) -> tuple[list[Body], _Rows | None]:
        """Bodies of the entities with FLUSH instances buffered (every entity when `last`),
        each but its newest reading; with `last`, the newest readings too."""
        if not self.pending:
            return [], None
        rows = _concat(self.pending)
        ends = np.flatnonzero(np.append(rows.asset[1:] != rows.asset[:-1], True))
        newest = np.zeros(len(rows), dtype=bool)
        newest[ends] = True
        per_row = len(self.telemetry.measures)
        count = np.bincount(rows.asset, minlength=len(self.ids))
        full = (count - 1) * per_row >= FLUSH
        send = ~newest & (True if last else full[rows.asset])
        self.pending = [] if last else [rows.pick(np.flatnonzero(~send))]
        return self._encode(rows.pick(np.flatnonzero(send))), (rows.pick(ends) if last else None)

    def _encode(self, rows: _Rows) -> list[Body]:
        if not len(rows):
            return []
        tel = self.telemetry
        stamps = _stamps(rows.stamp)
        instances = []
        for m, col in zip(tel.measures, rows.columns, strict=True):
            tail = f'","unitCode":"{m.unit}"}}' if m.unit else '"}'
            instances.append(
                [
                    f'{{"type":"Property","value":{v},"observedAt":"{s}{tail}'
                    for v, s in zip(_texts(col), stamps, strict=True)
                ]
            )
        starts = np.flatnonzero(np.insert(rows.asset[1:] != rows.asset[:-1], 0, True)).tolist()
        bounds = zip(starts, [*starts[1:], len(rows)], strict=True)
        head = f'"type":"{tel.entity_type}",'
        tail = f'"@context":["{CONTEXT[tel.entity_type]}"]}}'
        out = []
        for lo, hi in bounds:
            attrs = "".join(
                f'"{m.attribute}":[{",".join(inst[lo:hi])}],'
                for m, inst in zip(tel.measures, instances, strict=True)
            )
            eid = self.ids[int(rows.asset[lo])]
            body = f'{{"id":"{eid}",{head}{attrs}{tail}'
            out.append(Body(body.encode(), (hi - lo) * len(tel.measures)))
        return out


class History:
    """The backfill's readings of one city, buffered per kind until sent."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.kinds = {k: _Kind(r.telemetry, r.ids) for k, r in sim.reporting.items()}

    def add(self, t: datetime, readings: Sequence[Readings]) -> None:
        """Buffer one step's readings (observed at `t`)."""
        stamp = int(t.timestamp())
        for r in readings:
            self.kinds[r.kind].add(stamp, r)

    def take(self, last: bool = False) -> tuple[list[Body], list[Update]]:
        """The bodies due now (all when `last`) and, when `last`, each entity's newest
        reading as an update, held back from history for the final upsert."""
        bodies: list[Body] = []
        held: list[Update] = []
        for kind in self.kinds.values():
            sent, newest = kind.take(last)
            bodies += sent
            if newest is not None:
                held += _updates(kind, newest)
        return bodies, held


def _updates(kind: _Kind, rows: _Rows) -> list[Update]:
    names = kind.telemetry.attributes
    cols = [c.tolist() for c in rows.columns]
    return [
        Update(
            kind.ids[a],
            dict(zip(names, values, strict=True)),
            datetime.fromtimestamp(s, UTC),
        )
        for a, s, *values in zip(rows.asset.tolist(), rows.stamp.tolist(), *cols, strict=True)
    ]
