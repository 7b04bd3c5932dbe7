"""Areas, no-fly zones, jurisdictions and docks from GeoJSON/KML: parsed, validated, refused in one sentence."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import pytest
from shapely.geometry import shape

from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import Category
from missions.areas import (
    JurisdictionGrid,
    area_m2,
    areas_from_features,
    docks_from_json,
    features_from_geojson,
    features_from_kml,
    jurisdictions_from_features,
    load_areas,
    misplacement_hint,
    no_fly_from_features,
    read_features,
    validate_line,
    validate_polygon,
)
from missions.types import DockStatus
from tests.unit.missions.shapes import rectangle

SQUARE = {"type": "Polygon", "coordinates": [[[113.15, 23.03], [113.16, 23.03], [113.16, 23.04], [113.15, 23.04],
                                              [113.15, 23.03]]]}


def fc(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def feat(geometry: dict, **props: object) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_geojson_area_takes_scenario_gsd_cadence_and_jurisdiction() -> None:
    doc = fc(feat(SQUARE, id="A1", name="Lecong village", scenarios=["fire", "pollution"], cadence="0 9 * * *",
                  jurisdiction_id="G-3"))
    [area] = areas_from_features(features_from_geojson(doc))
    assert area.id == "A1" and area.name == "Lecong village"
    assert area.scenarios == {Category.FIRE, Category.POLLUTION}
    assert area.gsd_cm == 3.0  # the finer of fire (5 cm) and pollution (3 cm)
    assert area.cadence == "0 9 * * *" and area.jurisdiction_id == "G-3"
    assert json.loads(json.dumps(area.polygon)) == area.polygon


def test_gsd_property_overrides_the_scenario_default() -> None:
    [area] = areas_from_features(features_from_geojson(fc(feat(SQUARE, name="x", scenarios="fire", gsd_cm=4))))
    assert area.gsd_cm == 4.0


def test_kml_placemarks_with_extended_data(tmp_path: Path) -> None:
    kml = b"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Guicheng</name><Folder><name>areas</name>
<Placemark id="A7"><name>Pingzhou park</name>
<ExtendedData><Data name="scenarios"><value>construction,pollution</value></Data>
<Data name="gsd_cm"><value>2.0</value></Data></ExtendedData>
<Polygon><outerBoundaryIs><LinearRing><coordinates>
113.15,23.03,0 113.16,23.03,0 113.16,23.04,0 113.15,23.04,0 113.15,23.03,0
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Folder></Document></kml>"""
    path = tmp_path / "areas.kml"
    path.write_bytes(kml)
    [area] = load_areas(path)
    assert area.id == "A7" and area.name == "Pingzhou park"
    assert area.scenarios == {Category.CONSTRUCTION, Category.POLLUTION} and area.gsd_cm == 2.0
    assert shape(area.polygon).equals(shape(SQUARE))
    kmz = tmp_path / "areas.kmz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("doc.kml", kml)
    kmz.write_bytes(buf.getvalue())
    assert load_areas(kmz)[0].id == "A7"


def test_kml_self_intersection_is_caught_too() -> None:
    kml = b"""<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>bow</name><Polygon><outerBoundaryIs>
<LinearRing><coordinates>113.15,23.03 113.16,23.04 113.16,23.03 113.15,23.04 113.15,23.03</coordinates>
</LinearRing></outerBoundaryIs></Polygon></Placemark></kml>"""
    with pytest.raises(InvalidInput, match=r"area 'bow': ring self-intersects at \(113\.155"):
        areas_from_features(features_from_kml(kml))


