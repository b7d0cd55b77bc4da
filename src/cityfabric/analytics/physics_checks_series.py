"""Checks of a series against its own recent behaviour: spikes, stuck meters, worn batteries.

- `spike`: a Hampel filter. A reading that lies further from the median of the last
  `window` readings than `k` robust standard deviations (1.4826 x MAD), than `floor` times
  the series' long-run mean magnitude and than a tenth of its largest values lately, and
  that stands alone (the readings before and after it both within a quarter of the
  deviation from that median), is a spike. The floors keep a series that is nearly
  constant (MAD about 0) from flagging every small step; the look at both neighbours keeps
  a step to a new level, or the last reading of a ramp (a heating load switching on and
  off again), from counting.
- `stuck`: exact repeats where the series' own history says it should have moved. Per hour
  of the day the check learns how often a reading differs from the one before (a slowly
  moving average; a run of repeats is learnt once it ends); while readings repeat, it adds
  up the evidence -log(1 - p) of each repeat. A meter that is flat at that hour anyway (a
  heating meter in summer, a crane idle at night) gives no evidence; one that always moves
  at that hour soon gives much.
- `battery`: a state of charge that falls faster than it used to. Discharge (the SoC
  dropping between readings, above the low-charge region where loads are cut or dimmed)
  is load / capacity: per solar day the check takes the total drop over the total time
  falling and runs a one-sided CUSUM of its log ratio to the first whole days it saw (in
  units of their spread, at least 4 %). A battery whose capacity fades drains faster on
  the same load, day after day.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Any, Final

from cityfabric.analytics.physics_checks import Finding, Site

_DAY: Final = 86400.0
_MAD_SIGMA: Final = 1.4826


class SpikeCheck:
    """One reading far from the rolling median, in robust deviations and in magnitude, that
    the next reading leaves again (a step to a new level is no spike): judged one reading
    late, on the reading after it."""

    name = "spike"
    window: Final = 12  # readings of context (3 h at 15 min)
    k: Final = 6.0  # robust standard deviations
    floor: Final = 1.5  # times the long-run typical magnitude
    memory: Final = 30 * _DAY  # the long-run mean of |x| forgets over about a month
    of_peak: Final = 0.1  # and than this share of its largest values lately
    warmup: Final = 96  # readings before it judges (a day at 15 min)

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.recent: list[float] = [float(v) for v in s.get("recent", [])]
        self.pending: float | None = s.get("pending")  # the last reading, not yet judged
        self.typical = float(s.get("typical", 0.0))
        self.seen = int(s.get("seen", 0))
        self.at: float | None = s.get("at")  # time of the pending reading
        self.peak = float(s.get("peak", 0.0))  # the largest |x| lately (fading over `memory`)

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        found = Finding(0.0, "spike", "")
        before = self.pending
        if before is not None:
            found = self._judge(before, value)
            if found.score is None or found.score < 1.0:  # a spike teaches no level
                self.seen += 1
                step = max(seconds - (self.at if self.at is not None else seconds), 0.0)
                alpha = min(max(1.0 / self.seen, step / self.memory), 1.0)
                self.typical += alpha * (abs(before) - self.typical)
                self.peak = max(abs(before), self.peak * math.exp(-step / self.memory))
            self.recent = [*self.recent, before][-self.window :]
        self.pending, self.at = value, seconds
        return found

    def _judge(self, x: float, after: float) -> Finding:
        if self.seen < self.warmup or len(self.recent) < self.window // 2:
            return Finding(0.0, "spike", "")
        mid = median(self.recent)
        mad = median(abs(v - mid) for v in self.recent)
        limit = max(
            self.k * _MAD_SIGMA * mad,
            self.floor * self.typical,
            self.of_peak * self.peak,
            1e-9,
        )
        deviation = abs(x - mid)
        # a spike stands alone: the readings on both sides of it are near the median
        alone = all(abs(v - mid) < 0.25 * deviation for v in (self.recent[-1], after))
        if deviation <= 0.5 * limit or not alone:
            return Finding(0.0, "spike", "")
        return Finding(
            min(deviation / limit, 1.0),
            "spike",
            f"one reading of {x:g} against a recent median of {mid:g}, then {after:g}",
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "recent": list(self.recent),
            "pending": self.pending,
            "at": self.at,
            "peak": self.peak,
            "typical": self.typical,
            "seen": self.seen,
        }


class StuckCheck:
    """Identical readings at hours when this series usually changes (a stuck meter)."""

    name = "stuck"
    alpha: Final = 0.03  # per reading of an hour's bin: at 15 min, about a week of memory
    # -log of the chance of the run if the meter worked, about 1.4e-6: three repeats where
    # the series always changes (a month of 15-min readings of a healthy meter reached 9)
    evidence: Final = 13.5
    learn: Final = 2 * _DAY  # time before the check judges
    # no hour is trusted to change more surely than this: an average over about 66
    # readings (alpha) cannot tell a rate of 0.99 from 1
    cap: Final = 0.99
    rest_run: Final = 3  # a run this long, not flagged, makes its value a resting value
    rests_kept: Final = 8

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.rates: list[float] = [float(v) for v in s.get("rates", [0.0] * 24)]
        self.counts: list[int] = [int(v) for v in s.get("counts", [0] * 24)]
        self.last: float | None = s.get("last")
        self.first: float | None = s.get("first")
        self.run = int(s.get("run", 0))
        self.surprise = float(s.get("surprise", 0.0))
        self.resting: list[float] = [float(v) for v in s.get("resting", [])]
        self.low: float | None = s.get("low")  # the range seen before this run
        self.high: float | None = s.get("high")
        # the current run's repeats per hour, learnt when it ends: a run under judgement
        # does not lower the rates it is judged by
        self.held: list[int] = [int(v) for v in s.get("held", [0] * 24)]

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        if self.first is None:
            self.first = seconds
        hour = int(seconds % _DAY // 3600)
        p = min(self.rates[hour], self.cap)
        changed = self.last is None or value != self.last
        if changed:
            if self.run > 1:
                self._learn_run()
            if (
                self.last is not None
                and self.run >= self.rest_run
                and self.surprise < self.evidence
            ):
                # a value the series rests at (a base load, a limit): its repeats are normal
                self.resting = [*(v for v in self.resting if v != self.last), self.last]
                self.resting = self.resting[-self.rests_kept :]
            self.run, self.surprise = 1, 0.0
            if self.last is not None:  # the first reading is no change: nothing to learn
                self.low = self.last if self.low is None else min(self.low, self.last)
                self.high = self.last if self.high is None else max(self.high, self.last)
                self._learn(hour, 1.0)
        else:
            self.run += 1
            self.held[hour] += 1
            if not self._resting(value):
                self.surprise += -math.log(1.0 - p)
        self.last = value
        if seconds - self.first < self.learn:
            return Finding(0.0, "stuck_meter", "")
        score = min(self.surprise / self.evidence, 1.0)
        if score <= 0.0:
            return Finding(0.0, "stuck_meter", "")
        return Finding(
            score,
            "stuck_meter",
            f"{self.run} identical readings ({value:g}) at hours when the series usually changes",
        )

    def _learn(self, hour: int, changed: float) -> None:
        """This hour's rate of change: a slowly moving average, faster at first."""
        self.counts[hour] += 1
        a = max(self.alpha, 1.0 / self.counts[hour])
        self.rates[hour] += a * (changed - self.rates[hour])

    def _learn_run(self) -> None:
        for hour, repeats in enumerate(self.held):
            for _ in range(repeats):
                self._learn(hour, 0.0)
        self.held = [0] * 24

    def _resting(self, value: float) -> bool:
        """At a value it rests at before, or at (or past) the edge of its range: a clipped
        or saturated reading (a capacity limit, a floor) repeats by design."""
        if value in self.resting:
            return True
        return (self.high is not None and value >= self.high) or (
            self.low is not None and value <= self.low
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "rates": list(self.rates),
            "counts": list(self.counts),
            "last": self.last,
            "first": self.first,
            "run": self.run,
            "surprise": self.surprise,
            "resting": list(self.resting),
            "held": list(self.held),
        }


