"""Array aliases and the records shared by the detector and the NAB scorer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
TimeArray = npt.NDArray[np.datetime64]

Window = tuple[np.datetime64, np.datetime64]
"""An anomaly window: first and last timestamp, both inclusive."""


@dataclass(frozen=True)
class Series:
    """One NAB series: its path relative to the data folder (`group/file.csv`) and values."""

    name: str
    timestamps: TimeArray
    values: FloatArray


@dataclass(frozen=True)
class SeriesScores:
    """A detector's anomaly score (0..1) for every timestamp of one series."""

    name: str
    timestamps: TimeArray
    scores: FloatArray