BAD = [
    ("bow-tie", [[[113.15, 23.03], [113.16, 23.04], [113.16, 23.03], [113.15, 23.04], [113.15, 23.03]]],
     r"ring self-intersects at \(113\.15500, 23\.03500\)"),
    ("swapped", [[[23.03, 113.15], [23.04, 113.16], [23.03, 113.16], [23.03, 113.15]]],
     r"coordinates \(23\.03, 113\.15\) are outside WGS84 range — lon/lat order\?"),
    ("open", [[[113.15, 23.03], [113.16, 23.03], [113.16, 23.04], [113.15, 23.04]]],
     r"outer ring is not closed: it starts at \(113\.15000, 23\.03000\) and ends at \(113\.15000, 23\.04000\)"),
    ("projected", [[[500000, 2547000], [500100, 2547000], [500100, 2547100], [500000, 2547000]]],
     r"look like projected metres"),
    ("huge", [[[113.0, 23.0], [113.1, 23.0], [113.1, 23.1], [113.0, 23.0]]], r"area spans 56\.8 km², limit 25 km²"),
    ("speck", [[[113.15, 23.03], [113.15001, 23.03], [113.15001, 23.03001], [113.15, 23.03]]],
     r"below the 100 m² minimum"),
    ("triangle-3", [[[113.15, 23.03], [113.16, 23.03], [113.15, 23.03]]], r"a closed ring needs at least 4"),
    ("not-numbers", [[["a", "b"], [113.16, 23.03], [113.16, 23.04], ["a", "b"]]], r"is not a pair of numbers"),
    ("hole-outside", [[[113.15, 23.03], [113.16, 23.03], [113.16, 23.04], [113.15, 23.04], [113.15, 23.03]],
                      [[113.17, 23.03], [113.171, 23.03], [113.171, 23.031], [113.17, 23.03]]],
     r"a hole lies outside the outer ring at \(113\.17"),
]


