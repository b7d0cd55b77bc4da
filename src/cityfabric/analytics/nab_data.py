"""Reading the Numenta Anomaly Benchmark's files: series, labels, windows and detector scores."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cityfabric.analytics.types import Series, SeriesScores, TimeArray, Window

WINDOW_SIZE = 0.10  # NAB's labeler: all windows of a file together cover 10% of it


class NabDataError(ValueError):
    """A NAB file is missing, malformed, or does not match the series it labels."""


def parse_times(texts: Iterable[str] | pd.Series) -> TimeArray:
    """ISO 8601 text (NAB writes `2014-04-10 07:15:00.000000`) to datetime64[ns]."""
    try:
        parsed = pd.to_datetime(pd.Series(list(texts), dtype=object), format="ISO8601")
    except (ValueError, TypeError) as bad:
        raise NabDataError(f"bad timestamp: {bad}") from bad
    return parsed.to_numpy(dtype="datetime64[ns]")


def read_series(path: Path, name: str) -> Series:
    """One data file with the columns timestamp,value."""
    frame = pd.read_csv(path)
    if not {"timestamp", "value"} <= set(frame.columns):
        raise NabDataError(f"{path}: needs the columns timestamp,value")
    values = frame["value"].to_numpy(dtype=np.float64)
    return Series(name, parse_times(frame["timestamp"]), values)


def find_series(data_dir: Path) -> list[Series]:
    """Every `*.csv` under DATA_DIR, named by its path relative to it (`group/file.csv`)."""
    paths = sorted(p for p in data_dir.rglob("*.csv") if p.is_file())
    if not paths:
        raise NabDataError(f"{data_dir}: no .csv series found")
    return [read_series(p, p.relative_to(data_dir).as_posix()) for p in paths]


def _load_json(path: Path) -> dict[str, list[object]]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as bad:
        raise NabDataError(f"{path}: {bad}") from bad
    if not isinstance(loaded, dict):
        raise NabDataError(f"{path}: expected an object of file -> list")
    return loaded


def is_windows_file(path: Path) -> bool:
    """True for a windows file (lists of [start, end]), false for a labels file (timestamps)."""
    for items in _load_json(path).values():
        if items:
            return isinstance(items[0], list)
    return True


def read_windows(path: Path) -> dict[str, list[Window]]:
    """NAB's combined_windows.json: file -> [[start, end], ...]."""
    windows: dict[str, list[Window]] = {}
    for name, items in _load_json(path).items():
        pairs = [tuple(item) for item in items if isinstance(item, list) and len(item) == 2]
        if len(pairs) != len(items):
            raise NabDataError(f"{path}: {name}: every window must be [start, end]")
        times = parse_times([str(t) for pair in pairs for t in pair])
        windows[name] = [(times[2 * i], times[2 * i + 1]) for i in range(len(pairs))]
    return windows


def read_labels(path: Path) -> dict[str, TimeArray]:
    """NAB's combined_labels.json: file -> [anomaly timestamp, ...]."""
    return {name: parse_times([str(t) for t in items]) for name, items in _load_json(path).items()}


def windows_from_labels(
    labels: Mapping[str, TimeArray], series: Sequence[Series]
) -> dict[str, list[Window]]:
    """NAB's labeler: a window centred on each label, 10% of the file shared among its
    labels, overlapping windows merged."""
    windows: dict[str, list[Window]] = {}
    for one in series:
        points = labels.get(one.name)
        if points is None:
            continue
        index = np.searchsorted(one.timestamps, points)
        length = len(one.timestamps)
        width = int(WINDOW_SIZE * length / max(len(points), 1))
        limits: list[list[int]] = []
        for i in sorted(int(k) for k in index):
            front, back = max(i - width // 2, 0), min(i + width // 2, length - 1)
            if limits and front <= limits[-1][1]:
                limits[-1][1] = max(limits[-1][1], back)
            else:
                limits.append([front, back])
        windows[one.name] = [(one.timestamps[a], one.timestamps[b]) for a, b in limits]
    return windows


def read_scores(path: Path) -> list[SeriesScores]:
    """A detector's scores: one CSV (optionally .gz) with a `file` column, a folder holding
    one such `*_scores.csv[.gz]`, or NAB's results layout (`group/<detector>_<file>.csv`)."""
    if path.is_dir():
        combined = sorted(path.glob("*_scores.csv*"))
        if len(combined) == 1:
            return _read_combined(combined[0])
        return _read_results_dir(path)
    return _read_combined(path)


def _read_combined(path: Path) -> list[SeriesScores]:
    frame = pd.read_csv(path)
    if not {"file", "timestamp", "anomaly_score"} <= set(frame.columns):
        raise NabDataError(f"{path}: needs the columns file,timestamp,anomaly_score")
    times = parse_times(frame["timestamp"])
    scores = frame["anomaly_score"].to_numpy(dtype=np.float64)
    files = frame["file"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, files[1:] != files[:-1]])
    ends = np.r_[starts[1:], len(files)]
    return [
        SeriesScores(str(files[a]), times[a:b], scores[a:b])
        for a, b in zip(starts, ends, strict=True)
    ]


def _read_results_dir(path: Path) -> list[SeriesScores]:
    out: list[SeriesScores] = []
    for csv in sorted(path.glob("*/*.csv")):
        detector = path.name
        stem = csv.name.removeprefix(f"{detector}_")
        frame = pd.read_csv(csv)
        if not {"timestamp", "anomaly_score"} <= set(frame.columns):
            raise NabDataError(f"{csv}: needs the columns timestamp,anomaly_score")
        scores = frame["anomaly_score"].to_numpy(dtype=np.float64)
        out.append(
            SeriesScores(f"{csv.parent.name}/{stem}", parse_times(frame["timestamp"]), scores)
        )
    if not out:
        raise NabDataError(f"{path}: no score files found")
    return out
