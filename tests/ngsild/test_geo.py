"""Tests for cityfabric.ngsild.geo: GeoJSON checks, geo-query parsing, boxes and predicates."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geo import (
    EARTH_RADIUS_M,
    GeoQuery,
    bbox,
    compile_predicate,
    haversine_m,
    parse_geo_query,
    prefilter_bbox,
    validate_geometry,
)
from cityfabric.ngsild.model import LOCATION

M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180  # ~111.195 km
TIANJIN = (117.2008, 39.0842)  # lon, lat


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def square(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


# --- validate_geometry -------------------------------------------------------------------------

VALID = [
    point(8.68, 49.41),
    {"type": "Point", "coordinates": [-180, -90, 12.5]},
    {"type": "Point", "coordinates": (180.0, 90.0)},
    {"type": "MultiPoint", "coordinates": [[0, 0], [1, 1, 3]]},
    {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
    {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[2, 2], [3, 3], [4, 2]]]},
    square(0, 0, 1, 1),
    {
        "type": "Polygon",
        "coordinates": [
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[2, 2], [2, 3], [3, 3], [2, 2]],
        ],
    },
    {"type": "MultiPolygon", "coordinates": [square(0, 0, 1, 1)["coordinates"]]},
    {"type": "GeometryCollection", "geometries": [point(1, 2), square(0, 0, 1, 1)]},
    {"type": "Point", "coordinates": [1, 2], "bbox": [1, 2, 1, 2]},
]


@pytest.mark.parametrize("geometry", VALID, ids=lambda g: str(g["type"]))
def test_valid_geometries_are_returned_unchanged(geometry: dict[str, Any]) -> None:
    assert validate_geometry(geometry) is geometry


NOT_CLOSED = [[0, 0], [1, 0], [1, 1], [0, 1]]
INVALID: list[tuple[object, str]] = [
    (None, "location: expected a GeoJSON geometry object"),
    ("POINT(1 2)", "got 'POINT(1 2)'"),
    ({"coordinates": [1, 2]}, "location: GeoJSON geometry has no 'type'"),
    ({"type": "Feature", "geometry": point(1, 2)}, "a Feature is not a geometry"),
    ({"type": "Circle", "coordinates": [1, 2]}, "unknown GeoJSON geometry type 'Circle'"),
    ({"type": "Point"}, "Point coordinates: expected a position array, got null"),
    (point(1, 2) | {"coordinates": [1]}, "a position has 2 or 3 numbers, got 1"),
    (point(1, 2) | {"coordinates": [1, 2, 3, 4]}, "got 4"),
    (point(1, 2) | {"coordinates": ["1", 2]}, "element 0 is '1', not a number"),
    (point(1, 2) | {"coordinates": [1, True]}, "element 1 is true, not a number"),
    (point(1, 2) | {"coordinates": [math.nan, 2]}, "element 0 is not a finite number"),
    (point(1, 2) | {"coordinates": [1, 2, math.inf]}, "element 2 is not a finite number"),
    (point(200, 10), "location: Point coordinates: longitude 200 is outside [-180, 180]"),
    (point(39.1, 117.2), "latitude 117.2 is outside [-90, 90] (longitude and latitude swapped?"),
    ({"type": "MultiPoint", "coordinates": []}, "MultiPoint needs at least 1 position, got 0"),
    ({"type": "MultiPoint", "coordinates": [[0, 0], [0, 91]]}, "MultiPoint position 1: latit"),
    ({"type": "LineString", "coordinates": [[0, 0]]}, "LineString needs at least 2 positions"),
    ({"type": "LineString", "coordinates": {"a": 1}}, "must be an array of positions"),
    ({"type": "LineString"}, "location: LineString has no 'coordinates' member"),
    ({"type": "MultiLineString", "coordinates": []}, "non-empty array of lines"),
    (
        {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[0, 0]]]},
        "MultiLineString line 1 needs at least 2 positions",
    ),
    ({"type": "Polygon", "coordinates": []}, "Polygon coordinates must be a non-empty array"),
    ({"type": "Polygon", "coordinates": [NOT_CLOSED]}, "location: Polygon ring 0 is not closed"),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},
        "Polygon ring 0 needs at least 4 positions, got 3",
    ),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], "x", [0, 0]]]},
        "Polygon ring 0 position 3: expected a position array",
    ),
    (
        {"type": "MultiPolygon", "coordinates": [square(0, 0, 1, 1)["coordinates"], [NOT_CLOSED]]},
        "MultiPolygon polygon 1 ring 0 is not closed",
    ),
    ({"type": "GeometryCollection", "geometries": []}, "non-empty 'geometries' array"),
    (
        {"type": "GeometryCollection", "geometries": [point(0, 0), point(0, 99)]},
        "location: GeometryCollection geometry 1: Point coordinates: latitude 99",
    ),
    (
        {"type": "GeometryCollection", "geometries": [{"type": "GeometryCollection"}]},
        "GeometryCollection geometry 0: GeometryCollection needs",
    ),
]


@pytest.mark.parametrize(("geometry", "detail"), INVALID)
def test_invalid_geometries_say_what_and_where(geometry: object, detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        validate_geometry(geometry, where="location")
    assert detail in caught.value.detail
    assert caught.value.detail.startswith("location: ")


def test_geometry_collections_nest_only_so_deep() -> None:
    geometry: dict[str, Any] = point(0, 0)
    for _ in range(10):
        geometry = {"type": "GeometryCollection", "geometries": [geometry]}
    with pytest.raises(BadRequestData, match="nested deeper than 4"):
        validate_geometry(geometry)


# --- parse_geo_query ---------------------------------------------------------------------------


def test_no_geo_query_gives_none() -> None:
    assert parse_geo_query(None, None, None, None) is None


@pytest.mark.parametrize(
    ("georel", "expected"),
    [
        ("near;maxDistance==500", ("near", 500.0, None)),
        ("near;minDistance==100", ("near", None, 100.0)),
        ("near;minDistance==100;maxDistance==2000.5", ("near", 2000.5, 100.0)),
        ("near ; maxDistance == 1e3", ("near", 1000.0, None)),
        ("near;maxDistance==0", ("near", 0.0, None)),
        ("within", ("within", None, None)),
        ("contains", ("contains", None, None)),
        ("intersects", ("intersects", None, None)),
        ("disjoint", ("disjoint", None, None)),
        ("equals", ("equals", None, None)),
        ("overlaps", ("overlaps", None, None)),
    ],
)
def test_every_georel_form(georel: str, expected: tuple[str, float | None, float | None]) -> None:
    q = parse_geo_query(georel, "Point", "[117.2, 39.1]", None)
    assert q is not None
    assert (q.georel, q.max_distance, q.min_distance) == expected
    assert q.geometry == point(117.2, 39.1)
    assert q.geoproperty == LOCATION


@pytest.mark.parametrize(
    ("geometry", "coordinates"),
    [
        ("Point", [8.68, 49.41]),
        ("MultiPoint", [[8.68, 49.41], [8.69, 49.42]]),
        ("LineString", [[8.68, 49.41], [8.69, 49.42]]),
        ("MultiLineString", [[[8.68, 49.41], [8.69, 49.42]]]),
        ("Polygon", square(0, 0, 1, 1)["coordinates"]),
        ("MultiPolygon", [square(0, 0, 1, 1)["coordinates"], square(2, 2, 3, 3)["coordinates"]]),
    ],
)
def test_every_geometry_from_url_text_and_from_post_json(
    geometry: str, coordinates: list[Any]
) -> None:
    import json

    from_url = parse_geo_query("intersects", geometry, json.dumps(coordinates), None)
    from_post = parse_geo_query("intersects", geometry, coordinates, "location")
    assert from_url is not None and from_post is not None
    assert from_url.geometry == from_post.geometry == {"type": geometry, "coordinates": coordinates}
    assert from_post.geoproperty == "location"  # raw; the caller expands it


def test_geoproperty_is_returned_as_given() -> None:
    q = parse_geo_query("within", "Polygon", square(0, 0, 1, 1)["coordinates"], "observedAt2")
    assert q == GeoQuery("within", square(0, 0, 1, 1), "observedAt2")


GEO_QUERY_ERRORS: list[tuple[tuple[Any, Any, Any, Any], str]] = [
    (("within", "Point", None, None), "incomplete geo-query: coordinates missing"),
    (("within", None, None, None), "geometry and coordinates missing"),
    ((None, "Point", "[1,2]", None), "georel missing"),
    ((None, None, None, "location"), "geoproperty is given without a geo-query"),
    (("nearby", "Point", "[1,2]", None), "unknown georel 'nearby'"),
    (("Within", "Point", "[1,2]", None), "did you mean 'within'?"),
    (("coveredBy", "Point", "[1,2]", None), "did you mean 'within'?"),
    (("", "Point", "[1,2]", None), "unknown georel ''"),
    ((5, "Point", "[1,2]", None), "georel must be a string"),
    (("within;maxDistance==5", "Point", "[1,2]", None), "'within' takes no modifiers"),
    (("near", "Point", "[1,2]", None), "georel near needs a distance"),
    (("near;", "Point", "[1,2]", None), "cannot read ''"),
    (("near;maxDistance=5", "Point", "[1,2]", None), "('=' is not the operator)"),
    (("near;maxDistance:5", "Point", "[1,2]", None), "(':' is not the operator)"),
    (("near;distance==5", "Point", "[1,2]", None), "unknown modifier 'distance'"),
    (("near;maxDistance==5;maxDistance==6", "Point", "[1,2]", None), "given twice"),
    (("near;maxDistance==-5", "Point", "[1,2]", None), "maxDistance must not be negative"),
    (("near;minDistance==-1", "Point", "[1,2]", None), "minDistance must not be negative"),
    (("near;maxDistance==abc", "Point", "[1,2]", None), "must be a number of metres"),
    (("near;maxDistance==nan", "Point", "[1,2]", None), "must be a number of metres"),
    (("near;maxDistance==inf", "Point", "[1,2]", None), "must be a number of metres"),
    (("near;maxDistance==", "Point", "[1,2]", None), "must be a number of metres"),
    (("near;minDistance==9;maxDistance==5", "Point", "[1,2]", None), "minDistance 9 exceeds"),
    (("within", "point", "[1,2]", None), "did you mean 'Point'?"),
    (("within", "Circle", "[1,2]", None), "unknown geo-query geometry 'Circle'"),
    (("within", "GeometryCollection", "[]", None), "unknown geo-query geometry"),
    (("within", "Point", "8.68,49.41", None), "enclose them in square brackets"),
    (("within", "Point", "%5B8.68%2C49.41%5D", None), "URL-encoded twice"),
    (("within", "Point", "[8.68, 49.41", None), "coordinates are not valid JSON"),
    (("within", "Point", "[8.68; 49.41]", None), "coordinates are not valid JSON"),
    (("within", "Point", "", None), "must be a JSON array"),
    (("within", "Point", "[49.41, 181]", None), "coordinates: Point coordinates: latitude 181"),
    (
        ("within", "Point", [[8.68, 49.41]], None),
        "got an array of arrays (one bracket level too many?)",
    ),
    (("within", "Polygon", [NOT_CLOSED], None), "coordinates: Polygon ring 0 is not closed"),
    (
        ("within", "Polygon", [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]], None),
        "coordinates: Polygon is not valid: Self-intersection",
    ),
    (("within", "Point", "[1,2]", ""), "geoproperty must be an attribute name"),
    (("within", "Point", "[1,2]", "a b"), "geoproperty must be an attribute name"),
]


@pytest.mark.parametrize(("args", "detail"), GEO_QUERY_ERRORS)
def test_geo_query_errors(args: tuple[Any, Any, Any, Any], detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_geo_query(*args)
    assert detail in caught.value.detail
    assert caught.value.status == 400


# --- haversine and near ------------------------------------------------------------------------


def test_haversine_known_distances() -> None:
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, abs=1)  # 1 degree of latitude
    assert haversine_m(10, 45, 10, 46) == pytest.approx(111_195, abs=1)
    # quarter meridian: 10,001,966 m on the WGS84 ellipsoid, within 0.06 % on the sphere
    assert haversine_m(0, 0, 0, 90) == pytest.approx(10_001_966, rel=6e-4)
    assert haversine_m(0, 0, 180, 0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m(179.999, 0, -179.999, 0) == pytest.approx(222.4, abs=0.1)
    assert haversine_m(*TIANJIN, *TIANJIN) == 0.0
    # Tianjin - Beijing city centres: about 113 km as the crow flies
    assert haversine_m(*TIANJIN, 116.4074, 39.9042) == pytest.approx(113_000, rel=0.02)
    # one degree of longitude shrinks with cos(latitude)
    assert haversine_m(117, 39.1, 118, 39.1) == pytest.approx(
        111_195 * math.cos(math.radians(39.1)), rel=1e-3
    )


def test_near_two_points_in_tianjin_500_m_apart() -> None:
    lon, lat = TIANJIN
    north = lat + 500 / M_PER_DEG_LAT
    assert haversine_m(lon, lat, lon, north) == pytest.approx(500, abs=1e-6)
    east_500 = lon + 500 / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    assert haversine_m(lon, lat, east_500, lat) == pytest.approx(500, rel=1e-6)

    def matches(georel: str, target: dict[str, Any]) -> bool:
        q = parse_geo_query(georel, "Point", [lon, lat], None)
        assert q is not None
        return compile_predicate(q)(target)

    at_499 = point(lon, lat + 499 / M_PER_DEG_LAT)
    at_501 = point(lon, lat + 501 / M_PER_DEG_LAT)
    assert matches("near;maxDistance==500", at_499)
    assert not matches("near;maxDistance==500", at_501)
    assert not matches("near;minDistance==500", at_499)
    assert matches("near;minDistance==500", at_501)
    assert matches("near;minDistance==400;maxDistance==600", at_501)
    assert not matches("near;minDistance==502;maxDistance==600", at_501)
    assert matches("near;maxDistance==0", point(lon, lat))


def test_near_across_the_antimeridian() -> None:
    q = GeoQuery("near", point(179.9995, 10), max_distance=200)
    assert compile_predicate(q)(point(-179.9995, 10))  # ~110 m apart
    assert not compile_predicate(q)(point(-179.99, 10))


def test_near_between_points_and_other_geometries() -> None:
    lon, lat = TIANJIN
    dlat_1km = 1000 / M_PER_DEG_LAT
    dlon_1km = 1000 / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    street = {"type": "LineString", "coordinates": [[lon, lat], [lon, lat + 5 * dlat_1km]]}
    near = GeoQuery("near", street, max_distance=1010)
    assert compile_predicate(near)(point(lon + dlon_1km, lat + 2 * dlat_1km))
    assert not compile_predicate(GeoQuery("near", street, max_distance=990))(
        point(lon + dlon_1km, lat + 2 * dlat_1km)
    )
    # stored line, query point: symmetric
    at = point(lon + dlon_1km, lat + 2 * dlat_1km)
    assert compile_predicate(GeoQuery("near", at, max_distance=1010))(street)
    assert not compile_predicate(GeoQuery("near", at, max_distance=990))(street)
    assert compile_predicate(GeoQuery("near", at, min_distance=990))(street)
    # a point inside a stored polygon is at distance 0
    block = square(lon - dlon_1km, lat - dlat_1km, lon + dlon_1km, lat + dlat_1km)
    assert compile_predicate(GeoQuery("near", point(lon, lat), max_distance=0))(block)
    assert not compile_predicate(GeoQuery("near", point(lon, lat), min_distance=1))(block)
    # multipoints are measured exactly, pair by pair
    pair = {"type": "MultiPoint", "coordinates": [[0, 0], [0, 1]]}
    assert compile_predicate(GeoQuery("near", pair, max_distance=111_200))(point(0, 2))
    assert not compile_predicate(GeoQuery("near", pair, max_distance=111_190))(point(0, 2))


# --- OGC relations -----------------------------------------------------------------------------

QUERY_SQUARE = square(0, 0, 2, 2)
RELATION_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("inside", square(0.5, 0.5, 1.5, 1.5), {"within", "intersects"}),
    ("overlapping", square(1, 1, 3, 3), {"overlaps", "intersects"}),
    ("around", square(-1, -1, 3, 3), {"contains", "intersects"}),
    ("far away", square(5, 5, 6, 6), {"disjoint"}),
    ("touching", square(2, 0, 3, 2), {"intersects"}),
    (
        "same, other start",
        {"type": "Polygon", "coordinates": [[[2, 2], [0, 2], [0, 0], [2, 0], [2, 2]]]},
        {"within", "contains", "intersects", "equals"},
    ),
    ("point inside", point(1, 1), {"within", "intersects"}),
    ("point on edge", point(2, 1), {"intersects"}),
    ("point outside", point(3, 3), {"disjoint"}),
    ("line across", {"type": "LineString", "coordinates": [[-1, 1], [3, 1]]}, {"intersects"}),
    (
        "collection inside",
        {"type": "GeometryCollection", "geometries": [point(1, 1), point(1.5, 1.5)]},
        {"within", "intersects"},
    ),
    ("3D point inside", {"type": "Point", "coordinates": [1, 1, 30]}, {"within", "intersects"}),
]
RELATIONS = ("within", "contains", "intersects", "disjoint", "equals", "overlaps")


@pytest.mark.parametrize(("case", "stored", "holds"), RELATION_CASES, ids=lambda c: c)
def test_ogc_relations_on_small_polygons(
    case: str, stored: dict[str, Any], holds: set[str]
) -> None:
    found = {
        rel
        for rel in RELATIONS
        if compile_predicate(GeoQuery(rel, QUERY_SQUARE))(stored)  # type: ignore[arg-type]
    }
    assert found == holds, case


def test_contains_a_query_point() -> None:
    q = GeoQuery("contains", point(1, 1))
    assert compile_predicate(q)(QUERY_SQUARE)
    assert not compile_predicate(q)(square(5, 5, 6, 6))


MALFORMED: list[Any] = [
    None,
    "POINT(1 1)",
    {},
    {"type": "Point"},
    {"type": "Point", "coordinates": [math.nan, 1]},
    {"type": "Point", "coordinates": [1, 1, 1, 1]},
    {"type": "Polygon", "coordinates": [NOT_CLOSED]},
    {"type": "LineString", "coordinates": [[0, 0]]},
    {"type": "GeometryCollection", "geometries": [None]},
]


@pytest.mark.parametrize(
    "query",
    [GeoQuery(rel, QUERY_SQUARE) for rel in RELATIONS]  # type: ignore[arg-type]
    + [
        GeoQuery("near", point(1, 1), max_distance=1e7),
        GeoQuery("near", point(1, 1), min_distance=0),
        GeoQuery("near", QUERY_SQUARE, min_distance=0),
    ],
    ids=lambda q: q.georel,
)
@pytest.mark.parametrize("stored", MALFORMED)
def test_malformed_stored_geometry_never_matches(query: GeoQuery, stored: Any) -> None:
    assert compile_predicate(query)(stored) is False


def test_self_intersecting_stored_polygon_does_not_raise() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [3, 3], [3, 0], [0, 3], [0, 0]]]}
    for rel in RELATIONS:
        compile_predicate(GeoQuery(rel, QUERY_SQUARE))(bowtie)  # type: ignore[arg-type]
    assert compile_predicate(GeoQuery("near", point(1, 1), max_distance=10))(bowtie)


# --- bbox and prefilter_bbox -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("geometry", "box"),
    [
        (point(117.2, 39.1), (117.2, 39.1, 117.2, 39.1)),
        ({"type": "Point", "coordinates": [1, 2, 3]}, (1.0, 2.0, 1.0, 2.0)),
        ({"type": "MultiPoint", "coordinates": [[0, 5], [3, -1]]}, (0, -1, 3, 5)),
        ({"type": "LineString", "coordinates": [[0, 5], [3, -1], [-2, 0]]}, (-2, -1, 3, 5)),
        (
            {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[5, 5], [6, 7]]]},
            (0, 0, 6, 7),
        ),
        (square(-1, -2, 3, 4), (-1, -2, 3, 4)),
        (
            {
                "type": "MultiPolygon",
                "coordinates": [
                    square(0, 0, 1, 1)["coordinates"],
                    square(5, 5, 6, 6)["coordinates"],
                ],
            },
            (0, 0, 6, 6),
        ),
        (
            {"type": "GeometryCollection", "geometries": [point(-5, 1), square(0, 0, 1, 2)]},
            (-5, 0, 1, 2),
        ),
    ],
)
def test_bbox(geometry: dict[str, Any], box: tuple[float, float, float, float]) -> None:
    assert bbox(geometry) == box


def test_prefilter_bbox_per_georel() -> None:
    for rel in ("within", "contains", "intersects", "equals", "overlaps"):
        assert prefilter_bbox(GeoQuery(rel, QUERY_SQUARE)) == (0, 0, 2, 2)  # type: ignore[arg-type]
    assert prefilter_bbox(GeoQuery("disjoint", QUERY_SQUARE)) is None
    assert prefilter_bbox(GeoQuery("near", point(1, 1), min_distance=10)) is None
    box = prefilter_bbox(GeoQuery("near", point(0, 0), max_distance=M_PER_DEG_LAT))
    assert box == pytest.approx((-1, -1, 1, 1))
    box = prefilter_bbox(GeoQuery("near", point(*TIANJIN), 500.0, 500.0, 100.0))
    assert box is not None
    assert box[3] - TIANJIN[1] == pytest.approx(500 / M_PER_DEG_LAT)
    assert box[2] - TIANJIN[0] == pytest.approx(
        500 / M_PER_DEG_LAT / math.cos(math.radians(TIANJIN[1])), rel=1e-6
    )


def test_prefilter_bbox_near_poles_and_antimeridian_takes_every_longitude() -> None:
    assert prefilter_bbox(GeoQuery("near", point(10, 89.99), max_distance=2000)) == pytest.approx(
        (-180, 89.99 - 2000 / M_PER_DEG_LAT, 180, 90)
    )
    box = prefilter_bbox(GeoQuery("near", point(179.99, 0), max_distance=5000))
    assert box is not None and (box[0], box[2]) == (-180, 180)
    whole = prefilter_bbox(GeoQuery("near", point(0, 0), max_distance=3e7))
    assert whole == (-180, -90, 180, 90)


def in_box(box: tuple[float, float, float, float], geometry: dict[str, Any]) -> bool:
    lon, lat = geometry["coordinates"][:2]
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def wrap(lon: float) -> float:
    return (lon + 180) % 360 - 180


lons = st.floats(-180, 180)
lats = st.floats(-90, 90)
offsets = st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    lon=lons,
    lat=lats,
    max_distance=st.floats(0, 3e6),
    min_distance=st.none() | st.floats(0, 1e6),
    offsets=offsets,
)
def test_prefilter_bbox_holds_every_point_near_matches(
    lon: float,
    lat: float,
    max_distance: float,
    min_distance: float | None,
    offsets: list[tuple[float, float]],
) -> None:
    if min_distance is not None and min_distance > max_distance:
        min_distance = None
    q = GeoQuery("near", point(lon, lat), max_distance=max_distance, min_distance=min_distance)
    box = prefilter_bbox(q)
    assert box is not None
    matches = compile_predicate(q)
    reach = math.degrees(max_distance / EARTH_RADIUS_M)  # offsets in units of the distance
    scale = reach / max(math.cos(math.radians(lat)), 1e-3)
    for dx, dy in offsets:
        target = point(wrap(lon + dx * scale), max(-90.0, min(90.0, lat + dy * reach)))
        if matches(target):
            assert in_box(box, target), (target, box)


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(-179, 179),
    lat=st.floats(-85, 85),
    dx=st.floats(-1, 1),
    dy=st.floats(-1, 1),
    max_distance=st.floats(1, 2e5),
    offsets=offsets,
)
def test_prefilter_bbox_holds_every_point_near_a_line_matches(
    lon: float,
    lat: float,
    dx: float,
    dy: float,
    max_distance: float,
    offsets: list[tuple[float, float]],
) -> None:
    end = [max(-180.0, min(180.0, lon + dx)), lat + dy]
    q = GeoQuery(
        "near", {"type": "LineString", "coordinates": [[lon, lat], end]}, max_distance=max_distance
    )
    box = prefilter_bbox(q)
    assert box is not None
    matches = compile_predicate(q)
    reach = math.degrees(max_distance / EARTH_RADIUS_M)
    scale = reach / max(math.cos(math.radians(lat)), 1e-3)
    for ox, oy in offsets:
        target = point(
            wrap(lon + dx / 2 + ox * scale), max(-90.0, min(90.0, lat + dy / 2 + oy * reach))
        )
        if matches(target):
            assert in_box(box, target), (target, box)


@settings(max_examples=200, deadline=None)
@given(rel=st.sampled_from(RELATIONS), offsets=offsets)
def test_prefilter_bbox_holds_every_point_a_relation_matches(
    rel: str, offsets: list[tuple[float, float]]
) -> None:
    q = GeoQuery(rel, square(117.1, 39.0, 117.3, 39.2))  # type: ignore[arg-type]
    box = prefilter_bbox(q)
    matches = compile_predicate(q)
    for ox, oy in offsets:
        target = point(117.2 + ox / 10, 39.1 + oy / 10)
        if matches(target) and box is not None:
            assert in_box(box, target)
