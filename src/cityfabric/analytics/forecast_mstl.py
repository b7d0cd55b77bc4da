"""MSTL as statsforecast fits it, with STL's inner loop at two passes instead of five.

statsmodels' STL runs 5 inner passes when it is not robust; Cleveland et al. (1990), and
R's `stl()` that R's `mstl()` calls, use 2, the decomposition having settled by then.
statsforecast's MSTL has no way to pass `inner_iter` (it goes to `STL.fit`, not to the
constructor), and STL is most of the time of a forecast. Imported only when a model is
fitted (it imports statsforecast and statsmodels).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from statsforecast.models import MSTL
from statsmodels.tsa.seasonal import STL  # type: ignore[import-untyped]

INNER_ITER: Final = 2  # R's stl() default without robustness iterations
ITERATE: Final = 2  # passes over the seasons when there are several (R's mstl() default)

Floats = np.ndarray[Any, np.dtype[np.float64]]


def decompose(y: Floats, seasons: list[int], stl_kwargs: dict[str, Any]) -> tuple[Floats, Floats]:
    """(one seasonal component per season, the deseasonalised rest): R's `mstl()`, seasonal
    windows 11, 15, ... and a constant seasonal loess, as statsforecast's `mstl`."""
    seasonal = np.zeros((len(seasons), len(y)))
    rest = np.array(y, dtype=float)
    windows = 7 + 4 * np.arange(1, len(seasons) + 1)
    kwargs = {"seasonal_deg": 0, **stl_kwargs}
    for _ in range(ITERATE if len(seasons) > 1 else 1):
        for i, period in enumerate(seasons):
            rest = rest + seasonal[i]
            fit = STL(rest, period=period, seasonal=int(windows[i]), **kwargs)
            seasonal[i] = fit.fit(inner_iter=INNER_ITER).seasonal
            rest = rest - seasonal[i]
    return seasonal, rest


def seasonal_ahead(seasonal: Floats, seasons: list[int], h: int) -> Floats:
    """Each seasonal component's last season repeated over the next `h` periods, summed."""
    out = np.zeros(h)
    for component, period in zip(seasonal, seasons, strict=True):
        out += np.resize(component[-period:], h)
    return out


class FastMSTL(MSTL):
    """statsforecast's MSTL (trend forecaster, intervals, aliases) over `decompose`."""

    def forecast(
        self,
        y: Floats,
        h: int,
        X: Any = None,  # statsforecast's keyword names
        X_future: Any = None,
        level: list[int] | None = None,
        fitted: bool = False,
    ) -> dict[str, Floats]:
        """Decompose `y`, forecast the rest with the trend forecaster, add the seasons back."""
        seasons = list(self.season_length)
        seasonal, rest = decompose(np.asarray(y, dtype=float), seasons, self.stl_kwargs)
        res: dict[str, Floats] = self.trend_forecaster.forecast(
            y=rest, h=h, X=X, X_future=X_future, level=level, fitted=fitted
        )
        ahead, inside = seasonal_ahead(seasonal, seasons, h), seasonal.sum(axis=0)
        return {key: val + (inside if "fitted" in key else ahead) for key, val in res.items()}
