"""The default streaming anomaly detector: no per-series tuning, O(1) per value, restartable.

Each value goes through four small stages, each keeping a few floats of state:

1. **Daily profile.** The day is cut into slots (30 minutes); each slot keeps an
   exponentially weighted mean and variance of the values seen in it. The raw surprise of
   a value is its distance from its slot's mean in slot standard deviations, so a value
   that is ordinary for the series but wrong for the time of day stands out.
2. **Likelihood.** As in Numenta's anomaly likelihood, the mean raw surprise of the last
   few values is compared with the mean and spread of the last few hundred; the Gaussian
   tail probability of that difference, on a log scale, becomes a score in 0..1.
3. **Range.** A value beyond everything seen so far by more than 2% of the range scores 1.
4. **Spreading.** A score is reported only when it tops every score of the preceding
   stretch; otherwise 0. One episode then raises one alert, not a burst of them.

`Detector.update` scores one value; `score_series` scores a whole array through the very
same code, so both give identical numbers. `to_state`/`from_state` carry the state through
plain JSON-friendly dicts, lists and floats.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cityfabric.analytics.types import FloatArray, TimeArray

DAY = 86400.0
LOG_FLOOR = 1e-10  # likelihood resolution: a tail probability of 1e-10 scores 1


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's few constants (defaults: chosen on NAB, see docs/analytics.md)."""

    slot_seconds: float = 1800.0  # width of a daily-profile slot
    season_alpha: float = 0.1  # weight of a new value in its slot's mean and variance
    season_warmup: int = 3  # values a slot needs before its surprise counts
    short: int = 5  # values averaged for the recent surprise
    long: int = 500  # values whose surprise sets the usual level and spread
    min_spread: float = 0.01  # floor of that spread (flat series)
    max_surprise: float = 50.0  # cap of one value's surprise
    range_tolerance: float = 0.02  # share of the seen range a new extreme must clear
    spread: int = 30  # values after a score during which only a higher one is reported


class _Window:
    """A fixed-length window of floats with its running sum and sum of squares."""

    def __init__(self, size: int, items: Sequence[float] = (), sums: Sequence[float] = ()) -> None:
        self.size = size
        self.items: deque[float] = deque(items, maxlen=size)
        # restored sums, not recomputed ones: a restart must not change a single bit
        self.total, self.squares = sums or (0.0, 0.0)

    def to_state(self) -> dict[str, Any]:
        return {"items": list(self.items), "sums": [self.total, self.squares]}

    @classmethod
    def from_state(cls, size: int, state: dict[str, Any]) -> _Window:
        sums = [float(v) for v in state["sums"]]
        return cls(size, [float(v) for v in state["items"]], sums)

    def push(self, value: float) -> None:
        if len(self.items) == self.size:
            old = self.items[0]
            self.total -= old
            self.squares -= old * old
        self.items.append(value)
        self.total += value
        self.squares += value * value


class _RunningMax:
    """Maximum of the last `size` values, O(1) amortised (a monotonic queue)."""

    def __init__(self, size: int, items: Sequence[Sequence[float]] = (), seen: int = 0) -> None:
        self.size = size
        self.queue: deque[tuple[int, float]] = deque((int(i), float(v)) for i, v in items)
        self.seen = seen

    def peek(self) -> float:
        while self.queue and self.queue[0][0] <= self.seen - self.size:
            self.queue.popleft()
        return self.queue[0][1] if self.queue else 0.0

    def push(self, value: float) -> None:
        while self.queue and self.queue[-1][1] <= value:
            self.queue.pop()
        self.queue.append((self.seen, value))
        self.seen += 1


