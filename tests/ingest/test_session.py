"""Broker URL, stable client id, per-process slots, reconnect delays."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cityfabric.ingest.session import (
    BACKOFF_CAP_S,
    BrokerAddress,
    Slot,
    backoff_delay,
    base_client_id,
    parse_mqtt_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", BrokerAddress("127.0.0.1", 1883)),
        ("mqtt://broker", BrokerAddress("broker", 1883)),
        ("mqtts://broker", BrokerAddress("broker", 8883, tls=True)),
        ("mqtt://u%40x:p%3Aw@h:1999/", BrokerAddress("h", 1999, False, "u@x", "p:w")),
    ],
)
def test_urls(url: str, expected: BrokerAddress) -> None:
    assert parse_mqtt_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://h:1883", "mqtt://", "mqtt://h:99999", "mqtt://h/topic", "h:1883"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="MQTT URL"):
        parse_mqtt_url(url)


def test_client_id_is_generated_once_per_data_dir(tmp_path: Path) -> None:
    first = base_client_id(None, tmp_path / "d")
    assert first.startswith("cityfabric-")
    assert base_client_id(None, tmp_path / "d") == first
    assert base_client_id(None, tmp_path / "other") != first
    assert base_client_id("fixed", tmp_path / "d") == "fixed"


def test_slots_give_each_process_its_own_id(tmp_path: Path) -> None:
    a, b = Slot(tmp_path), Slot(tmp_path)
    try:
        assert (a.client_id("cf"), b.client_id("cf")) == ("cf", "cf-1")
        a.release()
        c = Slot(tmp_path)  # a restarted process gets the free slot back
        assert c.client_id("cf") == "cf"
        c.release()
    finally:
        a.release()
        b.release()


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, rng) for n in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(BACKOFF_CAP_S / 2 <= d <= BACKOFF_CAP_S for d in delays[8:])
    assert len({round(backoff_delay(3, rng), 6) for _ in range(10)}) > 1
    assert backoff_delay(10_000) <= BACKOFF_CAP_S
