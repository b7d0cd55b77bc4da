"""NAB's threshold sweep: the raw score of every threshold over a whole corpus at once.

A point counts as a detection when its anomaly score is at or above the threshold. Each
window is worth the weight of its best (that is, earliest) detection, or minus the FN
weight when nothing in it is detected; every detection outside a window adds its
(negative) FP weight. Sweeping from the highest score down, the corpus total changes
point by point, so one sort and a cumulative sum give the total at every threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cityfabric.analytics.nab_score import CostMatrix, Weighted
from cityfabric.analytics.types import FloatArray, IntArray

START_THRESHOLD = 1.1  # NAB's first threshold, above every score: nothing is detected


@dataclass(frozen=True)
class Tally:
    """The raw NAB score of one series (or a corpus) at one threshold, with point counts."""

    score: float
    tp: int
    fp: int
    tn: int
    fn: int


@dataclass(frozen=True)
class Sweep:
    """Raw corpus score at every distinct threshold, highest threshold first."""

    thresholds: FloatArray
    totals: FloatArray

    def best(self) -> tuple[float, float]:
        """(threshold, raw score) of the best threshold; ties go to the highest threshold."""
        k = int(np.argmax(self.totals))
        return float(self.thresholds[k]), float(self.totals[k])


def _concat(
    series: Sequence[Weighted], cost: CostMatrix
) -> tuple[FloatArray, FloatArray, IntArray]:
    scores = np.concatenate([s.scores for s in series]) if series else np.zeros(0)
    weights = np.concatenate([s.weights(cost) for s in series]) if series else np.zeros(0)
    ids: list[IntArray] = []
    offset = 0
    for s in series:
        ids.append(np.where(s.window >= 0, s.window + offset, -1))
        offset += int(s.window.max(initial=-1)) + 1
    window = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    return scores, weights, window


def _window_steps(weights: FloatArray, window: IntArray, fn_weight: float) -> FloatArray:
    """Change of the total at each point of the sorted sweep due to window points: a window's
    value is the running maximum of its detected weights, starting from -FN."""
    steps = np.zeros(len(weights))
    inside = np.flatnonzero(window >= 0)
    grouped = inside[np.argsort(window[inside], kind="stable")]
    cuts = np.flatnonzero(np.diff(window[grouped])) + 1
    for rows in np.split(grouped, cuts):
        if len(rows):
            best = np.maximum.accumulate(np.r_[-fn_weight, weights[rows]])
            steps[rows] = np.diff(best)
    return steps


def sweep(series: Sequence[Weighted], cost: CostMatrix) -> Sweep:
    """The raw score of the corpus at every threshold (NAB's sweeper over all files)."""
    scores, weights, window = _concat(series, cost)
    order = np.argsort(-scores, kind="stable")
    scores, weights, window = scores[order], weights[order], window[order]
    steps = np.where(window < 0, weights, 0.0) + _window_steps(weights, window, cost.fn)
    start = -cost.fn * sum(s.windows for s in series)
    if not len(scores):
        return Sweep(np.array([START_THRESHOLD]), np.array([start]))
    totals = start + np.cumsum(steps)
    last: IntArray = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    return Sweep(np.r_[START_THRESHOLD, scores[last]], np.r_[start, totals[last]])


def tally(series: Weighted, cost: CostMatrix, threshold: float) -> Tally:
    """The raw score of one series at THRESHOLD (NAB's scorer for one file)."""
    hit = series.scores >= threshold
    weights = series.weights(cost)
    inside = series.window >= 0
    windows = np.full(int(series.window.max(initial=-1)) + 1, -np.inf)
    np.maximum.at(windows, series.window[hit & inside], weights[hit & inside])
    present = np.zeros(len(windows), dtype=bool)
    present[series.window[inside]] = True
    found = windows[present]
    score = float(np.where(np.isfinite(found), found, -cost.fn).sum())
    score += float(weights[hit & ~inside].sum())
    return Tally(
        score,
        tp=int((hit & inside).sum()),
        fp=int((hit & ~inside).sum()),
        tn=int((~hit & ~inside).sum()),
        fn=int((~hit & inside).sum()),
    )
