"""NAB evaluation of the default anomaly detector (issue 7), and its streaming throughput.

    .venv/bin/python bench/nab.py [--data DIR] [--nab DIR]

1. the published scores of `numenta` and `windowedGaussian` on all 58 NAB files and on
   the files under --data (the 25 shipped series), three profiles each;
2. CityFabric's default detector on the files under --data, three profiles;
3. streaming throughput: every value of every series through `Detector.update`, one
   core, median of 3 runs (instances/s).
Results go to bench/results/nab-<time>.json and the console.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cityfabric.analytics.detector import Detector, to_seconds
from cityfabric.analytics.nab_data import find_series, read_windows
from cityfabric.analytics.nab_run import as_dict, detect, published, score
from cityfabric.analytics.types import Series

ROOT = Path(__file__).resolve().parents[1]
NAB = ROOT.parent / "shared" / "data" / "nab"
DETECTORS = ("numenta", "windowedGaussian")


def _summary(results: dict[str, Any]) -> dict[str, float]:
    return {profile: r["score"] for profile, r in results.items()}


def throughput(series: list[Series]) -> float:
    """Instances per second through the streaming path (a fresh detector per series)."""
    pairs = [(to_seconds(s.timestamps).tolist(), s.values.tolist()) for s in series]
    count = sum(len(v) for _, v in pairs)
    start = time.perf_counter()
    for seconds, values in pairs:
        update = Detector().update
        for t, v in zip(seconds, values, strict=True):
            update(t, v)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=NAB, help="the NAB folder of shared data")
    parser.add_argument("--data", type=Path, default=None, help="series (default: NAB/data)")
    args = parser.parse_args()
    data = args.data or args.nab / "data"
    series = find_series(data)
    windows = read_windows(args.nab / "combined_windows.json")
    report: dict[str, Any] = {"machine": platform.processor() or platform.machine()}
    report["files"] = len(series)
    for name in DETECTORS:
        path = args.nab / "results" / name / f"{name}_scores.csv.gz"
        report[f"{name}_all"] = as_dict(score(published(path, None), windows))
        report[f"{name}_subset"] = as_dict(score(published(path, series), windows))
    started = time.perf_counter()
    report["cityfabric_subset"] = as_dict(score(detect(series), windows))
    report["evaluation_seconds"] = time.perf_counter() - started
    runs = [throughput(series) for _ in range(3)]
    report["throughput_runs"] = runs
    report["throughput"] = statistics.median(runs)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = ROOT / "bench" / "results" / f"nab-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    for key in [k for k in report if k.endswith(("_all", "_subset"))]:
        print(f"{key:28s}", {p: round(s, 2) for p, s in _summary(report[key]).items()})
    print(f"streaming throughput: {report['throughput']:,.0f} instances/s (median of 3)")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
