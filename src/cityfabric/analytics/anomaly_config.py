"""What the anomaly worker watches: `Type.attribute:check+check` entries, and its thresholds.

`CITYFABRIC_ANOMALY_WATCH` is a comma-separated list of entries such as
`Streetlight.powerConsumption:lamp+silence`. The checks are `default` (the statistical
detector) and the physics checks of `physics_checks.CHECKS`; without `:checks`, `default`.
Names are Smart Data Model terms, expanded with the @context of the data model that
defines the type (or the core context when none of the shipped ones does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from cityfabric.analytics.alerts import AlertOptions
from cityfabric.analytics.anomaly_scoring import KNOWN_CHECKS, STATISTICAL, ScoringOptions

if TYPE_CHECKING:
    from cityfabric.config import Settings

# the derived and bookkeeping names the worker writes: never watched (no feedback loop)
OWN_TYPES: Final = frozenset({"Alert", "Anomaly"})
SCORE_ATTR: Final = "anomalyScore"

DEFAULT_WATCH: Final = ",".join(
    (
        "Streetlight.powerConsumption:lamp+silence",
        "StreetlightControlCabinet.totalActivePower:default",
        "PhotovoltaicMeasurement.activePower:pv+silence",
        "Device.batteryLevel:battery",
        "DeviceMeasurement.numValue:spike+stuck+silence",
        "AirQualityObserved.no2:level",
        "AirQualityObserved.pm25:level",
        "AirQualityObserved.pm10:spike",
        "WeatherObserved.temperature:level",
        "TrafficFlowObserved.intensity:spike+silence",
        "EVChargingStation.powerConsumption:default",
    )
)


@dataclass(frozen=True)
class Watch:
    entity_type: str  # a term, e.g. Streetlight
    attribute: str  # a term, e.g. powerConsumption
    checks: tuple[str, ...] = (STATISTICAL,)

    @property
    def label(self) -> str:
        return f"{self.entity_type}.{self.attribute}"


def parse_watch(text: str) -> tuple[Watch, ...]:
    """The entries of a watch setting; ValueError naming the first bad one."""
    out: list[Watch] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        target, _, checks_text = entry.partition(":")
        entity_type, dot, attribute = target.strip().partition(".")
        if not dot or not entity_type or not attribute:
            raise ValueError(f"watch entry {entry!r} is not Type.attribute[:check+check]")
        if entity_type in OWN_TYPES or attribute == SCORE_ATTR:
            raise ValueError(f"watch entry {entry!r} names what the worker itself writes")
        checks = tuple(c.strip() for c in checks_text.split("+") if c.strip()) or (STATISTICAL,)
        unknown = [c for c in checks if c not in KNOWN_CHECKS]
        if unknown:
            raise ValueError(f"watch entry {entry!r}: unknown check {unknown[0]!r}")
        out.append(Watch(entity_type, attribute, checks))
    return tuple(out)


@dataclass(frozen=True)
class AnomalyConfig:
    watch: tuple[Watch, ...] = field(default_factory=lambda: parse_watch(DEFAULT_WATCH))
    interval: float = 5.0  # seconds between cycles
    settle: float = 2.0  # only instances recorded this long ago are read (writes in flight)
    max_instances: int = 10_000  # per series per read; more are read in the next cycle
    page: int = 500  # entities per history page
    scoring: ScoringOptions = field(default_factory=ScoringOptions)
    alerts: AlertOptions = field(default_factory=AlertOptions)


def config_of(settings: Settings) -> AnomalyConfig:
    """The worker's configuration from the CITYFABRIC_ANOMALY_* settings."""
    return AnomalyConfig(
        watch=parse_watch(settings.anomaly_watch),
        interval=settings.anomaly_interval,
        settle=settings.anomaly_settle,
        max_instances=settings.anomaly_max_instances,
        scoring=ScoringOptions(warmup=settings.anomaly_warmup),
        alerts=AlertOptions(
            threshold=settings.anomaly_threshold,
            clear_threshold=settings.anomaly_clear_threshold,
            clear_after=settings.anomaly_clear_after,
        ),
    )
