"""The default detector: streaming and batch agree, and a restart changes nothing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cityfabric.analytics.detector import LOG_FLOOR, Detector, score_series, to_seconds
from cityfabric.analytics.nab_data import read_series
from cityfabric.analytics.types import Series
from tests.conftest import SHARED

NAB = SHARED / "nab" / "data"


@pytest.fixture(scope="module")
def taxi() -> Series:
    return read_series(NAB / "realKnownCause" / "nyc_taxi.csv", "realKnownCause/nyc_taxi.csv")


def test_streaming_equals_batch(taxi: Series) -> None:
    detector = Detector()
    seconds = to_seconds(taxi.timestamps)
    streamed = [
        detector.update(float(t), float(v)) for t, v in zip(seconds, taxi.values, strict=True)
    ]
    batch = score_series(taxi.timestamps, taxi.values)
    assert np.array_equal(np.asarray(streamed), batch)
    assert batch.min() >= 0.0 and batch.max() <= 1.0 and batch.max() > 0.5


def test_state_round_trip_through_json(taxi: Series) -> None:
    half = len(taxi.values) // 2
    whole = score_series(taxi.timestamps, taxi.values)
    first = Detector()
    head = score_series(taxi.timestamps[:half], taxi.values[:half], first)
    state = json.loads(json.dumps(first.to_state()))
    tail = score_series(taxi.timestamps[half:], taxi.values[half:], Detector.from_state(state))
    assert np.array_equal(np.concatenate([head, tail]), whole)


def test_flat_series_never_rises_above_no_surprise() -> None:
    t = np.datetime64("2020-01-01", "ns") + np.arange(2000) * np.timedelta64(5, "m")
    no_surprise = math.log(0.5 + LOG_FLOOR) / math.log(LOG_FLOOR)  # tail probability 1/2
    assert score_series(t, np.full(2000, 3.0)).max() == pytest.approx(no_surprise)


def test_new_extreme_scores_one() -> None:
    t = np.datetime64("2020-01-01", "ns") + np.arange(500) * np.timedelta64(5, "m")
    values = np.sin(np.arange(500) / 10.0)
    values[400] = 5.0
    assert score_series(t, values)[400] == 1.0