class Detector:
    """Scores a stream of (time, value) pairs; each score is in 0..1, high is anomalous."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = c = config or DetectorConfig()
        slots = max(1, math.ceil(DAY / c.slot_seconds))
        self.means = [0.0] * slots
        self.variances = [0.0] * slots
        self.counts = [0] * slots
        self.recent = _Window(c.short)
        self.history = _Window(c.long)
        self.peaks = _RunningMax(c.spread)
        self.low = math.inf
        self.high = -math.inf

    def update(self, seconds: float, value: float) -> float:
        """Score VALUE observed at SECONDS (Unix time), then learn from it."""
        surprise = self._season(seconds, value)
        score = self._likelihood(surprise)
        if self._out_of_range(value):
            score = 1.0
        previous = self.peaks.peek()
        self.peaks.push(score)
        return score if score > previous else 0.0

    def _season(self, seconds: float, value: float) -> float:
        c = self.config
        slot = int((seconds % DAY) // c.slot_seconds)
        mean, variance, count = self.means[slot], self.variances[slot], self.counts[slot]
        surprise = 0.0
        if count >= c.season_warmup:
            scale = math.sqrt(variance + 1e-12 * (1.0 + mean * mean))
            surprise = min(abs(value - mean) / scale, c.max_surprise)
        if count == 0:
            mean = value
        delta = value - mean
        self.means[slot] = mean + c.season_alpha * delta
        self.variances[slot] = (1.0 - c.season_alpha) * (variance + c.season_alpha * delta * delta)
        self.counts[slot] = count + 1
        return surprise

    def _likelihood(self, surprise: float) -> float:
        history = self.history
        n = len(history.items)
        self.recent.push(surprise)
        recent = self.recent.total / len(self.recent.items)
        score = 0.0
        if n >= 2:
            mean = history.total / n
            variance = max(history.squares - history.total * mean, 0.0) / (n - 1)
            spread = max(math.sqrt(variance), self.config.min_spread)
            tail = 0.5 * math.erfc((recent - mean) / (spread * math.sqrt(2.0)))
            score = max(math.log(tail + LOG_FLOOR) / math.log(LOG_FLOOR), 0.0)
        history.push(surprise)
        return score

    def _out_of_range(self, value: float) -> bool:
        low, high = self.low, self.high
        self.low, self.high = min(low, value), max(high, value)
        if not high > low:
            return False
        tolerance = (high - low) * self.config.range_tolerance
        return value > high + tolerance or value < low - tolerance

    def to_state(self) -> dict[str, Any]:
        """The whole state as plain dicts, lists and floats (JSON-friendly)."""
        return {
            "config": asdict(self.config),
            "means": list(self.means),
            "variances": list(self.variances),
            "counts": list(self.counts),
            "recent": self.recent.to_state(),
            "history": self.history.to_state(),
            "peaks": [[i, v] for i, v in self.peaks.queue],
            "seen": self.peaks.seen,
            "low": self.low if math.isfinite(self.low) else None,
            "high": self.high if math.isfinite(self.high) else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Detector:
        """A detector that continues exactly where the one that wrote STATE stopped."""
        detector = cls(DetectorConfig(**state["config"]))
        c = detector.config
        detector.means = [float(v) for v in state["means"]]
        detector.variances = [float(v) for v in state["variances"]]
        detector.counts = [int(v) for v in state["counts"]]
        detector.recent = _Window.from_state(c.short, state["recent"])
        detector.history = _Window.from_state(c.long, state["history"])
        detector.peaks = _RunningMax(c.spread, state["peaks"], int(state["seen"]))
        detector.low = math.inf if state["low"] is None else float(state["low"])
        detector.high = -math.inf if state["high"] is None else float(state["high"])
        return detector


def to_seconds(timestamps: TimeArray) -> FloatArray:
    """datetime64 values to Unix seconds."""
    return timestamps.astype("datetime64[ns]").astype(np.int64) / 1e9


def score_series(
    timestamps: TimeArray, values: FloatArray, detector: Detector | None = None
) -> FloatArray:
    """Scores of a whole series, the same as feeding its values one by one to `update`."""
    detector = detector or Detector()
    update = detector.update
    seconds = to_seconds(timestamps).tolist()
    numbers = np.asarray(values, dtype=np.float64).tolist()
    out = [update(t, v) for t, v in zip(seconds, numbers, strict=True)]
    return np.asarray(out, dtype=np.float64)
