"""What a forecast request asks for, checked: target, attribute, horizon, frequency, levels.

Every mistake is a `BadRequestData` whose detail says what to send instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cityfabric.analytics.forecast_models import MODELS
from cityfabric.ngsild.entity import check_entity_id, check_name
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.temporal import DAY_MS, parse_duration

MIN_STEP_MS: Final = 60_000  # PT1M
MAX_STEP_MS: Final = 7 * DAY_MS  # P7D
MAX_HORIZON: Final = 2000  # periods
MAX_HISTORY_PERIODS: Final = 20_000
MAX_LEVELS: Final = 4
DEFAULT_FREQUENCY: Final = "PT1H"
DEFAULT_HISTORY: Final = "P42D"
DEFAULT_LEVELS: Final = (80, 95)
KEYS: Final = frozenset(
    {"entity", "type", "attribute", "horizon", "frequency", "levels", "model", "history"}
)


@dataclass(frozen=True)
class ForecastSpec:
    """How to forecast one attribute: the same for every entity of a request."""

    attr: str  # as given: a term of the request's @context, or an IRI
    frequency: str  # ISO 8601, e.g. PT1H
    step_ms: int
    horizon: int  # periods
    levels: tuple[int, ...] = DEFAULT_LEVELS
    model: str = "auto"
    history: str = DEFAULT_HISTORY
    history_ms: int = 42 * DAY_MS

    @property
    def horizon_text(self) -> str:
        return duration_text(self.horizon * self.step_ms)


@dataclass(frozen=True)
class ForecastRequest:
    entity_id: str | None
    entity_type: str | None
    spec: ForecastSpec


def duration_text(ms: int) -> str:
    """Milliseconds as the shortest ISO 8601 duration in days, hours, minutes or seconds."""
    for unit, size in (("D", DAY_MS), ("H", 3_600_000), ("M", 60_000)):
        if ms % size == 0:
            return f"P{ms // size}D" if unit == "D" else f"PT{ms // size}{unit}"
    return f"PT{ms / 1000:g}S"


def _duration_ms(value: object, what: str, example: str) -> int:
    if not isinstance(value, str):
        raise BadRequestData(f"{what} must be an ISO 8601 duration such as {example}")
    try:
        duration = parse_duration(value)
    except (BadRequestData, OverflowError):
        raise BadRequestData(
            f"{what} must be an ISO 8601 duration such as {example}, not {value!r}"
        ) from None
    if duration.months:
        raise BadRequestData(f"{what} must be in days or less ({example}), not months or years")
    if duration.ms <= 0:
        raise BadRequestData(f"{what} must be longer than zero, not {value!r}")
    return duration.ms


def _frequency(value: object) -> int:
    step = _duration_ms(value, "frequency", "PT1H or PT15M")
    if not MIN_STEP_MS <= step <= MAX_STEP_MS:
        raise BadRequestData(f"frequency must be between PT1M and P7D, not {value!r}")
    if step % MIN_STEP_MS:
        raise BadRequestData(f"frequency must be whole minutes, not {value!r}")
    return step


def _horizon(value: object, step_ms: int, frequency: str) -> int:
    if isinstance(value, bool) or value is None:
        raise BadRequestData("horizon is required: a count of periods (24) or a duration (PT24H)")
    if isinstance(value, int):
        periods = value
    else:
        ms = _duration_ms(value, "horizon", "PT24H, or a count of periods")
        if ms % step_ms:
            raise BadRequestData(
                f"horizon {value!r} is not a whole number of periods of {frequency}"
            )
        periods = ms // step_ms
    if not 1 <= periods <= MAX_HORIZON:
        raise BadRequestData(
            f"horizon must be 1 to {MAX_HORIZON} periods of {frequency}, not {periods}"
        )
    return periods


def _levels(value: object) -> tuple[int, ...]:
    if value is None:
        return DEFAULT_LEVELS
    good = (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_LEVELS
        and all(type(v) is int and 1 <= v <= 99 for v in value)
    )
    if not good:
        raise BadRequestData(
            f"levels must be a list of 1 to {MAX_LEVELS} whole percentages from 1 to 99, "
            "such as [80, 95]"
        )
    assert isinstance(value, list)
    return tuple(sorted(set(value)))


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise BadRequestData(f"{key} must be a string, not {value!r}")
    return value


def parse_spec(body: dict[str, Any]) -> ForecastSpec:
    """The forecast settings of a request body (or of a stored forecast)."""
    attr = _text(body, "attribute")
    if not attr:
        raise BadRequestData("attribute is required: the numeric attribute to forecast")
    check_name(attr, where="attribute")
    frequency = _text(body, "frequency", DEFAULT_FREQUENCY) or DEFAULT_FREQUENCY
    step = _frequency(frequency)
    model = _text(body, "model", "auto") or "auto"
    if model not in MODELS:
        raise BadRequestData(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    history = _text(body, "history", DEFAULT_HISTORY) or DEFAULT_HISTORY
    history_ms = _duration_ms(history, "history", DEFAULT_HISTORY)
    if history_ms // step > MAX_HISTORY_PERIODS:
        raise BadRequestData(
            f"history {history!r} holds more than {MAX_HISTORY_PERIODS} periods of {frequency}"
        )
    horizon = _horizon(body.get("horizon"), step, frequency)
    return ForecastSpec(
        attr, frequency, step, horizon, _levels(body.get("levels")), model, history, history_ms
    )


def parse_request(body: object) -> ForecastRequest:
    """A POST /cityfabric/v1/forecasts body: entity or type, and the forecast settings."""
    if not isinstance(body, dict):
        raise BadRequestData("the payload must be a JSON object")
    unknown = sorted(set(body) - KEYS - {"@context"})
    if unknown:
        raise BadRequestData(f"unknown member(s) {unknown}; known: {sorted(KEYS)}")
    entity_id, entity_type = _text(body, "entity"), _text(body, "type")
    if (entity_id is None) == (entity_type is None):
        raise BadRequestData("give either entity (an entity id) or type (an entity type)")
    if entity_id is not None:
        check_entity_id(entity_id)
    if entity_type is not None:
        check_name(entity_type, where="entity type")
    return ForecastRequest(entity_id, entity_type, parse_spec(body))