class BatteryCheck:
    """A battery's discharge rate (state of charge lost per hour) rising above its first
    days' rate: a one-sided CUSUM of the daily log ratio, in units of its day-to-day noise."""

    name = "battery"
    low: Final = 0.35  # below this SoC loads are dimmed or cut: the rate says nothing
    learn_days: Final = 5  # whole solar days whose rates set the baseline
    min_hours: Final = 2.0  # hours of discharge a day needs to count
    noise: Final = 0.04  # the least day-to-day noise of a log rate assumed
    allowance: Final = 1.0  # CUSUM slack, noise units a day
    alarm: Final = 5.0  # CUSUM that scores 1, noise units
    max_gap: Final = 3 * 3600.0  # readings further apart are not one discharge

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.last: list[float] | None = s.get("last")  # seconds, SoC
        self.day: int | None = s.get("day")
        self.whole = bool(s.get("whole", False))  # the current day was seen from its start
        self.drop = float(s.get("drop", 0.0))
        self.hours = float(s.get("hours", 0.0))
        self.learnt: list[float] = [float(v) for v in s.get("learnt", [])]  # log rates
        self.cusum = float(s.get("cusum", 0.0))
        self.rate: float | None = s.get("rate")  # the last day's rate

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        shift = (site.longitude or 0.0) / 360.0 * _DAY + _DAY / 2  # noon to noon, local sun
        day = math.floor((seconds + shift) / _DAY)
        if self.day is not None and day != self.day:
            self._close_day()
            self.whole = True
        self.day = day
        if self.last is not None:
            t0, v0 = self.last
            dt = (seconds - t0) / 3600.0
            if 0.0 < dt * 3600.0 <= self.max_gap and value < v0 and min(value, v0) > self.low:
                self.drop += v0 - value
                self.hours += dt
        self.last = [seconds, value]
        return self._finding()

    def _close_day(self) -> None:
        if self.whole and self.hours >= self.min_hours and self.drop > 0.0:
            self.rate = self.drop / self.hours
            if len(self.learnt) < self.learn_days:
                self.learnt.append(math.log(self.rate))
            else:
                base, noise = self._baseline()
                z = (math.log(self.rate) - base) / noise
                self.cusum = max(0.0, self.cusum + z - self.allowance)
        self.drop, self.hours = 0.0, 0.0

    def _baseline(self) -> tuple[float, float]:
        base = median(self.learnt)
        mad = median(abs(v - base) for v in self.learnt)
        return base, max(_MAD_SIGMA * mad, self.noise)

    def _finding(self) -> Finding:
        if len(self.learnt) < self.learn_days or self.rate is None:
            return Finding(0.0, "battery_degradation", "")
        base, _ = self._baseline()
        score = min(self.cusum / self.alarm, 1.0)
        ratio = self.rate / math.exp(base)
        return Finding(
            score,
            "battery_degradation",
            f"discharges {ratio:.2f} times as fast as in its first days "
            f"({self.rate:.4f}/h against {math.exp(base):.4f}/h; CUSUM {self.cusum:.1f})",
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "last": self.last,
            "day": self.day,
            "whole": self.whole,
            "drop": self.drop,
            "hours": self.hours,
            "learnt": list(self.learnt),
            "cusum": self.cusum,
            "rate": self.rate,
        }


