"""GeoJSON geometries (RFC 7946): strict checks with helpful errors, and bounding boxes.

Coordinates are WGS84 [longitude, latitude].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, cast

from cityfabric.ngsild.errors import BadRequestData

BBox = tuple[float, float, float, float]  # (min_lon, min_lat, max_lon, max_lat)
QUERY_GEOMETRIES: Final = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
)
MAX_COLLECTION_DEPTH: Final = 4  # nested GeometryCollections (RFC 7946 3.1.8 discourages any)


def validate_geometry(obj: object, *, where: str = "geometry") -> dict[str, Any]:
    """Check that `obj` is an RFC 7946 geometry with WGS84 positions; return it unchanged.

    Raises `BadRequestData` whose detail starts with `where` and names the bad part,
    e.g. "location: Polygon ring 0 is not closed".
    """
    _check_geometry(obj, where, 0)
    return cast(dict[str, Any], obj)


def _check_geometry(obj: object, where: str, depth: int) -> None:
    if not isinstance(obj, dict):
        raise BadRequestData(
            f"{where}: expected a GeoJSON geometry object with 'type' and 'coordinates', "
            f"got {describe(obj)}"
        )
    kind = obj.get("type")
    if kind == "Point":  # the hot path: one position, no table lookup
        coords = obj.get("coordinates")
        if not is_position(coords):
            raise _position_error(where, "Point coordinates", coords)
        return
    if kind == "GeometryCollection":
        _check_collection(obj, where, depth)
        return
    check = _COORDINATE_CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        raise BadRequestData(f"{where}: {_type_problem(kind)}")
    if "coordinates" not in obj:
        raise BadRequestData(f"{where}: {kind} has no 'coordinates' member")
    check(obj["coordinates"], where)


def _type_problem(kind: object) -> str:
    if kind is None:
        return "GeoJSON geometry has no 'type'"
    if kind in ("Feature", "FeatureCollection"):
        return f"a {kind} is not a geometry; give its geometry only"
    allowed = ", ".join((*QUERY_GEOMETRIES, "GeometryCollection"))
    return f"unknown GeoJSON geometry type {describe(kind)}; expected one of {allowed}"


def _check_collection(obj: dict[str, Any], where: str, depth: int) -> None:
    if depth >= MAX_COLLECTION_DEPTH:
        raise BadRequestData(
            f"{where}: GeometryCollections nested deeper than {MAX_COLLECTION_DEPTH} levels"
        )
    members = obj.get("geometries")
    if not isinstance(members, (list, tuple)) or not members:
        raise BadRequestData(f"{where}: GeometryCollection needs a non-empty 'geometries' array")
    for i, member in enumerate(members):
        _check_geometry(member, f"{where}: GeometryCollection geometry {i}", depth + 1)


def is_position(p: object) -> bool:
    # Comparisons are False for NaN, and the range checks reject infinities.
    if not isinstance(p, (list, tuple)) or not 2 <= len(p) <= 3:
        return False
    lon, lat = p[0], p[1]
    if type(lon) not in _NUMBER or type(lat) not in _NUMBER:
        return False
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return False
    return len(p) == 2 or (type(p[2]) in _NUMBER and math.isfinite(p[2]))


_NUMBER: Final = (float, int)  # by exact type, so that bool is not a number


def _position_error(where: str, label: str, p: object) -> BadRequestData:
    return BadRequestData(f"{where}: {label}: {_position_problem(p)}")


def _position_problem(p: object) -> str:
    shape_hint = "a position is [longitude, latitude] or [longitude, latitude, altitude]"
    if not isinstance(p, (list, tuple)):
        return f"expected a position array, got {describe(p)}; {shape_hint}"
    if any(isinstance(x, (list, tuple)) for x in p):
        return f"got an array of arrays (one bracket level too many?); {shape_hint}"
    if not 2 <= len(p) <= 3:
        return f"a position has 2 or 3 numbers, got {len(p)}; {shape_hint}"
    for i, x in enumerate(p):
        if type(x) not in _NUMBER:
            return f"element {i} is {describe(x)}, not a number"
        if not math.isfinite(x):
            return f"element {i} is not a finite number"
    lon, lat = p[0], p[1]
    swapped = -90 <= lon <= 90 and -180 <= lat <= 180
    hint = " (longitude and latitude swapped? GeoJSON order is [longitude, latitude])"
    if not -180 <= lon <= 180:
        return f"longitude {lon} is outside [-180, 180]"
    return f"latitude {lat} is outside [-90, 90]" + (hint if swapped else "")


def _check_positions(coords: object, where: str, label: str, minimum: int) -> Sequence[Any]:
    if not isinstance(coords, (list, tuple)):
        raise BadRequestData(
            f"{where}: {label} must be an array of positions, got {describe(coords)}"
        )
    if len(coords) < minimum:
        raise BadRequestData(
            f"{where}: {label} needs at least {minimum} position{'s' * (minimum > 1)}, "
            f"got {len(coords)}"
        )
    for i, p in enumerate(coords):
        if not is_position(p):
            raise _position_error(where, f"{label} position {i}", p)
    return coords


def _check_parts(coords: object, where: str, label: str, part: str) -> Sequence[Any]:
    if not isinstance(coords, (list, tuple)) or not coords:
        raise BadRequestData(
            f"{where}: {label} coordinates must be a non-empty array of {part}s, "
            f"got {describe(coords)}"
        )
    return coords


def _check_multipoint(coords: object, where: str) -> None:
    _check_positions(coords, where, "MultiPoint", 1)


def _check_linestring(coords: object, where: str, label: str = "LineString") -> None:
    _check_positions(coords, where, label, 2)


def _check_multilinestring(coords: object, where: str) -> None:
    for i, line in enumerate(_check_parts(coords, where, "MultiLineString", "line")):
        _check_linestring(line, where, f"MultiLineString line {i}")


def _check_polygon(coords: object, where: str, label: str = "Polygon") -> None:
    for i, ring in enumerate(_check_parts(coords, where, label, "linear ring")):
        positions = _check_positions(ring, where, f"{label} ring {i}", 4)
        if list(positions[0]) != list(positions[-1]):
            raise BadRequestData(
                f"{where}: {label} ring {i} is not closed (its first and last positions differ)"
            )


def _check_multipolygon(coords: object, where: str) -> None:
    for i, polygon in enumerate(_check_parts(coords, where, "MultiPolygon", "polygon")):
        _check_polygon(polygon, where, f"MultiPolygon polygon {i}")


_COORDINATE_CHECKS: Final[dict[str, Callable[[object, str], None]]] = {
    "MultiPoint": _check_multipoint,
    "LineString": _check_linestring,
    "MultiLineString": _check_multilinestring,
    "Polygon": _check_polygon,
    "MultiPolygon": _check_multipolygon,
}


def describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "an array"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- geo-query parameters ----------------------------------------------------------------------


_DEPTH: Final = {
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def _positions(geometry: dict[str, Any]) -> Iterator[Sequence[float]]:
    kind = geometry["type"]
    if kind == "Point":
        yield geometry["coordinates"]
    elif kind == "GeometryCollection":
        for member in geometry["geometries"]:
            yield from _positions(member)
    else:
        items = geometry["coordinates"]
        for _ in range(_DEPTH[kind] - 1):
            items = [inner for item in items for inner in item]
        yield from items


def bbox(geometry: dict[str, Any]) -> BBox:
    """(min_lon, min_lat, max_lon, max_lat) of a validated GeoJSON geometry."""
    if geometry["type"] == "Point":
        coords = geometry["coordinates"]
        lon, lat = float(coords[0]), float(coords[1])
        return lon, lat, lon, lat
    positions = list(_positions(geometry))
    if not positions:
        raise ValueError("geometry has no positions")
    lons = [p[0] for p in positions]
    lats = [p[1] for p in positions]
    return float(min(lons)), float(min(lats)), float(max(lons)), float(max(lats))
