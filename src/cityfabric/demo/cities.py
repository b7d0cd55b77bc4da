"""The demo cities: one declarative row per city (tenant, place, climate, street grid)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

TENANT_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# blocks of the default district at scale 1 (size 1.0); a city's grid has size * scale times this
BASE_BLOCKS: Final = 210


@dataclass(frozen=True, slots=True)
class Climate:
    """What the weather process needs to look like the city's climate."""

    temp_mean: float  # annual mean air temperature, degC
    temp_amplitude: float  # half of the July-January monthly mean difference, K
    temp_diurnal: float  # half of the clear-sky diurnal range, K
    coldest_day: int  # day of year of the seasonal minimum
    cloud_winter: float  # mean cloud fraction in January, 0..1
    cloud_summer: float  # mean cloud fraction in July, 0..1
    dew_depression: float  # mean dew-point depression, K
    wind_mean: float  # mean 10 m wind speed, m/s
    wind_from: float  # prevailing wind direction, degrees from north
    dust: float  # PM10 resuspension on dry windy days, ug/m3 per m/s
    heating_pm25: float  # PM2.5 added by winter heating at -10 degC, ug/m3


@dataclass(frozen=True, slots=True)
class GridExtent:
    """The street grid: `cols` x `rows` blocks of `block_x` x `block_y` metres."""

    cols: int
    rows: int
    block_x: float
    block_y: float

    @property
    def blocks(self) -> int:
        return self.cols * self.rows


@dataclass(frozen=True, slots=True)
class City:
    """A demo city; `key` is both its NGSI-LD tenant and the prefix of its entity ids."""

    key: str
    name: str
    country: str  # ISO 3166-1 alpha-2
    latitude: float
    longitude: float
    altitude: float  # metres above sea level
    timezone: str  # IANA time zone
    size: float  # asset count relative to the default district
    aspect: float  # grid columns / rows
    block_x: float  # block width (east-west), metres
    block_y: float  # block depth (north-south), metres
    port: bool  # has a container terminal
    currency: str  # ISO 4217, for purchase costs
    cost_factor: float  # local prices relative to the catalogue's
    built_from: int  # the district's assets were installed from this year...
    built_to: int  # ...to this one
    legacy_share: float  # share of street lamps that are still high-pressure sodium
    solar_share: float  # share of street lamps that are off-grid solar
    floors: tuple[int, int]  # typical floors above ground of housing, min and max
    streets: tuple[str, ...]  # names given to the grid's streets, in order
    climate: Climate

    @property
    def tenant(self) -> str:
        return self.key

    def grid(self, scale: float = 1.0) -> GridExtent:
        """The deterministic street grid extent at a scale (blocks grow with size * scale)."""
        if scale <= 0:
            raise ValueError("scale must be positive")
        blocks = BASE_BLOCKS * self.size * scale
        rows = max(2, round(math.sqrt(blocks / self.aspect)))
        cols = max(2, round(blocks / rows))
        return GridExtent(cols, rows, self.block_x, self.block_y)


TIANJIN = City(
    key="tianjin-eco",
    name="Tianjin Eco-City",
    country="CN",
    latitude=39.1167,
    longitude=117.7167,
    altitude=3.0,
    timezone="Asia/Shanghai",
    size=1.0,
    aspect=1.2,
    block_x=160.0,
    block_y=130.0,
    port=True,
    currency="CNY",
    cost_factor=7.0,
    built_from=2010,
    built_to=2024,
    legacy_share=0.12,
    solar_share=0.10,
    floors=(11, 30),
    streets=(
        "Hechang",
        "Zhongtian",
        "Zhongcheng",
        "Hezhuang",
        "Shengming",
        "Zhongsheng",
        "Hexu",
        "Heteng",
        "Zhongbin",
        "Haibin",
        "Jiyun",
        "Heshun",
    ),
    climate=Climate(
        temp_mean=12.9,
        temp_amplitude=15.0,
        temp_diurnal=4.5,
        coldest_day=18,
        cloud_winter=0.35,
        cloud_summer=0.60,
        dew_depression=7.0,
        wind_mean=3.6,
        wind_from=135.0,
        dust=1.5,
        heating_pm25=35.0,
    ),
)

TASHKENT = City(
    key="tashkent",
    name="Tashkent",
    country="UZ",
    latitude=41.2995,
    longitude=69.2401,
    altitude=455.0,
    timezone="Asia/Tashkent",
    size=0.35,
    aspect=1.0,
    block_x=180.0,
    block_y=150.0,
    port=False,
    currency="UZS",
    cost_factor=12_000.0,
    built_from=1995,
    built_to=2023,
    legacy_share=0.45,
    solar_share=0.06,
    floors=(4, 9),
    streets=(
        "Amir Temur",
        "Navoi",
        "Shota Rustaveli",
        "Bobur",
        "Mustaqillik",
        "Olmazor",
        "Furqat",
        "Yunusobod",
    ),
    climate=Climate(
        temp_mean=14.8,
        temp_amplitude=13.5,
        temp_diurnal=7.0,
        coldest_day=15,
        cloud_winter=0.60,
        cloud_summer=0.10,
        dew_depression=11.0,
        wind_mean=2.2,
        wind_from=45.0,
        dust=4.0,
        heating_pm25=25.0,
    ),
)

MINSK = City(
    key="minsk",
    name="Minsk",
    country="BY",
    latitude=53.9006,
    longitude=27.5590,
    altitude=220.0,
    timezone="Europe/Minsk",
    size=0.3,
    aspect=0.9,
    block_x=170.0,
    block_y=150.0,
    port=False,
    currency="BYN",
    cost_factor=3.2,
    built_from=1990,
    built_to=2022,
    legacy_share=0.35,
    solar_share=0.04,
    floors=(5, 16),
    streets=(
        "Nezavisimosti",
        "Pobediteley",
        "Masherova",
        "Kalvariyskaya",
        "Surganova",
        "Yakuba Kolasa",
        "Kirova",
        "Lenina",
    ),
    climate=Climate(
        temp_mean=6.7,
        temp_amplitude=11.5,
        temp_diurnal=4.0,
        coldest_day=20,
        cloud_winter=0.85,
        cloud_summer=0.55,
        dew_depression=4.0,
        wind_mean=3.0,
        wind_from=250.0,
        dust=0.8,
        heating_pm25=12.0,
    ),
)

CITIES: Final[tuple[City, ...]] = (TIANJIN, TASHKENT, MINSK)
DEFAULT_CITY: Final = TIANJIN.key


def get_city(key: str) -> City:
    """The city with this key (its tenant name); ValueError names the known ones."""
    for city in CITIES:
        if city.key == key:
            return city
    known = ", ".join(c.key for c in CITIES)
    raise ValueError(f"unknown demo city {key!r}; choose one of {known}")