@pytest.mark.parametrize(("name", "coords", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_polygons_are_refused_in_one_sentence_naming_the_place(name: str, coords: list, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        validate_polygon({"type": "Polygon", "coordinates": coords}, where=f"area {name!r}")
    text = str(err.value)
    assert text.startswith(f"area {name!r}: ") and "\n" not in text


def test_multipolygon_area_must_be_split_but_no_fly_zone_may_have_parts() -> None:
    a = rectangle(0, 0, 200, 200)["coordinates"]
    b = rectangle(1000, 0, 200, 200)["coordinates"]
    multi = {"type": "MultiPolygon", "coordinates": [a, b]}
    with pytest.raises(InvalidInput, match="MultiPolygon of 2 parts; give each part its own feature"):
        areas_from_features(features_from_geojson(fc(feat(multi, name="two"))))
    zones = no_fly_from_features(features_from_geojson(fc(feat(multi, name="school"))))
    assert [z.id for z in zones] == ["school#1", "school#2"]


def test_point_no_fly_zone_becomes_a_circle_of_its_radius() -> None:
    [zone] = no_fly_from_features(features_from_geojson(fc(feat({"type": "Point", "coordinates": [113.15, 23.03]},
                                                                 name="helipad", radius_m=150, reason="hospital"))))
    assert zone.reason == "hospital"
    assert area_m2(shape(zone.polygon)) == pytest.approx(math.pi * 150**2, rel=0.01)
    with pytest.raises(InvalidInput, match="needs a radius_m"):
        no_fly_from_features(features_from_geojson(fc(feat({"type": "Point", "coordinates": [113.15, 23.03]}))))


def test_jurisdiction_grid_locates_points_and_refuses_overlaps() -> None:
    west = feat(rectangle(-500, 0, 1000, 1000), id="G1", department="enforcement")
    east = feat(rectangle(500, 0, 1000, 1000), id="G2")
    grid = JurisdictionGrid(jurisdictions_from_features(features_from_geojson(fc(west, east))))
    assert grid.locate(*shape(rectangle(-400, 100, 10, 10)).centroid.coords[0]).id == "G1"
    assert grid.locate(*shape(rectangle(400, 100, 10, 10)).centroid.coords[0]).id == "G2"
    assert grid.locate(*shape(rectangle(5000, 0, 10, 10)).centroid.coords[0]) is None
    overlapping = feat(rectangle(300, 0, 1000, 1000), id="G3")
    with pytest.raises(InvalidInput, match=r"jurisdictions 'G1' and 'G3' overlap by [\d,]+ m² near \(113\."):
        jurisdictions_from_features(features_from_geojson(fc(west, overlapping)))


def test_jurisdiction_lookup_prefers_the_smallest_cell_then_the_lowest_id() -> None:
    from missions.areas import locate_jurisdiction
    from missions.types import Jurisdiction

    community = Jurisdiction(id="C", name="C", polygon=rectangle(0, 0, 2000, 2000), kind="community")
    east = Jurisdiction(id="G2", name="G2", polygon=rectangle(500, 0, 1000, 1000), parent_id="C")
    west = Jurisdiction(id="G1", name="G1", polygon=rectangle(-500, 0, 1000, 1000), parent_id="C")
    inside_west = shape(rectangle(-400, 100, 10, 10)).centroid
    shared_corner = shape(west.polygon).intersection(shape(east.polygon)).coords[0]  # a vertex of both cells
    for order in ((community, east, west), (west, east, community)):
        assert locate_jurisdiction(order, lon=inside_west.x, lat=inside_west.y).id == "G1"
        assert locate_jurisdiction(order, lon=shared_corner[0], lat=shared_corner[1]).id == "G1"
    corner = shape(rectangle(900, 900, 10, 10)).centroid
    assert locate_jurisdiction((community, east, west), lon=corner.x, lat=corner.y).id == "C"
    assert locate_jurisdiction((), lon=corner.x, lat=corner.y) is None


@pytest.mark.parametrize(("raw", "message"), [
    ({"id": "D1", "lon": 113.15, "lat": 23.03, "alt_m": 8.0}, "alt_m is ambiguous"),
    ({"id": "D1", "lon": 113.15, "lat": 23.03, "charge_s": 0}, "charge_s must be positive"),
    ({"id": "D1", "lon": 113.15, "lat": 23.03, "elevation_amsl_m": "nan"}, "must be a finite number"),
])
def test_dock_validation_refuses_in_one_sentence(raw: dict, message: str) -> None:
    from missions.areas import dock_from_mapping

    with pytest.raises(InvalidInput, match=message):
        dock_from_mapping(raw, where="dock")


def test_dock_elevation_is_unknown_unless_given() -> None:
    from missions.areas import dock_from_mapping

    assert dock_from_mapping({"id": "D1", "lon": 113.15, "lat": 23.03}, where="d").elevation_amsl_m is None
    assert dock_from_mapping({"id": "D1", "lon": 113.15, "lat": 23.03, "elevation_amsl_m": -2},
                             where="d").elevation_amsl_m == -2.0


def test_line_validation() -> None:
    assert validate_line({"type": "LineString", "coordinates": [[113.15, 23.03], [113.16, 23.03]]}, where="r").length
    with pytest.raises(InvalidInput, match="positions coincide"):
        validate_line({"type": "LineString", "coordinates": [[113.15, 23.03], [113.15, 23.03]]}, where="r")


@pytest.mark.parametrize(("lon", "lat", "hint"), [
    (113.15, -23.03, "latitude -23.03 and the dock's 23.03 differ in sign"),
    (-113.15, 23.03, "east and west mixed up"),
    (23.03, 113.15 - 90, ""),
    (23.03, 11.315, ""),
])
def test_misplacement_hints(lon: float, lat: float, hint: str) -> None:
    got = misplacement_hint(lon, lat, ref_lon=113.15, ref_lat=23.03)
    assert (hint in got) if hint else got == ""


def test_swapped_order_hint_when_both_fit_the_range() -> None:
    assert "look like (lat, lon)" in misplacement_hint(23.03, 13.15, ref_lon=13.15, ref_lat=23.03)


def test_docks_from_json_list_and_geojson() -> None:
    docks = docks_from_json([{"id": "D1", "lon": 113.15, "lat": 23.03, "endurance_s": 1800, "status": "charging"}])
    assert docks[0].endurance_s == 1800 and docks[0].status == DockStatus.CHARGING and docks[0].name == "D1"
    gj = fc(feat({"type": "Point", "coordinates": [113.16, 23.02]}, id="D2", name="Pingzhou", max_range_m=6000))
    [d2] = docks_from_json(gj)
    assert (d2.id, d2.lon, d2.lat, d2.max_range_m) == ("D2", 113.16, 23.02, 6000.0)
    with pytest.raises(InvalidInput, match="status 'asleep' is not one of"):
        docks_from_json([{"id": "D3", "lon": 113.15, "lat": 23.03, "status": "asleep"}])
    with pytest.raises(InvalidInput, match="dock id 'D1' appears twice"):
        docks_from_json([{"id": "D1", "lon": 113.15, "lat": 23.03}] * 2)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "a.geojson"
    bad.write_text("{not json")
    with pytest.raises(InvalidInput, match=r"a\.geojson: not valid JSON"):
        read_features(bad)
    other = tmp_path / "a.shp"
    other.write_text("x")
    with pytest.raises(InvalidInput, match=r"unknown area file type '\.shp'"):
        read_features(other)
    with pytest.raises(InvalidInput, match="no such file"):
        read_features(tmp_path / "missing.kml")
