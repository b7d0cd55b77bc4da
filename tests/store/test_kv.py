"""The key/value side table on every engine: get_many, put_many and scan, per tenant."""

from __future__ import annotations

from tests.store.conftest import AnyStore


async def test_put_get_replace_delete(store: AnyStore) -> None:
    assert await store.kv_get_many("", "ns", ["a"]) == {}
    await store.kv_put_many("", "ns", [("a", b"1"), ("b", b"2")])
    assert await store.kv_get_many("", "ns", ["a", "b", "c", "a"]) == {"a": b"1", "b": b"2"}
    await store.kv_put_many("", "ns", [("a", b"3"), ("b", None), ("c", None)])
    assert await store.kv_get_many("", "ns", ["a", "b"]) == {"a": b"3"}


async def test_namespaces_and_tenants_are_apart(store: AnyStore) -> None:
    await store.kv_put_many("", "ns", [("k", b"default")])
    await store.kv_put_many("", "other", [("k", b"other ns")])
    await store.kv_put_many("city", "ns", [("k", b"tenant")])
    assert await store.kv_get_many("", "ns", ["k"]) == {"k": b"default"}
    assert await store.kv_get_many("", "other", ["k"]) == {"k": b"other ns"}
    assert await store.kv_get_many("city", "ns", ["k"]) == {"k": b"tenant"}
    assert await store.kv_get_many("nobody", "ns", ["k"]) == {}


async def test_many_keys_and_a_paged_prefix_scan(store: AnyStore) -> None:
    items = [(f"d {n:05d}", str(n).encode()) for n in range(12_000)]
    await store.kv_put_many("", "ns", [*items, ("e 1", b"x"), ("c 1", b"y")])
    got = await store.kv_get_many("", "ns", [k for k, _ in items])
    assert len(got) == 12_000 and got["d 11999"] == b"11999"
    seen: list[str] = []
    after = ""
    while page := await store.kv_scan("", "ns", "d ", after, 5000):
        seen += [k for k, _ in page]
        after = page[-1][0]
    assert seen == [k for k, _ in items]
    assert await store.kv_scan("", "ns", "", "", 10) == [("c 1", b"y"), *items[:9]]
