"""Forecast entities: ids, the stored form, and reading the settings back."""

from __future__ import annotations

import numpy as np

from cityfabric.analytics.forecast_entity import (
    forecast_entity,
    forecast_id,
    series_json,
    short_name,
)
from cityfabric.analytics.forecast_models import Forecast
from cityfabric.analytics.forecast_spec import duration_text, parse_spec


def test_ids_are_url_safe() -> None:
    power = "https://smartdatamodels.org/dataModel.Energy/activePower"
    assert short_name(power) == "activePower"
    assert (
        forecast_id("urn:ngsi-ld:Building:1", power)
        == "urn:ngsi-ld:Forecast:Building:1:activePower"
    )
    assert forecast_id("urn:x:a b/c?", "p") == "urn:ngsi-ld:Forecast:urn:x:a%20b%2Fc%3F:p"


def test_durations() -> None:
    assert [duration_text(ms) for ms in (86_400_000, 7_200_000, 900_000, 1_500)] == [
        "P1D",
        "PT2H",
        "PT15M",
        "PT1.5S",
    ]


def test_entity_carries_the_arrays_and_the_settings() -> None:
    spec = parse_spec({"attribute": "power", "horizon": 2, "levels": [95, 80], "model": "ets"})
    mean = np.array([1.0, float("nan")])
    f = Forecast("urn:ngsi-ld:Meter:1", "ets", [0, 3_600_000], mean, {80: (mean - 1, mean + 1)})
    entity = forecast_entity(f, "https://example.org/power", spec, "2026-01-01T00:00:00.000Z")
    assert entity["horizon"]["value"] == "PT2H" and entity["levels"]["value"] == [80, 95]
    assert entity["parameters"]["json"] == {"model": "ets", "history": "P42D"}
    assert series_json(f) == {
        "times": ["1970-01-01T00:00:00.000Z", "1970-01-01T01:00:00.000Z"],
        "mean": [1.0, None],  # NaN is not JSON
        "lo80": [0.0, None],
        "hi80": [2.0, None],
    }
