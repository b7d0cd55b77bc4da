"""One cycle's CPU work for one (type, attribute): score new instances, track episodes.

Pure and synchronous (the worker runs it in a thread): instances in, scores, episode events
and the new series states out. Each series' instances are scored in observedAt order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityfabric.analytics.alerts import AlertOptions, Event, SeriesAlerts
from cityfabric.analytics.anomaly_scoring import ScoringOptions, SeriesScorer, strongest
from cityfabric.analytics.physics_checks import Site


@dataclass
class SeriesInput:
    entity_id: str
    dataset_id: str | None
    readings: list[tuple[float, float]]  # (observedAt seconds, value), any order

    @property
    def key(self) -> str:
        return f"{self.entity_id}|{self.dataset_id or ''}"


@dataclass
class SeriesOutput:
    entity_id: str
    dataset_id: str | None
    scores: list[tuple[float, float]] = field(default_factory=list)  # (seconds, score)
    events: list[Event] = field(default_factory=list)


def _split_key(key: str) -> tuple[str, str | None]:
    entity_id, _, dataset = key.rpartition("|")
    return entity_id, dataset or None


def score_cycle(
    inputs: list[SeriesInput],
    states: dict[str, dict[str, Any]],
    sites: dict[str, Site],
    checks: tuple[str, ...],
    options: tuple[ScoringOptions, AlertOptions],
    clock: float | None,
) -> tuple[list[SeriesOutput], float | None]:
    """Score every input series (updating `states` in place); then ask each series the
    worker knows whether it has gone silent at the data's clock (the newest observedAt)."""
    scoring, alerting = options
    outputs: list[SeriesOutput] = []
    for series in inputs:
        out = SeriesOutput(series.entity_id, series.dataset_id)
        state = states.get(series.key, {})
        scorer = SeriesScorer(checks, scoring, state.get("scorer"))
        alerts = SeriesAlerts(alerting, state.get("alerts"))
        site = sites.get(series.entity_id, Site())
        for seconds, value in sorted(series.readings):
            findings = scorer.update(seconds, value, site)
            out.scores.append((seconds, strongest(findings).score or 0.0))
            out.events.extend(alerts.step(seconds, findings, value))
            clock = seconds if clock is None else max(clock, seconds)
        states[series.key] = {"scorer": scorer.to_state(), "alerts": alerts.to_state()}
        outputs.append(out)
    if clock is not None and "silence" in checks:
        outputs.extend(_silences(states, checks, options, clock))
    return outputs, clock


def _silences(
    states: dict[str, dict[str, Any]],
    checks: tuple[str, ...],
    options: tuple[ScoringOptions, AlertOptions],
    clock: float,
) -> list[SeriesOutput]:
    out: list[SeriesOutput] = []
    for key, state in states.items():
        scorer = SeriesScorer(checks, options[0], state.get("scorer"))
        finding = scorer.silence(clock)
        if finding.score is None:
            continue
        alerts = SeriesAlerts(options[1], state.get("alerts"))
        events = alerts.step(clock, {"silence": finding}, None)
        if events:
            state["alerts"] = alerts.to_state()
            out.append(SeriesOutput(*_split_key(key), events=events))
    return out
