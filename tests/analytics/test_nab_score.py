"""NAB's weighting of detections on hand-made series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cityfabric.analytics.nab_score import (
    CostMatrix,
    probationary_length,
    scaled_sigmoid,
    weigh,
)
from cityfabric.analytics.nab_sweep import sweep, tally

STANDARD = CostMatrix(tp=1.0, fp=0.11, fn=1.0)


def times(n: int) -> np.ndarray:
    return np.datetime64("2020-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(5, "m")


def window(t: np.ndarray, first: int, last: int) -> list[tuple[np.datetime64, np.datetime64]]:
    return [(t[first], t[last])]


def test_scaled_sigmoid_landmarks() -> None:
    got = scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 3.0, 10.0]))
    expected = [2 / (1 + math.exp(-5)) - 1, 2 / (1 + math.exp(-2.5)) - 1, 0.0]
    assert got[:3] == pytest.approx(expected)
    assert got[3] == pytest.approx(-(2 / (1 + math.exp(-5)) - 1))
    assert list(got[4:]) == [-1.0, -1.0]


def test_probation_is_15_percent_capped_at_750_rows() -> None:
    assert probationary_length(100) == 15
    assert probationary_length(4033) == 604
    assert probationary_length(22695) == 750


def test_first_point_of_a_window_earns_the_full_tp_weight() -> None:
    t = times(100)
    scores = np.zeros(100)
    scores[[50, 55]] = 1.0  # window 50..59: only the first detection counts
    w = weigh("f", t, scores, window(t, 50, 59))
    assert tally(w, STANDARD, 0.5).score == pytest.approx(1.0)
    assert tally(w, STANDARD, 0.5).tp == 2


def test_late_detection_earns_less_and_missing_costs_fn() -> None:
    t = times(100)
    late = np.zeros(100)
    late[59] = 1.0  # last point of the window: position -1/10
    w = weigh("f", t, late, window(t, 50, 59))
    max_tp = 2 / (1 + math.exp(-5)) - 1
    assert tally(w, STANDARD, 0.5).score == pytest.approx((2 / (1 + math.exp(-0.5)) - 1) / max_tp)
    missed = weigh("f", t, np.zeros(100), window(t, 50, 59))
    assert tally(missed, STANDARD, 0.5).score == -1.0


def test_false_positives_cost_less_just_after_a_window() -> None:
    t = times(100)
    before, after, far = np.zeros(100), np.zeros(100), np.zeros(100)
    before[30], after[61], far[99] = 1.0, 1.0, 1.0
    bounds = window(t, 50, 59)
    cost = {
        k: tally(weigh("f", t, s, bounds), STANDARD, 0.5).score + 1.0  # minus the missed window
        for k, s in (("before", before), ("after", after), ("far", far))
    }
    assert cost["before"] == pytest.approx(-0.11)
    assert cost["after"] == pytest.approx(0.11 * (2 / (1 + math.exp(5 * 2 / 9)) - 1))
    assert cost["before"] == cost["far"] < cost["after"] < 0  # far: 3+ window lengths after


def test_probationary_points_are_not_scored() -> None:
    t = times(100)
    scores = np.zeros(100)
    scores[5] = 1.0  # inside the first 15 rows
    assert tally(weigh("f", t, scores, []), STANDARD, 0.5).score == 0.0


def test_sweep_picks_the_best_threshold_over_all_files() -> None:
    t = times(100)
    good = np.full(100, 0.1)
    good[50] = 0.9  # detects its window at 0.9
    noisy = np.full(100, 0.1)
    noisy[20:40] = 0.5  # twenty false positives at 0.5
    files = [weigh("a", t, good, window(t, 50, 59)), weigh("b", t, noisy, [])]
    best = sweep(files, STANDARD)
    assert list(best.thresholds) == [1.1, 0.9, 0.5, 0.1]
    assert best.best() == (0.9, pytest.approx(1.0))
    assert best.totals[0] == -1.0  # nothing detected: one missed window


def test_window_limits_must_be_rows() -> None:
    t = times(10)
    with pytest.raises(ValueError, match="does not start and end on rows"):
        weigh("f", t, np.zeros(10), [(t[2] + np.timedelta64(1, "m"), t[5])])
