"""The history change feed: only changed series, only their new rows, exact cursors, pruning."""

from __future__ import annotations

import time
from typing import Any

from cityfabric.store.base import ChangePage, ChangeQuery, HistoryQuery
from tests.store.conftest import AnyStore, raw_rows

T, OTHER = "urn:t:Lamp", "urn:t:Meter"
POWER, TEMP = "urn:a:power", "urn:a:temp"
NOW = "2026-06-01T00:00:00Z"


def reading(minute: int, value: Any, dataset: str | None = None) -> dict[str, Any]:
    inst = {
        "type": "Property",
        "value": value,
        "observedAt": f"2026-06-01T{minute // 60:02d}:{minute % 60:02d}:00Z",
    }
    if dataset is not None:
        inst["datasetId"] = dataset
    return inst


async def add(store: AnyStore, entity: str, attr: str, *insts: dict[str, Any], t: str = T) -> None:
    await store.add_history("", entity, [t], [(attr, i) for i in insts], NOW)


async def changes(store: AnyStore, after: int = 0, **kw: Any) -> ChangePage:
    return await store.history_changes("", ChangeQuery(T, (POWER,), after=after, **kw))


def values(page: ChangePage) -> dict[str, list[object]]:
    return {
        f"{s.entity_id}|{s.dataset_id or ''}": [i.value for i in s.instances] for s in page.series
    }


async def test_only_what_was_written_after_the_cursor(store: AnyStore) -> None:
    await add(store, "urn:l:1", POWER, reading(0, 10), reading(10, 11))
    await add(store, "urn:l:2", POWER, reading(0, 20))
    first = await changes(store)
    assert values(first) == {"urn:l:1|": [10, 11], "urn:l:2|": [20]}
    assert not first.more
    # a late reading (older than what is stored) and a new one: only they come back
    await add(store, "urn:l:1", POWER, reading(5, 12), reading(20, 13))
    second = await changes(store, first.cursor)
    assert values(second) == {"urn:l:1|": [12, 13]}
    assert [i.ts for i in second.series[0].instances] == [
        1780272300000,
        1780273200000,
    ]
    assert (await changes(store, second.cursor)).series == []
    assert (await changes(store, second.cursor)).cursor == second.cursor


async def test_other_types_attributes_and_tenants_are_not_returned(store: AnyStore) -> None:
    await add(store, "urn:m:1", POWER, reading(0, 1), t=OTHER)
    await add(store, "urn:l:1", TEMP, reading(0, 2))
    await store.add_history("other", "urn:l:9", [T], [(POWER, reading(0, 3))], NOW)
    await add(store, "urn:l:1", POWER, reading(0, 4, dataset="urn:d:a"), reading(1, True))
    page = await changes(store)
    assert values(page) == {"urn:l:1|urn:d:a": [4], "urn:l:1|": [True]}
    assert [i.observed for s in page.series for i in s.instances] == [True, True]
    other = await store.history_changes("other", ChangeQuery(T, (POWER,)))
    assert values(other) == {"urn:l:9|": [3]}
    assert (await store.history_changes("nobody", ChangeQuery(T, (POWER,)))).cursor == 0
    # nothing of a type: the cursor still moves past what was scanned
    none = await store.history_changes("", ChangeQuery("urn:t:None", (POWER,)))
    assert (none.series, none.cursor, none.more) == ([], page.cursor, False)


async def test_pages_take_whole_feed_rows_up_to_the_bound(store: AnyStore) -> None:
    for n in range(5):
        await add(store, f"urn:l:{n}", POWER, reading(0, n), reading(1, n))
    seen: list[object] = []
    cursor, pages = 0, 0
    while True:
        page = await changes(store, cursor, max_instances=3)
        seen += [v for vs in values(page).values() for v in vs]
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            break
    assert [str(v) for v in sorted(seen, key=str)] == sorted(
        str(n) for n in range(5) for _ in range(2)
    )
    assert pages == 5  # 2 instances per feed row: one row fits a bound of 3
    big = await changes(store, 0, max_instances=1)  # a row bigger than the bound still comes
    assert sum(len(s.instances) for s in big.series) == 2


async def test_the_upper_bound_stops_the_page(store: AnyStore) -> None:
    await add(store, "urn:l:1", POWER, reading(0, 1))
    cut = int(time.time() * 1000) + 1
    time.sleep(0.01)
    await add(store, "urn:l:1", POWER, reading(1, 2))
    early = await changes(store, before_ms=cut)
    assert values(early) == {"urn:l:1|": [1]}
    assert (await changes(store, early.cursor, before_ms=cut)).cursor == early.cursor
    assert values(await changes(store, early.cursor)) == {"urn:l:1|": [2]}


async def test_one_feed_row_per_series_per_transaction(store: AnyStore) -> None:
    instances = [(POWER, reading(m, m)) for m in range(100)] + [(TEMP, reading(0, 1))]
    await store.add_history("", "urn:l:1", [T], instances, NOW)
    rows = raw_rows(store, "SELECT ihi - ilo + 1, hi - lo FROM hist_changes")
    assert sorted(rows) == [(1, 0), (100, 99 * 60_000)]


async def test_deleted_history_and_pruned_rows_are_gone(store: AnyStore) -> None:
    await add(store, "urn:l:1", POWER, reading(0, 1))
    await add(store, "urn:l:2", POWER, reading(0, 2))
    await add(store, "urn:l:3", POWER, reading(0, 3))
    await store.delete_history("", "urn:l:1")
    assert values(await changes(store)) == {"urn:l:2|": [2], "urn:l:3|": [3]}
    top = (await changes(store)).cursor
    now = int(time.time() * 1000)
    await store.expire_history(now + 23 * 3600 * 1000)  # the feed keeps one day
    assert values(await changes(store)) == {"urn:l:2|": [2], "urn:l:3|": [3]}
    await store.expire_history(now + 25 * 3600 * 1000)
    # all but the newest row: feed numbers never go back, so no cursor skips a new row
    assert values(await changes(store)) == {"urn:l:3|": [3]}
    await add(store, "urn:l:4", POWER, reading(0, 4))
    assert values(await changes(store, top)) == {"urn:l:4|": [4]}
    assert (await store.history("", HistoryQuery(limit=10))).entities  # the history stays
