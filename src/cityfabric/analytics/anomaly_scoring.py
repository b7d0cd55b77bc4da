"""One series' scorer: the statistical detector and the physics checks, restartable.

`SeriesScorer.update(seconds, value, site)` runs every configured check on a reading and
answers each one's `Finding`; `strongest` picks the one with the highest score. The
statistical detector (`analytics/detector.py`, unchanged) is the check `default`;
its first `warmup` readings only teach it. `to_state` holds every check's state as
JSON-friendly values, and `SeriesScorer(..., state=...)` continues from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from cityfabric.analytics.detector import Detector
from cityfabric.analytics.physics_checks import (
    CHECKS,
    NO_EVIDENCE,
    Check,
    Finding,
    SilenceCheck,
    Site,
)

STATISTICAL: Final = "default"
OUTLIER: Final = "outlier"  # the kind a statistical detection points to


class StatisticalCheck:
    """The default detector as a check: its score, after `warmup` readings of learning."""

    name = STATISTICAL

    def __init__(self, state: dict[str, Any] | None = None, warmup: int = 0) -> None:
        s = state or {}
        self.detector = Detector.from_state(s["detector"]) if "detector" in s else Detector()
        self.seen = int(s.get("seen", 0))
        self.warmup = warmup

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        score = self.detector.update(seconds, value)
        self.seen += 1
        if self.seen <= self.warmup:
            return Finding(0.0, OUTLIER, "")
        return Finding(score, OUTLIER, f"unusual value {value:g} (statistical score {score:.2f})")

    def to_state(self) -> dict[str, Any]:
        return {"detector": self.detector.to_state(), "seen": self.seen}


KNOWN_CHECKS: Final = (STATISTICAL, *CHECKS)


@dataclass(frozen=True)
class ScoringOptions:
    warmup: int = 96  # readings the statistical detector learns from before it may alert


class SeriesScorer:
    """Every check configured for one series."""

    def __init__(
        self,
        checks: Sequence[str],
        options: ScoringOptions | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        opts = options or ScoringOptions()
        saved = (state or {}).get("checks", {})
        self.checks: list[Check] = []
        for name in checks:
            if name == STATISTICAL:
                self.checks.append(StatisticalCheck(saved.get(name), opts.warmup))
            elif name in CHECKS:
                self.checks.append(CHECKS[name].make(saved.get(name)))
            else:
                raise ValueError(f"unknown check {name!r}; use {', '.join(KNOWN_CHECKS)}")

    def update(self, seconds: float, value: float, site: Site) -> dict[str, Finding]:
        """Every check's finding on one reading, by check name."""
        return {c.name: c.update(seconds, value, site) for c in self.checks}

    def silence(self, now: float) -> Finding:
        """Communication loss at NOW, when the series has the `silence` check."""
        for check in self.checks:
            if isinstance(check, SilenceCheck):
                return check.silence(now)
        return NO_EVIDENCE

    @property
    def watches_silence(self) -> bool:
        return any(isinstance(c, SilenceCheck) for c in self.checks)

    def to_state(self) -> dict[str, Any]:
        return {"checks": {c.name: c.to_state() for c in self.checks}}


def strongest(findings: dict[str, Finding]) -> Finding:
    """The finding with the highest score (no evidence when none has any)."""
    best = NO_EVIDENCE
    for found in findings.values():
        if found.score is not None and (best.score is None or found.score > best.score):
            best = found
    return best
