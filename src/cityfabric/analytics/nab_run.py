"""A NAB evaluation end to end: load series and labels, run or read a detector, score it.

Shared by `cityfabric evaluate nab` and `bench/nab.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cityfabric.analytics.detector import Detector, DetectorConfig, score_series
from cityfabric.analytics.nab import PROFILES, ProfileScore, evaluate
from cityfabric.analytics.nab_data import (
    NabDataError,
    is_windows_file,
    read_labels,
    read_scores,
    read_windows,
    windows_from_labels,
)
from cityfabric.analytics.nab_score import CostMatrix
from cityfabric.analytics.types import Series, SeriesScores, Window

Step = Callable[[str], None]


def load_windows(
    labels: Path, windows: Path | None, series: Sequence[Series]
) -> dict[str, list[Window]]:
    """Windows from WINDOWS if given, else from LABELS: a windows file is used as it is, a
    labels file (anomaly timestamps) gets NAB's windows around each label."""
    if windows is not None:
        return read_windows(windows)
    if is_windows_file(labels):
        return read_windows(labels)
    if not series:
        raise NabDataError("deriving windows from labels needs the series (--data)")
    return windows_from_labels(read_labels(labels), series)


def detect(
    series: Sequence[Series], config: DetectorConfig | None = None, step: Step | None = None
) -> list[SeriesScores]:
    """The default detector over each series, a fresh detector per series."""
    out: list[SeriesScores] = []
    for one in series:
        scores = score_series(one.timestamps, one.values, Detector(config))
        out.append(SeriesScores(one.name, one.timestamps, scores))
        if step is not None:
            step(one.name)
    return out


def published(path: Path, only: Sequence[Series] | None) -> list[SeriesScores]:
    """A detector's published scores, restricted to the files of ONLY when given."""
    scores = read_scores(path)
    if only is None:
        return scores
    names = {s.name for s in only}
    kept = [s for s in scores if s.name in names]
    missing = names - {s.name for s in kept}
    if missing:
        raise NabDataError(f"{path}: no scores for {', '.join(sorted(missing)[:5])}")
    return kept


def score(
    scores: Sequence[SeriesScores],
    windows: Mapping[str, Sequence[Window]],
    profiles: Mapping[str, CostMatrix] = PROFILES,
) -> dict[str, ProfileScore]:
    """Score SCORES under every profile (thin alias kept for the callers' symmetry)."""
    try:
        return evaluate(scores, windows, profiles)
    except ValueError as bad:
        raise NabDataError(str(bad)) from bad


def as_dict(results: Mapping[str, ProfileScore]) -> dict[str, Any]:
    """Results as plain JSON: per profile the totals and each file's raw score and counts."""
    return {
        name: {
            "score": r.score,
            "threshold": r.threshold,
            "raw": r.raw,
            "null": r.null,
            "perfect": r.perfect,
            "files": {
                f.name: {
                    "windows": f.windows,
                    "raw": f.tally.score,
                    "tp": f.tally.tp,
                    "fp": f.tally.fp,
                }
                for f in r.files
            },
        }
        for name, r in results.items()
    }
