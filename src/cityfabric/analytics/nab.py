"""The Numenta Anomaly Benchmark scorer: NAB's published scoring, reproduced with numpy.

For each profile the threshold is optimised over all the given files together, each file
is scored at that threshold, and the total is normalised so that the null detector (which
never detects anything) scores 0 and the perfect detector (each window found at its first
point) scores 100. Normalisation uses only the given files, so scores over a subset of
NAB are comparable only with scores over the same subset.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cityfabric.analytics.nab_score import PROBATION, CostMatrix, Weighted, weigh
from cityfabric.analytics.nab_sweep import Tally, sweep, tally
from cityfabric.analytics.types import SeriesScores, Window

PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}
"""NAB's three application profiles (profiles.json)."""

NULL_SCORE = 0.5  # NAB's null detector's constant output


@dataclass(frozen=True)
class FileScore:
    """One file under one profile, at the corpus threshold."""

    name: str
    windows: int
    tally: Tally


@dataclass(frozen=True)
class ProfileScore:
    """A detector's NAB result under one profile."""

    profile: str
    threshold: float
    raw: float  # sum of the files' raw scores
    null: float  # raw score of the null detector on the same files
    perfect: float  # raw score of the perfect detector on the same files
    files: tuple[FileScore, ...]

    @property
    def score(self) -> float:
        """The normalised NAB score: null 0, perfect 100."""
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def read_profiles(path: Path) -> dict[str, CostMatrix]:
    """A NAB profiles.json."""
    loaded = json.loads(path.read_text())
    return {
        name: CostMatrix(
            m["CostMatrix"]["tpWeight"], m["CostMatrix"]["fpWeight"], m["CostMatrix"]["fnWeight"]
        )
        for name, m in loaded.items()
    }


def weigh_all(
    scores: Sequence[SeriesScores],
    windows: Mapping[str, Sequence[Window]],
    probation: float = PROBATION,
) -> list[Weighted]:
    """Weigh every scored series against its windows (each file must be labelled)."""
    missing = [s.name for s in scores if s.name not in windows]
    if missing:
        raise ValueError(f"no windows for {', '.join(missing[:5])}")
    return [weigh(s.name, s.timestamps, s.scores, windows[s.name], probation) for s in scores]


def _raw_at_best(weighted: Sequence[Weighted], cost: CostMatrix) -> tuple[float, list[Tally]]:
    threshold, _ = sweep(weighted, cost).best()
    tallies = [tally(w, cost, threshold) for w in weighted]
    return threshold, tallies


def score_profile(
    name: str,
    weighted: Sequence[Weighted],
    null: Sequence[Weighted],
    cost: CostMatrix,
    windows: Mapping[str, Sequence[Window]],
) -> ProfileScore:
    """One profile: optimise the threshold, score each file, and the null detector alike."""
    threshold, tallies = _raw_at_best(weighted, cost)
    _, null_tallies = _raw_at_best(null, cost)
    count = sum(len(windows[w.name]) for w in weighted)
    files = tuple(
        FileScore(w.name, len(windows[w.name]), t) for w, t in zip(weighted, tallies, strict=True)
    )
    return ProfileScore(
        name,
        threshold,
        raw=sum(t.score for t in tallies),
        null=sum(t.score for t in null_tallies),
        perfect=count * cost.tp,
        files=files,
    )


def evaluate(
    scores: Sequence[SeriesScores],
    windows: Mapping[str, Sequence[Window]],
    profiles: Mapping[str, CostMatrix] = PROFILES,
    probation: float = PROBATION,
    progress: Callable[[str], None] | None = None,
) -> dict[str, ProfileScore]:
    """Score a detector's output on the given files under every profile."""
    weighted = weigh_all(scores, windows, probation)
    constant = [
        SeriesScores(s.name, s.timestamps, np.full(len(s.scores), NULL_SCORE)) for s in scores
    ]
    null = weigh_all(constant, windows, probation)
    results: dict[str, ProfileScore] = {}
    for name, cost in profiles.items():
        results[name] = score_profile(name, weighted, null, cost, windows)
        if progress is not None:
            progress(name)
    return results