class LevelCheck:
    """A sensor whose floor moves away from where it was: a two-sided CUSUM of the day's low
    quantile (the 10th percentile of a solar day's readings: the background level, little
    moved by the day's peaks) against its first whole days, in units of their spread.

    Where the site gives a reference (`Site.reference`: the same quantity at a neighbouring
    station), the same CUSUM also runs on the log ratio of the day's low to the reference's,
    and only a move of both, the same way, counts: weather moves two stations' background
    together (so not their ratio), a drift moves one station's ratio and its own level, and
    the other station's ratio moves while its own level does not."""

    name = "level"
    quantile: Final = 0.1
    learn_days: Final = 5
    min_readings: Final = 12  # readings a day needs to count
    rel_noise: Final = 0.05  # the least spread assumed, as a share of the level
    allowance: Final = 1.5  # CUSUM slack, noise units a day
    alarm: Final = 6.0  # CUSUM that scores 1, noise units

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.day: int | None = s.get("day")
        self.whole = bool(s.get("whole", False))
        self.values: list[float] = [float(v) for v in s.get("values", [])]
        self.learnt: list[float] = [float(v) for v in s.get("learnt", [])]
        self.up = float(s.get("up", 0.0))
        self.down = float(s.get("down", 0.0))
        self.low: float | None = s.get("low")  # the last whole day's low quantile
        self.refs: list[float] = [float(v) for v in s.get("refs", [])]  # today's references
        self.learnt_ratio: list[float] = [float(v) for v in s.get("learnt_ratio", [])]
        self.ratio_up = float(s.get("ratio_up", 0.0))
        self.ratio_down = float(s.get("ratio_down", 0.0))

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        shift = (site.longitude or 0.0) / 360.0 * _DAY  # midnight to midnight, local sun
        day = math.floor((seconds + shift) / _DAY)
        if self.day is not None and day != self.day:
            self._close_day()
            self.whole = True
        self.day = day
        self.values.append(value)
        reference = site.reference(seconds) if site.reference is not None else None
        if reference is not None:
            self.refs.append(reference)
        return self._finding()

    def _close_day(self) -> None:
        values, self.values = sorted(self.values), []
        refs, self.refs = sorted(self.refs), []
        if not self.whole or len(values) < self.min_readings:
            return
        self.low = values[int(self.quantile * (len(values) - 1))]
        ref_low = refs[int(self.quantile * (len(refs) - 1))] if refs else 0.0
        ratio = (
            math.log(self.low / ref_low)
            if len(refs) >= self.min_readings and self.low > 0.0 and ref_low > 0.0
            else None
        )
        if len(self.learnt) < self.learn_days:
            self.learnt.append(self.low)
            if ratio is not None:
                self.learnt_ratio.append(ratio)
            return
        base, noise = self._baseline()
        z = (self.low - base) / noise
        self.up = max(0.0, self.up + z - self.allowance)
        self.down = max(0.0, self.down - z - self.allowance)
        if ratio is not None and len(self.learnt_ratio) >= self.learn_days // 2 + 1:
            rbase = median(self.learnt_ratio)
            mad = median(abs(v - rbase) for v in self.learnt_ratio)
            rz = (ratio - rbase) / max(_MAD_SIGMA * mad, self.rel_noise)
            self.ratio_up = max(0.0, self.ratio_up + rz - self.allowance)
            self.ratio_down = max(0.0, self.ratio_down - rz - self.allowance)

    def _baseline(self) -> tuple[float, float]:
        base = median(self.learnt)
        mad = median(abs(v - base) for v in self.learnt)
        return base, max(_MAD_SIGMA * mad, self.rel_noise * abs(base), 1e-9)

    def _finding(self) -> Finding:
        if len(self.learnt) < self.learn_days or self.low is None:
            return Finding(0.0, "sensor_drift", "")
        base, _ = self._baseline()
        up, down = self.up, self.down
        against = ""
        if len(self.learnt_ratio) >= self.learn_days // 2 + 1:  # a reference: both must move
            up, down = min(up, self.ratio_up), min(down, self.ratio_down)
            against = ", and against its reference"
        score = min(max(up, down) / self.alarm, 1.0)
        way = "risen" if up >= down else "fallen"
        return Finding(
            score,
            "sensor_drift",
            f"background level {way}: daily low {self.low:g} against {base:g} at first{against}",
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "whole": self.whole,
            "values": list(self.values),
            "learnt": list(self.learnt),
            "up": self.up,
            "down": self.down,
            "low": self.low,
            "refs": list(self.refs),
            "learnt_ratio": list(self.learnt_ratio),
            "ratio_up": self.ratio_up,
            "ratio_down": self.ratio_down,
        }
