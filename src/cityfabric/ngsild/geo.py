"""Geo-queries (GS CIM 009 clause 4.10); GeoJSON checks live in `geojson.py`.

`GeoQuery` is what the API parses from georel/geometry/coordinates/geoproperty
and what the store evaluates: an R*Tree pre-filter from `prefilter_bbox` and
the exact predicate from `compile_predicate` (shapely, geodesic metres for
distances).

Coordinates are WGS84 [longitude, latitude] (RFC 7946). The topological
relations are planar in lon/lat, as RFC 7946 and the OGC simple features
define them; distances for `near` are great-circle metres on a sphere of
radius `EARTH_RADIUS_M`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

import numpy as np
import orjson
import shapely
from shapely.geometry import shape

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geojson import (
    QUERY_GEOMETRIES,
    BBox,
    bbox,
    describe,
    is_position,
    validate_geometry,
)
from cityfabric.ngsild.model import LOCATION

__all__ = [
    "QUERY_GEOMETRIES",
    "GeoQuery",
    "bbox",
    "compile_predicate",
    "haversine_m",
    "parse_geo_query",
    "prefilter_bbox",
    "validate_geometry",
]

Georel = Literal["near", "within", "contains", "intersects", "disjoint", "equals", "overlaps"]
Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class GeoQuery:
    """A geo-query; `parse_geo_query` leaves `geoproperty` for the caller to expand."""

    georel: Georel
    geometry: dict[str, Any]  # a validated GeoJSON geometry (lon, lat)
    geoproperty: str = LOCATION  # expanded attribute IRI
    max_distance: float | None = None  # metres, near only
    min_distance: float | None = None  # metres, near only


EARTH_RADIUS_M: Final = 6_371_008.8  # IUGG mean Earth radius
GEORELS: Final[tuple[str, ...]] = get_args(Georel)

_DISTANCES: Final = ("maxDistance", "minDistance")
_GEOREL_HINTS: Final = {"coveredBy": "within", **{g.lower(): g for g in GEORELS}}
_FORBIDDEN_IN_NAME: Final = frozenset("<>\"'=;()") | frozenset(" \t\r\n")
_M_PER_DEGREE: Final = EARTH_RADIUS_M * math.pi / 180.0


# --- GeoJSON geometry checks -------------------------------------------------------------------


def parse_geo_query(
    georel: str | None,
    geometry: str | None,
    coordinates: str | object | None,
    geoproperty: str | None,
) -> GeoQuery | None:
    """Parse the geo-query parameters (GS CIM 009 clause 4.10); None when none is given.

    `coordinates` is either the JSON text of a URL query string or the already decoded
    value of a POST geoQ object. `geoproperty` comes back as given (the caller expands
    it with the request's @context), or as the expanded `LOCATION` IRI when absent.
    Raises `BadRequestData` for a partial or malformed geo-query.
    """
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    if all(value is None for value in given.values()):
        if geoproperty is not None:
            raise BadRequestData(
                "geoproperty is given without a geo-query: add georel, geometry and coordinates"
            )
        return None
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise BadRequestData(
            f"incomplete geo-query: {' and '.join(missing)} missing "
            "(georel, geometry and coordinates go together)"
        )
    rel, max_distance, min_distance = _parse_georel(georel)
    geom = validate_geometry(
        {"type": _parse_geometry_type(geometry), "coordinates": _decode_coordinates(coordinates)},
        where="coordinates",
    )
    _check_planar_validity(geom)
    return GeoQuery(rel, geom, _parse_geoproperty(geoproperty), max_distance, min_distance)


def _parse_georel(text: object) -> tuple[Georel, float | None, float | None]:
    if not isinstance(text, str):
        raise BadRequestData(f"georel must be a string, got {describe(text)}")
    name, *modifiers = (part.strip() for part in text.split(";"))
    if name not in GEORELS:
        hint = _GEOREL_HINTS.get(name) or _GEOREL_HINTS.get(name.lower())
        raise BadRequestData(
            f"unknown georel {name!r}"
            + (f" (did you mean {hint!r}?)" if hint else "")
            + "; expected near;maxDistance==<metres>, near;minDistance==<metres>, "
            "within, contains, intersects, disjoint, equals or overlaps"
        )
    if name != "near":
        if modifiers:
            raise BadRequestData(f"georel {name!r} takes no modifiers, got {text!r}")
        return cast(Georel, name), None, None
    distances: dict[str, float] = {}
    for modifier in modifiers:
        key, value = _split_modifier(modifier)
        if key in distances:
            raise BadRequestData(f"georel near: {key} is given twice")
        distances[key] = _parse_distance(key, value)
    if not distances:
        raise BadRequestData(
            "georel near needs a distance: near;maxDistance==<metres> "
            "and/or near;minDistance==<metres>"
        )
    high, low = distances.get("maxDistance"), distances.get("minDistance")
    if high is not None and low is not None and low > high:
        raise BadRequestData(f"georel near: minDistance {low:g} exceeds maxDistance {high:g}")
    return "near", high, low


def _split_modifier(modifier: str) -> tuple[str, str]:
    key, sep, value = modifier.partition("==")
    key = key.strip()
    if not sep:
        wrong = next((s for s in ("=", ":") if s in modifier), None)
        raise BadRequestData(
            f"georel near: cannot read {modifier!r}"
            + (f" ({wrong!r} is not the operator)" if wrong else "")
            + "; write maxDistance==<metres> or minDistance==<metres>"
        )
    if key not in _DISTANCES:
        raise BadRequestData(
            f"georel near: unknown modifier {key!r}; expected maxDistance or minDistance"
        )
    return key, value.strip()


def _parse_distance(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or "_" in text:
        raise BadRequestData(f"georel near: {key} must be a number of metres, got {text!r}")
    if value < 0:
        raise BadRequestData(f"georel near: {key} must not be negative, got {text}")
    return value


def _parse_geometry_type(text: object) -> str:
    if isinstance(text, str) and text in QUERY_GEOMETRIES:
        return text
    expected = ", ".join(QUERY_GEOMETRIES)
    hint = next(
        (g for g in QUERY_GEOMETRIES if isinstance(text, str) and g.lower() == text.lower()), None
    )
    raise BadRequestData(
        f"unknown geo-query geometry {describe(text)}"
        + (f" (did you mean {hint!r}?)" if hint else "")
        + f"; expected one of {expected}"
    )


def _decode_coordinates(raw: object) -> object:
    if not isinstance(raw, (str, bytes)):
        return raw  # already decoded JSON (POST /entityOperations/query geoQ)
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    shown = describe(text)
    if text[:3].upper() == "%5B":
        raise BadRequestData(f"coordinates look URL-encoded twice: {shown}; encode them once")
    if not text.startswith("["):
        raise BadRequestData(
            f"coordinates must be a JSON array such as [8.68,49.41], got {shown}; "
            "enclose them in square brackets"
        )
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise BadRequestData(f"coordinates are not valid JSON ({err}): {shown}") from err


def _check_planar_validity(geometry: dict[str, Any]) -> None:
    # A self-intersecting query polygon makes every relation meaningless; say so up front.
    if geometry["type"] not in ("Polygon", "MultiPolygon"):
        return
    reason = shapely.is_valid_reason(shape(geometry))
    if reason != "Valid Geometry":
        raise BadRequestData(f"coordinates: {geometry['type']} is not valid: {reason}")


def _parse_geoproperty(name: object) -> str:
    if name is None:
        return LOCATION
    if not isinstance(name, str) or not name or _FORBIDDEN_IN_NAME.intersection(name):
        raise BadRequestData(f"geoproperty must be an attribute name, got {describe(name)}")
    return name


# --- distances and boxes -----------------------------------------------------------------------


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS84 positions (spherical Earth)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def prefilter_bbox(q: GeoQuery) -> BBox | None:
    """A box that the bounding box of every geometry matching `q` intersects; None if unbounded.

    The store keeps the rows whose stored bbox intersects the box (inclusive bounds); for
    within and equals the matches even lie inside it. disjoint and a near with only
    minDistance give None (no pre-filter). near;maxDistance widens the query geometry's box
    by the distance on the sphere, to the whole longitude range where it would reach a pole
    or cross the antimeridian (clamping there would lose matches on the other side).
    """
    if q.georel == "disjoint":
        return None
    box = bbox(q.geometry)
    if q.georel != "near":
        return box
    if q.max_distance is None:
        return None
    return _widen(box, q.max_distance)


def _widen(box: BBox, metres: float) -> BBox:
    min_lon, min_lat, max_lon, max_lat = box
    theta = metres / EARTH_RADIUS_M * (1 + 1e-9) + 1e-12  # angular radius, a hair generous
    dlat = math.degrees(theta)
    low, high = max(-90.0, min_lat - dlat), min(90.0, max_lat + dlat)
    # A cap of angular radius theta around latitude phi spans asin(sin theta / cos phi) in
    # longitude, widest at the box's latitude farthest from the equator.
    far = math.radians(max(abs(min_lat), abs(max_lat)))
    if theta >= math.pi / 2 - far:
        return -180.0, low, 180.0, high
    dlon = math.degrees(math.asin(min(1.0, math.sin(theta) / math.cos(far))))
    if min_lon - dlon < -180.0 or max_lon + dlon > 180.0:
        return -180.0, low, 180.0, high
    return min_lon - dlon, low, max_lon + dlon, high


# --- exact predicates --------------------------------------------------------------------------


def compile_predicate(q: GeoQuery) -> Predicate:
    """The exact test of `q` for one stored GeoJSON geometry; malformed input gives False.

    Relations have their OGC meaning with the stored geometry first (within: the stored
    geometry is within the query geometry). near compares the geodesic distance between the
    geometries (metres) with maxDistance (<=) and minDistance (>=): exact for points against
    points; otherwise see `_LocalFrame` for the accuracy.
    """
    if q.georel == "near":
        return _near_predicate(q)
    query = shapely.force_2d(shape(q.geometry))
    shapely.prepare(query)
    relation = _RELATIONS[q.georel]
    point_test = _POINT_TESTS.get(q.georel)

    def predicate(stored: dict[str, Any]) -> bool:
        try:
            if point_test is not None and _is_point(stored):
                coords = stored["coordinates"]
                return is_position(coords) and point_test(query, coords[0], coords[1])
            return relation(query, _to_shape(stored))
        except Exception:  # stored data may be anything; it simply does not match
            return False

    return predicate


def _is_point(stored: object) -> bool:
    return isinstance(stored, dict) and stored.get("type") == "Point"


def _to_shape(stored: object) -> Any:
    return shapely.force_2d(shape(validate_geometry(stored)))


# relation(prepared query, stored): the OGC relation "stored <georel> query"
_RELATIONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "within": lambda query, stored: bool(shapely.contains(query, stored)),
    "contains": lambda query, stored: bool(shapely.within(query, stored)),
    "intersects": lambda query, stored: bool(shapely.intersects(query, stored)),
    "disjoint": lambda query, stored: bool(shapely.disjoint(query, stored)),
    "equals": lambda query, stored: bool(shapely.equals(stored, query)),
    "overlaps": lambda query, stored: bool(shapely.overlaps(query, stored)),
}
# the same for a stored Point, without building a shapely object for it
_POINT_TESTS: Final[dict[str, Callable[[Any, float, float], bool]]] = {
    "within": lambda query, x, y: bool(shapely.contains_xy(query, x, y)),
    "intersects": lambda query, x, y: bool(shapely.intersects_xy(query, x, y)),
    "disjoint": lambda query, x, y: not shapely.intersects_xy(query, x, y),
}


def _near_predicate(q: GeoQuery) -> Predicate:
    high, low = q.max_distance, q.min_distance
    query_points = _point_list(q.geometry)
    frame = _LocalFrame(q.geometry)

    def accept(metres: float) -> bool:
        return (high is None or metres <= high) and (low is None or metres >= low)

    def distance(stored: dict[str, Any]) -> float:
        validate_geometry(stored)
        stored_points = _point_list(stored)
        if query_points is not None and stored_points is not None:
            return min(haversine_m(*a, *b) for a in query_points for b in stored_points)
        return frame.distance_m(stored)

    single = query_points[0] if query_points is not None and len(query_points) == 1 else None

    def predicate(stored: dict[str, Any]) -> bool:
        try:
            if single is not None and _is_point(stored):  # the hot path
                c = stored["coordinates"]
                return is_position(c) and accept(haversine_m(single[0], single[1], c[0], c[1]))
            return accept(distance(stored))
        except Exception:  # stored data may be anything; it simply does not match
            return False

    return predicate


def _point_list(geometry: dict[str, Any]) -> list[tuple[float, float]] | None:
    if geometry["type"] == "Point":
        return [(geometry["coordinates"][0], geometry["coordinates"][1])]
    if geometry["type"] == "MultiPoint":
        return [(p[0], p[1]) for p in geometry["coordinates"]]
    return None


class _LocalFrame:
    """An equirectangular metric frame centred on the query geometry's bounding box.

    The frame is linear in lon/lat, so GeoJSON edges stay straight and each point of a
    geometry maps to a point of its image. The closest pair found in the frame is mapped
    back and measured with `haversine_m`, so a reported distance is always a true distance
    between two points of the geometries: never below the exact minimum, and above it by a
    relative error of about 2 * |tan(lat0)| * dlat (dlat in radians between the pair and the
    frame's centre): under 0.3 % for 10 km at 40 degrees, worse close to the poles. A stored
    geometry is shifted by whole turns to the side of the antimeridian nearest the query.
    """

    def __init__(self, geometry: dict[str, Any]) -> None:
        min_lon, min_lat, max_lon, max_lat = bbox(geometry)
        self.lon0 = (min_lon + max_lon) / 2
        self.lat0 = (min_lat + max_lat) / 2
        self.scale = np.array(
            [_M_PER_DEGREE * max(math.cos(math.radians(self.lat0)), 1e-6), _M_PER_DEGREE]
        )
        self.query = self._project(shape(geometry), 0.0)
        shapely.prepare(self.query)

    def _project(self, geom: Any, shift: float) -> Any:
        offset = np.array([shift - self.lon0, -self.lat0])
        return shapely.transform(geom, lambda xy: (xy + offset) * self.scale)

    def _unproject(self, x: float, y: float, shift: float) -> tuple[float, float]:
        return x / self.scale[0] + self.lon0 - shift, y / self.scale[1] + self.lat0

    def distance_m(self, stored: dict[str, Any]) -> float:
        """Geodesic distance in metres from the query geometry to a validated geometry."""
        geom = shape(stored)
        min_lon, _, max_lon, _ = shapely.bounds(geom)
        shift = -360.0 * round(((min_lon + max_lon) / 2 - self.lon0) / 360.0)
        projected = self._project(geom, shift)
        if shapely.intersects(self.query, projected):
            return 0.0
        (x1, y1), (x2, y2) = shapely.get_coordinates(shapely.shortest_line(self.query, projected))
        return haversine_m(*self._unproject(x1, y1, 0.0), *self._unproject(x2, y2, shift))
