"""What each kind of demo asset reports: attributes (schema names), UN/CEFACT units, cadence.

One row per asset kind. Adding a measurement is one `Measure` in a row; the simulator
computes every attribute listed here, and `Simulator.payload` turns an update into NGSI-LD
Properties with these unit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Measure:
    attribute: str  # as named in the entity type's schema (or a declared extension)
    unit: str | None  # UN/CEFACT common code; None for text and booleans
    digits: int | None  # decimals reported; None for text and booleans, 0 for counts


@dataclass(frozen=True, slots=True)
class Telemetry:
    kind: str
    entity_type: str
    cadence: int  # minutes between reports, 1..15
    measures: tuple[Measure, ...]
    extensions: tuple[str, ...] = ()  # attributes the schema does not list (it allows them)

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(m.attribute for m in self.measures)


_KW = Measure("numValue", "KWT", 2)
TELEMETRY: Final[tuple[Telemetry, ...]] = (
    Telemetry(
        "streetlight",
        "Streetlight",
        15,
        (
            Measure("powerState", None, None),
            Measure("illuminanceLevel", "C62", 2),
            Measure("powerConsumption", "WTT", 1),
        ),
    ),
    Telemetry(
        "streetlight_group",
        "StreetlightGroup",
        15,
        (Measure("powerState", None, None), Measure("illuminanceLevel", "C62", 2)),
    ),
    Telemetry(
        "cabinet",
        "StreetlightControlCabinet",
        15,
        (Measure("totalActivePower", "KWT", 3), Measure("energyConsumed", "KWH", 2)),
    ),
    Telemetry("lamp_battery", "Device", 15, (Measure("batteryLevel", "C62", 3),)),
    Telemetry("bench_battery", "Device", 15, (Measure("batteryLevel", "C62", 3),)),
    Telemetry(
        "pv",
        "PhotovoltaicMeasurement",
        5,
        (
            Measure("activePower", "WTT", 1),
            Measure("temperature", "KEL", 1),  # cell temperature; the schema's minimum is 0
            Measure("phoneChargingPower", "WTT", 1),
        ),
        extensions=("phoneChargingPower",),
    ),
    Telemetry("building", "Building", 15, (Measure("peopleOccupancy", "IE", 0),)),
    Telemetry("electricity", "DeviceMeasurement", 15, (_KW,)),
    Telemetry("thermal", "DeviceMeasurement", 15, (_KW,)),
    Telemetry("crane_power", "DeviceMeasurement", 1, (Measure("numValue", "KWT", 1),)),
    Telemetry(
        "air_quality",
        "AirQualityObserved",
        10,
        (
            Measure("no2", "GQ", 1),
            Measure("pm25", "GQ", 1),
            Measure("pm10", "GQ", 1),
            Measure("o3", "GQ", 1),
        ),
    ),
    Telemetry(
        "weather",
        "WeatherObserved",
        10,
        (
            Measure("temperature", "CEL", 1),
            Measure("relativeHumidity", "C62", 2),
            Measure("windSpeed", "MTS", 1),
            Measure("windDirection", "DD", 0),
            Measure("atmosphericPressure", "A97", 1),
            Measure("solarRadiation", "D54", 0),
        ),
    ),
    Telemetry(
        "ev_charger",
        "EVChargingStation",
        1,
        (
            Measure("availableCapacity", "C62", 0),
            Measure("status", None, None),
            Measure("powerConsumption", "KWT", 1),
        ),
    ),
    Telemetry(
        "traffic",
        "TrafficFlowObserved",
        5,
        (
            Measure("intensity", "C62", 0),  # vehicles counted in the 5-minute interval
            Measure("occupancy", "C62", 3),
            Measure("averageVehicleSpeed", "KMH", 1),
            Measure("congested", None, None),
        ),
    ),
    Telemetry(
        "berth",
        "SeaportFacilities",
        15,
        (Measure("availableSpotNumber", "C62", 0),),
        extensions=("availableSpotNumber",),  # the Ports @context's term for free places
    ),
)
BY_KIND: Final[dict[str, Telemetry]] = {t.kind: t for t in TELEMETRY}
# entity types whose observations also carry a dateObserved Property
DATE_OBSERVED: Final = frozenset(
    {
        "AirQualityObserved",
        "WeatherObserved",
        "TrafficFlowObserved",
        "PhotovoltaicMeasurement",
        "DeviceMeasurement",
    }
)


def telemetry_of(kind: str) -> Telemetry:
    return BY_KIND[kind]
