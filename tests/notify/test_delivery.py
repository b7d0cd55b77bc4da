"""The delivery worker's subscription cache and batched settlement, through the app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from cityfabric.notify import delivery as delivery_module
from cityfabric.notify.delivery import coalesce
from cityfabric.notify.matcher import CHANGES, Recorder
from cityfabric.store.base import DeliveryStatus, Settlement
from tests.api.test_entities import B
from tests.api.test_notifications import SL, lamp, set_state, settled, status, subscribe, write
from tests.conftest import SDM_CONTEXTS
from tests.notify.fakeclock import clocked_app
from tests.notify.receiver import Receiver, receiver


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", context_cache=SDM_CONTEXTS, notification_process=False
    )
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def rec() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


class Counting:
    """Wraps one async store method on the instance and counts its calls."""

    def __init__(self, store: Any, name: str) -> None:
        self.calls: list[Any] = []
        inner = getattr(store, name)

        async def wrapper(*args: Any) -> Any:
            self.calls.append(args)
            return await inner(*args)

        setattr(store, name, wrapper)


def test_subscriptions_are_parsed_once_until_one_changes(client: TestClient, rec: Receiver) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    reads = Counting(store, "get_subscription")
    sub = subscribe(client, rec.url)
    write(client, lamp("on"))
    rec.wait(lambda got: len(got) == 1)
    first = len(reads.calls)
    for state in ("off", "dim", "on"):
        set_state(client, state)
        time.sleep(0.05)
    rec.wait(lambda got: sum(len(r.body["data"]) for r in got) == 4)
    assert len(reads.calls) == first  # served from the cache
    with receiver() as other:
        r = client.patch(
            f"{B}/subscriptions/{sub}",
            json={"notification": {"endpoint": {"uri": other.url}}},
            headers=SL,
        )
        assert r.status_code == 204, r.text
        set_state(client, "off")
        got = other.wait(lambda got: len(got) == 1)
        assert got[0].body["data"][0]["powerState"]["value"] == "off"
    assert len(reads.calls) > first
    r = client.delete(f"{B}/subscriptions/{sub}")
    assert r.status_code == 204
    set_state(client, "on")  # no subscription left: nothing queued, nothing sent
    time.sleep(0.2)
    assert sum(len(r.body["data"]) for r in rec.got) == 4


def test_settlements_are_batched_and_rows_removed_after_delivery(
    client: TestClient, rec: Receiver
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    settles = Counting(store, "settle_notifications")
    subs = [subscribe(client, f"{rec.url}/{i}") for i in range(30)]
    write(client, lamp("on"))
    rec.wait(lambda got: len(got) == 30)
    settled(client)
    assert 1 <= len(settles.calls) < 30
    total = Settlement()
    for (done,) in settles.calls:
        total.delivered.extend(done.delivered)
        total.statuses.extend(done.statuses)
    # the write's one recorded row, deleted once its 30 notifications were delivered
    assert len(total.delivered) == 1
    assert sorted(s.subscription_id for s in total.statuses) == sorted(subs)
    for sub in subs:
        assert status(client, sub)["notification"]["timesSent"] == 1


def test_rows_for_a_busy_endpoint_wait_behind_it_and_go_together(
    client: TestClient, rec: Receiver
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    settles = Counting(store, "settle_notifications")
    rec.delay = 1.5  # the first request holds the endpoint while the others are written
    subscribe(client, rec.url)
    write(client, lamp("on"))
    time.sleep(0.1)
    states = [f"dim-{i}" for i in range(5)]
    for state in states:
        set_state(client, state)
    got = rec.wait(lambda got: sum(len(r.body["data"]) for r in got) == 6)
    assert [[e["powerState"]["value"] for e in r.body["data"]] for r in got] == [["on"], states]
    settled(client)
    assert not any(done.defer or done.queue for (done,) in settles.calls)  # none put back


def test_an_endpoint_queue_is_bounded_and_the_rest_waits_in_the_outbox(
    client: TestClient, rec: Receiver
) -> None:
    delivery = client.app.state.delivery  # type: ignore[attr-defined]
    delivery.config = replace(delivery.config, queue=2, poll=3600)  # only its own wake-ups
    store = client.app.state.store  # type: ignore[attr-defined]
    settles = Counting(store, "settle_notifications")
    rec.delay = 1.5  # the first request holds the endpoint while the others are written
    subscribe(client, rec.url)
    write(client, lamp("on"))
    time.sleep(0.1)  # "on" is in flight: one more row fits behind it
    states = [f"dim-{i}" for i in range(4)]
    for state in states:
        set_state(client, state)
    got = rec.wait(lambda got: sum(len(r.body["data"]) for r in got) == 5)
    values = [e["powerState"]["value"] for r in got for e in r.body["data"]]
    assert values == ["on", *states]  # in order, none lost
    settled(client)
    assert any(done.queue for (done,) in settles.calls)  # some went back to the outbox


def test_a_failing_endpoint_is_not_tried_again_for_the_rows_behind_it(
    client: TestClient, rec: Receiver
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    settles = Counting(store, "settle_notifications")
    delivery = client.app.state.delivery  # type: ignore[attr-defined]
    delivery.config = replace(delivery.config, retry_base=60)  # no retry while we look
    rec.status = 500
    subs = [subscribe(client, rec.url) for _ in range(3)]  # one endpoint, three subscriptions
    write(client, lamp("on"))
    deadline = time.monotonic() + 5
    while not any(done.queue for (done,) in settles.calls):  # put back in the outbox
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    assert rec.calls == 1  # the first failed: the other two were put back, not tried
    failed = sum(status(client, sub)["notification"].get("timesFailed", 0) for sub in subs)
    assert failed == 1


def test_a_lost_settlement_only_causes_a_redelivery(tmp_path: Path, rec: Receiver) -> None:
    with clocked_app(tmp_path, notification_timeout=1.0) as (client, clock):
        store = client.app.state.store  # type: ignore[attr-defined]
        delivery = client.app.state.delivery  # type: ignore[attr-defined]
        real = store.settle_notifications
        lost: list[Settlement] = []

        async def crash_once(done: Settlement) -> None:
            if done.delivered and not lost:
                lost.append(done)
                raise RuntimeError("the process died before the flush")
            await real(done)

        store.settle_notifications = crash_once
        sub = subscribe(client, rec.url)
        write(client, lamp("on"))
        rec.wait(lambda got: len(got) == 1)
        time.sleep(0.3)
        assert lost
        # still queued:
        assert client.portal.call(store.pending_notifications) == 1  # type: ignore[union-attr]
        clock.advance(delivery.config.lease_ms / 1000 + 1)  # the lease runs out
        delivery.wake()
        got = rec.wait(lambda got: len(got) == 2)
        assert got[0].body["data"] == got[1].body["data"]  # the same entity, again
        settled(client)
        assert status(client, sub)["notification"]["timesSent"] == 1


def test_statuses_of_one_subscription_are_written_as_one() -> None:
    a1 = DeliveryStatus("t", "a", sent=1, last_notification="1", last_success="1")
    b = DeliveryStatus(
        "t", "b", failed=1, last_notification="2", last_failure="2", failure_reason="x"
    )
    a2 = DeliveryStatus(
        "t", "a", failed=1, last_notification="3", last_failure="3", failure_reason="y"
    )
    a3 = DeliveryStatus("t", "a", sent=2, last_notification="4", last_success="4")
    other_tenant = DeliveryStatus("u", "a", sent=1)
    assert coalesce([a1, b, a2, a3, other_tenant]) == [
        DeliveryStatus("t", "a", 3, 1, "4", "4", "3", "y"),
        b,
        other_tenant,
    ]


def test_a_failed_notification_becomes_a_row_of_its_own_and_the_record_goes(
    client: TestClient, rec: Receiver
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    delivery = client.app.state.delivery  # type: ignore[attr-defined]
    delivery.config = replace(delivery.config, retry_base=60)  # no retry while we look
    rec.status = 500
    failing = subscribe(client, rec.url)
    with receiver() as ok:
        fine = subscribe(client, ok.url)
        write(client, lamp("on"))
        ok.wait(lambda got: len(got) == 1)
    deadline = time.monotonic() + 5
    while status(client, failing)["notification"].get("timesFailed", 0) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    settled_at = time.monotonic() + 5
    while client.portal.call(store.pending_notifications) != 1:  # type: ignore[union-attr]
        assert time.monotonic() < settled_at
        time.sleep(0.02)
    [row] = client.portal.call(store.due_notifications, 2**60, 10, 1000)  # type: ignore[union-attr]
    assert (row.subscription_id, row.attempts) == (failing, 1)  # the recorded row is gone
    assert status(client, fine)["notification"]["timesSent"] == 1


def test_a_backlog_of_recorded_changes_is_matched_a_bounded_part_at_a_time(
    client: TestClient, rec: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery_module, "EXPAND_MAX", 1)
    store = client.app.state.store  # type: ignore[attr-defined]
    delivery = client.app.state.delivery  # type: ignore[attr-defined]
    settles = Counting(store, "settle_notifications")
    subscribe(client, rec.url)
    store.set_change_hook(Recorder())  # recorded, not handed over: a backlog to claim
    write(client, lamp("on"))
    for state in ("dim", "off"):
        set_state(client, state)
    assert client.portal.call(store.pending_notifications) == 3  # type: ignore[union-attr]
    delivery.wake()  # claims the three at once
    got = rec.wait(lambda got: sum(len(r.body["data"]) for r in got) == 3)
    assert sorted(e["powerState"]["value"] for r in got for e in r.body["data"]) == [
        "dim",
        "off",
        "on",
    ]
    assert any(done.defer for (done,) in settles.calls)  # two waited for the next pass


def test_a_recorded_row_claimed_again_while_its_notification_waits_is_not_sent_twice(
    tmp_path: Path, rec: Receiver
) -> None:
    with clocked_app(tmp_path) as (client, clock):
        store = client.app.state.store  # type: ignore[attr-defined]
        delivery = client.app.state.delivery  # type: ignore[attr-defined]
        claims = Counting(store, "due_notifications")
        rec.delay = 1.0  # the notification is in flight while its lease runs out
        subscribe(client, rec.url)
        write(client, lamp("on"))
        time.sleep(0.2)
        clock.advance(delivery.config.lease_ms / 1000 + 1)
        before = len(claims.calls)
        delivery.wake()  # claims the recorded row again: it is due by its lease
        rec.wait(lambda got: len(got) == 1)
        rec.delay = 0.0  # a second copy would come at once
        assert len(claims.calls) > before
        settled(client)
        time.sleep(0.5)
        assert len(rec.got) == 1
        assert client.portal.call(store.pending_notifications) == 0  # type: ignore[union-attr]


def test_an_unreadable_recorded_row_is_dropped_and_the_others_still_go(
    client: TestClient, rec: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    delivery = client.app.state.delivery  # type: ignore[attr-defined]
    recorder = Recorder()

    def with_a_bad_row(probe: Any, changes: Any) -> Any:
        return [("", CHANGES, b"{not json"), *recorder(probe, changes)]

    subscribe(client, rec.url)
    store.set_change_hook(with_a_bad_row)  # rows queued unclaimed: the worker claims them
    write(client, lamp("on"))
    delivery.wake()
    got = rec.wait(lambda got: len(got) == 1)
    assert got[0].body["data"][0]["powerState"]["value"] == "on"
    settled(client)  # the unreadable row is deleted too, not retried forever
    assert "cannot be matched" in caplog.text
