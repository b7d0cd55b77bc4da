"""The worker's state in the store's key/value table: one namespace per (type, attribute).

- `@pair`: the change-feed cursor (the last feed row scored) and the data clock (the newest
  observedAt seen, Unix seconds, for communication loss);
- `s <series>`: one series' checks and alert trackers (`anomaly_cycle.score_cycle`);
- `d <series>`: for pairs with the `silence` check, the data time after which the series is
  silent (absent while it has no usual interval yet, or its silence episode is open), so a
  cycle loads only the states of the series with new readings or past that time.

A cycle's states and cursor are written in one `kv_put_many` after its results, so a restart
re-scores at most that cycle (duplicate scores, never skipped ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from cityfabric.analytics.physics_checks import SilenceCheck
from cityfabric.store.base import KvItem, Store

PAIR_KEY: Final = "@pair"
_SERIES: Final = "s "
_DUE: Final = "d "
_SCAN_PAGE: Final = 5000


@dataclass
class PairState:
    namespace: str
    cursor: int = 0  # the last change-feed row scored
    clock: float | None = None  # newest observedAt seen, Unix seconds
    due: dict[str, float] | None = None  # series key -> silent after; None: not loaded yet
    silence: bool = False  # the pair has the silence check


def namespace_of(entity_type: str, attribute: str) -> str:
    return f"anomaly {entity_type} {attribute}"


def silent_after(state: dict[str, Any]) -> float | None:
    """When a series' silence check would fire (None: cannot yet, or its episode is open)."""
    saved = state.get("scorer", {}).get("checks", {}).get(SilenceCheck.name)
    if saved is None or (state.get("alerts", {}).get(SilenceCheck.name) or {}).get("active"):
        return None
    check = SilenceCheck(saved)
    usual = check.usual()
    if usual is None or check.last is None:
        return None
    return check.last + check.k * usual


class StateStore:
    """Loads and saves `PairState`s and series states through the store's kv methods."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def load_pair(self, tenant: str, namespace: str, silence: bool) -> PairState:
        got = await self.store.kv_get_many(tenant, namespace, [PAIR_KEY])
        pair = PairState(namespace, silence=silence)
        if PAIR_KEY in got:
            saved = orjson.loads(got[PAIR_KEY])
            pair.cursor, pair.clock = int(saved["cursor"]), saved.get("clock")
        return pair

    async def due(self, tenant: str, pair: PairState) -> dict[str, float]:
        """The pair's silence times (read once, then kept up to date by `save`)."""
        if pair.due is None:
            pair.due = {}
            after = ""
            while True:
                rows = await self.store.kv_scan(tenant, pair.namespace, _DUE, after, _SCAN_PAGE)
                pair.due.update((k.removeprefix(_DUE), float(orjson.loads(v))) for k, v in rows)
                if len(rows) < _SCAN_PAGE:
                    return pair.due
                after = rows[-1][0]
        return pair.due

    async def series(
        self, tenant: str, pair: PairState, keys: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        wanted = [_SERIES + k for k in keys]
        got = await self.store.kv_get_many(tenant, pair.namespace, wanted)
        return {k.removeprefix(_SERIES): orjson.loads(v) for k, v in got.items()}

    async def save(
        self,
        tenant: str,
        pair: PairState,
        states: dict[str, dict[str, Any]],
        moved: tuple[int, float | None],
    ) -> None:
        """The new cursor and clock (`moved`) and the given series' states, in one transaction;
        `pair` follows only once they are stored."""
        cursor, clock = moved
        items: list[KvItem] = [(PAIR_KEY, orjson.dumps({"cursor": cursor, "clock": clock}))]
        items += [(_SERIES + k, orjson.dumps(s)) for k, s in states.items()]
        due = {k: silent_after(s) for k, s in states.items()} if pair.silence else {}
        items += [(_DUE + k, None if t is None else orjson.dumps(t)) for k, t in due.items()]
        await self.store.kv_put_many(tenant, pair.namespace, items)
        pair.cursor, pair.clock = cursor, clock
        if pair.due is not None:
            for key, when in due.items():
                if when is None:
                    pair.due.pop(key, None)
                else:
                    pair.due[key] = when
