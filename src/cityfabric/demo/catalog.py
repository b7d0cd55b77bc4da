"""Catalogues: lamp and device models, and where each entity type keeps its life-cycle data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class LampModel:
    key: str
    name: str
    technology: str  # StreetlightModel.lampTechnology: LED or HPS (high-pressure sodium)
    power: float  # W drawn at full output, driver or ballast included
    flux: float  # lm
    color_temperature: float  # K
    working_life: float  # lamp hours
    service_life: float  # years of the luminaire
    cost: float  # catalogue price, EUR (times the city's cost factor)
    dimmable: bool
    solar: bool
    brand: str
    manufacturer: str


LAMP_MODELS: Final[tuple[LampModel, ...]] = (
    LampModel(
        "led40", "Lumenta Urban 40", "LED", 40, 5600, 3000, 100_000, 25, 420, True, False,
        "Lumenta", "Lumenta Lighting",
    ),
    LampModel(
        "led90", "Lumenta Arterial 90", "LED", 90, 12_600, 4000, 100_000, 25, 640, True, False,
        "Lumenta", "Lumenta Lighting",
    ),
    LampModel(
        "hps150", "Sodalux SON-T 150", "HPS", 172, 15_000, 2000, 24_000, 20, 260, False, False,
        "Sodalux", "Sodalux Industries",
    ),
    LampModel(
        "hps250", "Sodalux SON-T 250", "HPS", 280, 27_000, 2000, 24_000, 20, 310, False, False,
        "Sodalux", "Sodalux Industries",
    ),
    LampModel(
        "solar30", "Helion Solar Path 30", "LED", 30, 3900, 4000, 50_000, 12, 780, True, True,
        "Helion", "Helion Solar",
    ),
)  # fmt: skip
LAMP_BY_KEY: Final[dict[str, LampModel]] = {m.key: m for m in LAMP_MODELS}


@dataclass(frozen=True, slots=True)
class DeviceModelSpec:
    key: str
    name: str
    brand: str
    manufacturer: str
    category: tuple[str, ...]  # Device-Commons category
    controlled: tuple[str, ...]  # Device-Commons controlledProperty
    function: tuple[str, ...]  # DeviceModel.function
    service_life: float  # years
    cost: float  # catalogue price, EUR


DEVICE_MODELS: Final[tuple[DeviceModelSpec, ...]] = (
    DeviceModelSpec(
        "elec_meter", "Metrix E3 three-phase meter", "Metrix", "Metrix Metering",
        ("meter",), ("electricityConsumption",), ("metering",), 15, 180,
    ),
    DeviceModelSpec(
        "heat_meter", "Calora U2 ultrasonic heat/cooling meter", "Calora", "Calora Thermal",
        ("meter",), ("energy",), ("metering",), 12, 420,
    ),
    DeviceModelSpec(
        "solar_ctrl", "Helion MPPT-20 charge controller with LiFePO4", "Helion", "Helion Solar",
        ("sensor",), ("energy",), ("sensing", "onOff"), 8, 260,
    ),
    DeviceModelSpec(
        "bench_ctrl", "Parkwatt USB bench controller with LiFePO4", "Parkwatt", "Parkwatt",
        ("sensor",), ("energy",), ("sensing", "onOff"), 8, 190,
    ),
    DeviceModelSpec(
        "sts_crane", "Quayline STS-65 ship-to-shore crane", "Quayline", "Quayline Heavy",
        ("actuator",), ("power",), ("levelControl", "metering"), 25, 9_500_000,
    ),
)  # fmt: skip
DEVICE_BY_KEY: Final[dict[str, DeviceModelSpec]] = {m.key: m for m in DEVICE_MODELS}


@dataclass(frozen=True, slots=True)
class LifecycleFields:
    """Which attributes hold an asset's life-cycle data: schema names where the schema has one.

    `dateInstalled`, `expectedServiceLife` (years), `modelName`, `ratedPower`, `purchaseCost`
    (a number with an ISO 4217 `currency` sub-property) and `conditionGrade` (1 very good ..
    5 very poor) are added where the schema has no such property; every schema here allows
    additional properties.
    """

    installed: str
    service_life: str
    model: str | None  # a Property, or a Relationship to a model entity (ref...)
    rated_power: str | None  # with its unitCode
    cost: str = "purchaseCost"
    condition: str = "conditionGrade"


LIFECYCLE: Final[dict[str, LifecycleFields]] = {
    "Streetlight": LifecycleFields(
        "dateServiceStarted", "expectedServiceLife", "refStreetlightModel", "powerRating"
    ),
    "StreetlightControlCabinet": LifecycleFields(
        "dateServiceStarted", "expectedServiceLife", "modelName", "maximumPowerAvailable"
    ),
    "Device": LifecycleFields(
        "dateInstalled", "expectedServiceLife", "refDeviceModel", "ratedPower"
    ),
    "PhotovoltaicDevice": LifecycleFields(
        "dateInstalled", "panelLifetime", "modelName", "NominalPower"
    ),
    "Building": LifecycleFields("dateInstalled", "expectedServiceLife", None, "ratedPower"),
    "RoadSegment": LifecycleFields("dateInstalled", "expectedServiceLife", "roadMaterial", None),
    "AirQualityObserved": LifecycleFields(
        "dateInstalled", "expectedServiceLife", "modelName", None
    ),
    "WeatherObserved": LifecycleFields("dateInstalled", "expectedServiceLife", "modelName", None),
    "TrafficFlowObserved": LifecycleFields(
        "dateInstalled", "expectedServiceLife", "modelName", None
    ),
    "EVChargingStation": LifecycleFields(
        "dateInstalled", "expectedServiceLife", "modelName", "ratedPower"
    ),
    "SeaportFacilities": LifecycleFields("dateInstalled", "expectedServiceLife", None, None),
}
# logical groupings, catalogue entries and measurement streams carry no life cycle of their own
NO_LIFECYCLE: Final = frozenset(
    {
        "Road",
        "StreetlightGroup",
        "StreetlightModel",
        "DeviceModel",
        "DeviceMeasurement",
        "PhotovoltaicMeasurement",
    }
)
