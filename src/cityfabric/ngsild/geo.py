"""Geo-queries (GS CIM 009 clause 4.10) and GeoJSON geometry checks.

`GeoQuery` is what the API parses from georel/geometry/coordinates/geoproperty
and what the store evaluates: an R*Tree pre-filter from `prefilter_bbox` and
the exact predicate from `compile_predicate` (shapely, geodesic metres for
distances).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cityfabric.ngsild.model import LOCATION

Georel = Literal["near", "within", "contains", "intersects", "disjoint", "equals", "overlaps"]


@dataclass(frozen=True)
class GeoQuery:
    georel: Georel
    geometry: dict[str, Any]  # a validated GeoJSON geometry (lon, lat)
    geoproperty: str = LOCATION  # expanded attribute IRI
    max_distance: float | None = None  # metres, near only
    min_distance: float | None = None  # metres, near only
