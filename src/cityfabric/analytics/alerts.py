"""When a series is in an anomaly: raise on a threshold, clear after a calm stretch.

`AlertTracker` turns a series' findings into episodes with hysteresis: a score at or above
`threshold` raises (once), and `clear_after` readings in a row below `clear_threshold` clear.
Readings that are no evidence (a lamp's zero power by day) neither raise nor count toward
clearing. The same tracker runs in the platform's worker and in `bench/faults.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from cityfabric.analytics.physics_checks import Finding


@dataclass(frozen=True)
class AlertOptions:
    threshold: float = 0.9
    clear_threshold: float = 0.3
    clear_after: int = 4


class Event(NamedTuple):
    what: Literal["raised", "cleared"]
    seconds: float  # the reading's time
    finding: Finding  # what raised it (for "cleared": the finding that raised the episode)
    value: float | None  # the reading's value (None for silence)


class AlertTracker:
    """One series' alert state; `to_state`/`AlertTracker(state=...)` carry it across restarts."""

    def __init__(self, options: AlertOptions | None = None, state: dict[str, Any] | None = None):
        self.options = options or AlertOptions()
        s = state or {}
        self.active = bool(s.get("active", False))
        self.calm = int(s.get("calm", 0))
        self.since = s.get("since")
        cause = s.get("cause")
        self.cause = Finding(*cause) if cause else None

    def step(self, seconds: float, finding: Finding, value: float | None) -> Event | None:
        score = finding.score
        if score is None:
            return None
        o = self.options
        if not self.active:
            if score >= o.threshold:
                self.active, self.calm, self.since, self.cause = True, 0, seconds, finding
                return Event("raised", seconds, finding, value)
            return None
        if score >= o.clear_threshold:
            self.calm = 0
            return None
        self.calm += 1
        if self.calm < o.clear_after:
            return None
        cause = self.cause or finding
        self.active, self.calm, self.since, self.cause = False, 0, None, None
        return Event("cleared", seconds, cause, value)

    def to_state(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "calm": self.calm,
            "since": self.since,
            "cause": list(self.cause) if self.cause else None,
        }


class SeriesAlerts:
    """The trackers of one series' checks: the series is in an anomaly while any check is.

    A check that raises gives a "raised" event (the first, or a new cause while another is
    active); a "cleared" event comes only when the last active check has cleared."""

    def __init__(self, options: AlertOptions | None = None, state: dict[str, Any] | None = None):
        self.options = options or AlertOptions()
        self.trackers = {k: AlertTracker(self.options, v) for k, v in (state or {}).items()}

    @property
    def active(self) -> bool:
        return any(t.active for t in self.trackers.values())

    def step(
        self, seconds: float, findings: dict[str, Finding], value: float | None
    ) -> list[Event]:
        out: list[Event] = []
        for name, finding in findings.items():
            tracker = self.trackers.get(name)
            if tracker is None:
                tracker = self.trackers[name] = AlertTracker(self.options)
            event = tracker.step(seconds, finding, value)
            if event is not None and (event.what == "raised" or not self.active):
                out.append(event)
        return out

    def to_state(self) -> dict[str, Any]:
        return {k: t.to_state() for k, t in self.trackers.items()}
