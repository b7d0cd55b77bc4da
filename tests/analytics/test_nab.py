"""The NAB scorer reproduces NAB's published scores from the published detector outputs."""

from __future__ import annotations

import json

import pytest

from cityfabric.analytics.nab import PROFILES, evaluate, read_profiles
from cityfabric.analytics.nab_data import find_series, read_scores, read_windows
from tests.conftest import SHARED

NAB = SHARED / "nab"
PUBLISHED = json.loads((NAB / "final_results.json").read_text())


@pytest.fixture(scope="module")
def windows() -> dict[str, list[object]]:
    return read_windows(NAB / "combined_windows.json")  # type: ignore[return-value]


def test_profiles_table_matches_nab() -> None:
    assert read_profiles(NAB / "profiles.json") == PROFILES


@pytest.mark.parametrize("detector", ["numenta", "windowedGaussian"])
def test_reproduces_published_scores(detector: str, windows: dict) -> None:  # type: ignore[type-arg]
    scores = read_scores(NAB / "results" / detector / f"{detector}_scores.csv.gz")
    assert len(scores) == 58
    results = evaluate(scores, windows)
    assert results["standard"].score == pytest.approx(PUBLISHED[detector]["standard"], abs=0.5)
    assert results["reward_low_FN_rate"].score == pytest.approx(
        PUBLISHED[detector]["reward_low_FN_rate"], abs=0.5
    )
    # NAB's published low-FP threshold came from an older, coarser search; the exhaustive
    # sweep may only find a threshold at least as good
    assert results["reward_low_FP_rate"].score >= PUBLISHED[detector]["reward_low_FP_rate"] - 0.5


def test_null_and_perfect_are_0_and_100(windows: dict) -> None:  # type: ignore[type-arg]
    scores = read_scores(NAB / "results" / "numenta" / "numenta_scores.csv.gz")
    results = evaluate(scores, windows)["standard"]
    assert results.null == -116.0 and results.perfect == 116.0


def test_subset_normalises_over_its_own_files(windows: dict) -> None:  # type: ignore[type-arg]
    names = {s.name for s in find_series(NAB / "data")}
    scores = read_scores(NAB / "results" / "numenta" / "numenta_scores.csv.gz")
    subset = evaluate([s for s in scores if s.name in names], windows)["standard"]
    assert len(subset.files) == 25
    assert subset.perfect == sum(len(windows[n]) for n in names)
    assert 0 < subset.score < 100
