"""NAB's weighting of each point of a series: where it sits relative to the anomaly windows.

A detection inside a window earns the scaled sigmoid of its relative position (early is
worth up to the TP weight, the window's last point almost nothing); a detection outside
costs the FP weight, less when it falls shortly after a window. The first
`min(15% of the series, 750)` points are probationary and not scored at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cityfabric.analytics.types import FloatArray, IntArray, TimeArray, Window

PROBATION = 0.15
PROBATION_CAP_ROWS = 5000  # NAB caps the probationary period at 15% of 5,000 rows


@dataclass(frozen=True)
class CostMatrix:
    """A NAB application profile's weights."""

    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class Weighted:
    """The scorable (non-probationary) points of one series, ready for a threshold sweep."""

    name: str
    scores: FloatArray  # the detector's anomaly scores
    tp_unit: FloatArray  # in a window: scaled sigmoid / its maximum (to multiply by TP weight)
    fp_unit: FloatArray  # outside: the (negative) scaled sigmoid (to multiply by FP weight)
    window: IntArray  # window number in this series, -1 outside every window
    windows: int  # windows of this series that hold at least one scorable point

    def weights(self, cost: CostMatrix) -> FloatArray:
        """Each point's contribution when detected under COST."""
        return np.where(self.window >= 0, self.tp_unit * cost.tp, self.fp_unit * cost.fp)


def scaled_sigmoid(position: FloatArray) -> FloatArray:
    """NAB's 2*sigmoid(-5x) - 1, and exactly -1 from 3 window lengths after a window on."""
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, value)


def probationary_length(rows: int, probation: float = PROBATION) -> float:
    """Rows at the start of a series that are never scored."""
    return min(math.floor(probation * rows), probation * PROBATION_CAP_ROWS)


def window_bounds(timestamps: TimeArray, windows: Sequence[Window], name: str) -> IntArray:
    """(first, last) row of each window; its limits must be timestamps of the series."""
    bounds = np.empty((len(windows), 2), dtype=np.int64)
    for k, (start, end) in enumerate(windows):
        rows = np.searchsorted(timestamps, np.array([start, end], dtype=timestamps.dtype))
        if rows.max() >= len(timestamps) or (timestamps[rows] != [start, end]).any():
            raise ValueError(f"{name}: window {start}..{end} does not start and end on rows")
        if k and rows[0] <= bounds[k - 1, 1]:
            raise ValueError(f"{name}: windows overlap or are not in time order")
        bounds[k] = rows
    return bounds


def _tp_unit(rows: IntArray, bounds: IntArray, window: IntArray) -> FloatArray:
    inside = window >= 0
    right = bounds[window[inside], 1]
    width = (right - bounds[window[inside], 0] + 1).astype(np.float64)
    unit = np.zeros(len(rows))
    max_tp = float(scaled_sigmoid(np.array([-1.0]))[0])
    unit[inside] = scaled_sigmoid(-(right - rows[inside] + 1) / width) / max_tp
    return unit


def _fp_unit(rows: IntArray, bounds: IntArray) -> FloatArray:
    previous = np.searchsorted(bounds[:, 1], rows, side="left") - 1
    position = np.full(len(rows), 3.0)  # before any window: the full FP cost
    after = previous >= 0
    right = bounds[previous[after], 1]
    width = (right - bounds[previous[after], 0] + 1).astype(np.float64)
    with np.errstate(divide="ignore"):
        position[after] = (rows[after] - right) / (width - 1.0)
    return scaled_sigmoid(position)


def weigh(
    name: str,
    timestamps: TimeArray,
    scores: FloatArray,
    windows: Sequence[Window],
    probation: float = PROBATION,
) -> Weighted:
    """Weigh every point of one series against its windows."""
    if len(timestamps) != len(scores):
        raise ValueError(f"{name}: {len(scores)} scores for {len(timestamps)} timestamps")
    bounds = window_bounds(timestamps, windows, name)
    rows = np.arange(len(timestamps), dtype=np.int64)
    window = np.full(len(rows), -1, dtype=np.int64)
    for k, (first, last) in enumerate(bounds):
        window[first : last + 1] = k
    keep = rows >= probationary_length(len(rows), probation)
    tp_unit = _tp_unit(rows, bounds, window)
    fp_unit = _fp_unit(rows, bounds)
    live = window[keep]
    return Weighted(
        name,
        np.asarray(scores, dtype=np.float64)[keep],
        tp_unit[keep],
        fp_unit[keep],
        live,
        len(np.unique(live[live >= 0])),
    )
