"""FastMSTL against statsforecast's own MSTL on a series with a daily and a weekly season."""

from __future__ import annotations

import numpy as np
import pytest
from statsforecast.models import MSTL, AutoETS

from cityfabric.analytics import forecast_mstl
from cityfabric.analytics.forecast_models import _STL
from cityfabric.analytics.forecast_mstl import FastMSTL


def _series() -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(28 * 24)
    weekend = 20 * ((t // 24) % 7 >= 5)
    return 100 + 30 * np.sin(2 * np.pi * t / 24) + weekend + rng.normal(0, 4, len(t))


def _forecast(model: object, y: np.ndarray) -> dict[str, np.ndarray]:
    return model.forecast(y=y, h=36, level=[80, 95])  # type: ignore[attr-defined, no-any-return]


def test_same_as_statsforecast_with_its_inner_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    y = _series()
    theirs = _forecast(MSTL([24, 168], AutoETS(model="ANN"), stl_kwargs=_STL), y)
    monkeypatch.setattr(forecast_mstl, "INNER_ITER", 5)  # statsmodels' default
    ours = _forecast(FastMSTL([24, 168], AutoETS(model="ANN"), stl_kwargs=_STL), y)
    assert set(ours) == set(theirs)
    for key, values in theirs.items():
        np.testing.assert_allclose(ours[key], values, rtol=1e-12)


def test_two_inner_passes_barely_move_the_forecast() -> None:
    y = _series()
    theirs = _forecast(MSTL([24, 168], AutoETS(model="ANN"), stl_kwargs=_STL), y)
    ours = _forecast(FastMSTL([24, 168], AutoETS(model="ANN"), stl_kwargs=_STL), y)
    assert np.max(np.abs(ours["mean"] - theirs["mean"])) < 0.01 * np.mean(np.abs(y))
    assert np.all(ours["lo-80"] < ours["mean"]) and np.all(ours["mean"] < ours["hi-80"])


def test_seasons_repeat_ahead() -> None:
    seasonal = np.vstack([np.tile(np.arange(4.0), 6), np.tile([0.0, 10.0], 12)])
    ahead = forecast_mstl.seasonal_ahead(seasonal, [4, 2], 6)
    assert ahead.tolist() == [0.0, 11.0, 2.0, 13.0, 0.0, 11.0]
