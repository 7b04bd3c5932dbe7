"""Operator geography from GeoJSON or KML: patrol areas, no-fly zones, jurisdiction grids and docks.

Everything is validated on the way in (WGS84 range, closed rings, no self-intersection, size
bounds) and every refusal names the problem and the place, so an operator can fix the file.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping

from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection, haversine_m
from dockpatrol.taxonomy import Category, parse_category
from missions.types import Dock, DockStatus, Jurisdiction, NoFlyZone, PatrolArea, target_gsd_cm

MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class AreaLimits:
    """Size bounds for one kind of polygon; they catch unit and typing mistakes as much as abuse."""

    max_area_km2: float = 25.0
    min_area_m2: float = 100.0
    max_vertices: int = 5000


PATROL_LIMITS = AreaLimits()
NO_FLY_LIMITS = AreaLimits(max_area_km2=2000.0, min_area_m2=1.0)
JURISDICTION_LIMITS = AreaLimits(max_area_km2=2000.0, min_area_m2=100.0, max_vertices=50_000)
MAX_CORRIDOR_KM = 50.0


@dataclass(frozen=True)
class GeoFeature:
    """One feature read from a file: GeoJSON geometry (lon/lat), properties, and a label for messages."""

    geometry: dict[str, Any]
    properties: dict[str, Any]
    id: str | None
    name: str | None
    index: int

    @property
    def label(self) -> str:
        """How messages name this feature: its name or id, else its position in the file."""
        if self.name:
            return repr(self.name)
        if self.id:
            return repr(self.id)
        return f"#{self.index + 1}"


def fmt_lonlat(lon: float, lat: float) -> str:
    """A position as messages print it: (lon, lat), GeoJSON order, ~1 m precision."""
    return f"({lon:.5f}, {lat:.5f})"


# --- reading files -------------------------------------------------------------------------------


def read_features(path: str | Path) -> list[GeoFeature]:
    """Features of a .geojson/.json, .kml or .kmz file; raises InvalidInput naming the file on failure."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p}: no such file")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidInput(f"{p}: {size / 1e6:.1f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit for area files")
    data = p.read_bytes()
    suffix = p.suffix.lower()
    try:
        if suffix == ".kml":
            return features_from_kml(data)
        if suffix == ".kmz":
            return features_from_kml(_kml_from_kmz(data))
        if suffix in (".geojson", ".json"):
            return features_from_geojson(_json_loads(data))
    except InvalidInput as exc:
        raise InvalidInput(f"{p}: {exc}") from None
    raise InvalidInput(f"{p}: unknown area file type {suffix!r}; use .geojson, .json, .kml or .kmz")


def _json_loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not valid JSON ({exc})") from None


def _kml_from_kmz(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".kml")]
            if not names:
                raise InvalidInput("KMZ archive holds no .kml document")
            main = "doc.kml" if "doc.kml" in names else names[0]
            info = zf.getinfo(main)
            if info.file_size > MAX_FILE_BYTES:
                raise InvalidInput(f"KML inside the KMZ is {info.file_size / 1e6:.1f} MB, over the limit")
            return zf.read(main)
    except zipfile.BadZipFile:
        raise InvalidInput("not a valid KMZ (zip) archive") from None


def features_from_geojson(doc: Any) -> list[GeoFeature]:
    """Features of a GeoJSON FeatureCollection, Feature or bare geometry (pure)."""
    if not isinstance(doc, Mapping) or "type" not in doc:
        raise InvalidInput("not a GeoJSON object (no 'type' member)")
    kind = doc["type"]
    if kind == "FeatureCollection":
        raw = doc.get("features")
        if not isinstance(raw, list):
            raise InvalidInput("FeatureCollection has no 'features' list")
    elif kind == "Feature":
        raw = [doc]
    else:
        raw = [{"type": "Feature", "geometry": doc, "properties": {}}]
    out = []
    for i, feat in enumerate(raw):
        if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
            raise InvalidInput(f"feature #{i + 1} is not a GeoJSON Feature")
        geom = feat.get("geometry")
        if not isinstance(geom, Mapping) or "type" not in geom:
            raise InvalidInput(f"feature #{i + 1} has no geometry")
        props = dict(feat.get("properties") or {})
        fid = feat.get("id", props.get("id"))
        name = props.get("name")
        out.append(GeoFeature(dict(geom), props, None if fid is None else str(fid),
                              None if name is None else str(name), i))
    if not out:
        raise InvalidInput("the file holds no features")
    return out


def features_from_kml(data: bytes) -> list[GeoFeature]:
    """Placemarks of a KML document with their geometry and ExtendedData, read with fastkml (pure)."""
    from fastkml import kml
    from fastkml.features import Placemark
    from lxml import etree

    try:
        doc = kml.KML.from_string(data, strict=False)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise InvalidInput(f"not a readable KML document ({exc})") from None
    placemarks: list[Placemark] = []

    def walk(container: Any) -> None:
        for feat in getattr(container, "features", None) or []:
            if isinstance(feat, Placemark):
                placemarks.append(feat)
            else:
                walk(feat)

    walk(doc)
    out = []
    for i, pm in enumerate(placemarks):
        geom = pm.geometry
        if geom is None:
            raise InvalidInput(f"placemark #{i + 1} ({pm.name or 'unnamed'}) has no geometry")
        gi = _strip_z(dict(geom.__geo_interface__))
        gi.pop("bbox", None)
        props: dict[str, Any] = {}
        ext = pm.extended_data
        for el in getattr(ext, "elements", None) or []:
            if getattr(el, "name", None) is not None and hasattr(el, "value"):
                props[el.name] = el.value
            for sd in getattr(el, "data", None) or []:
                props[sd.name] = sd.value
        if pm.name:
            props.setdefault("name", pm.name)
        fid = props.get("id") or (pm.id or None)
        out.append(GeoFeature(gi, props, None if fid is None else str(fid), pm.name or None, i))
    if not out:
        raise InvalidInput("the KML document holds no placemarks")
    return out


def _strip_z(geom: dict[str, Any]) -> dict[str, Any]:
    """GeoJSON-like dict with tuples turned into lists and any altitude dropped."""
    def fix(c: Any) -> Any:
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            return [float(c[0]), float(c[1])] if len(c) >= 2 else list(c)
        if isinstance(c, (list, tuple)):
            return [fix(x) for x in c]
        return c

    if geom.get("type") == "GeometryCollection":
        parts = [_strip_z(dict(g)) for g in geom.get("geometries", ())]
        if parts and all(p["type"] == "Polygon" for p in parts):
            return {"type": "MultiPolygon", "coordinates": [p["coordinates"] for p in parts]}
        return {"type": "GeometryCollection", "geometries": parts}
    return {"type": geom["type"], "coordinates": fix(geom.get("coordinates"))}


# --- validation ----------------------------------------------------------------------------------


def check_position(pos: Any, *, where: str) -> tuple[float, float]:
    """(lon, lat) of one GeoJSON position, refusing non-numbers, swapped order and projected metres."""
    if not isinstance(pos, (list, tuple)) or len(pos) < 2:
        raise InvalidInput(f"{where}: position {pos!r} is not a [lon, lat] pair")
    try:
        lon, lat = float(pos[0]), float(pos[1])
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: position {pos!r} is not a pair of numbers") from None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(f"{where}: position {pos!r} is not finite")
    if abs(lon) > 1000 or abs(lat) > 1000:
        raise InvalidInput(
            f"{where}: coordinates ({lon:.1f}, {lat:.1f}) look like projected metres (UTM or a local grid), "
            "not WGS84 degrees — export the file as WGS84 (EPSG:4326)"
        )
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        if abs(lat) > 90 >= abs(lon):
            raise InvalidInput(
                f"{where}: coordinates ({lon:g}, {lat:g}) are outside WGS84 range — lon/lat order? "
                "GeoJSON wants [lon, lat]"
            )
        bad = "lon" if not -180.0 <= lon <= 180.0 else "lat"
        raise InvalidInput(f"{where}: coordinates ({lon:g}, {lat:g}) are outside WGS84 range "
                           f"({bad} out of lon -180..180, lat -90..90)")
    return lon, lat


def _ring(raw: Any, *, where: str, what: str) -> list[tuple[float, float]]:
    if not isinstance(raw, (list, tuple)):
        raise InvalidInput(f"{where}: {what} is not a list of positions")
    pts = [check_position(p, where=where) for p in raw]
    if len(pts) < 4:
        raise InvalidInput(f"{where}: {what} has {len(pts)} positions; a closed ring needs at least 4")
    if pts[0] != pts[-1]:
        raise InvalidInput(
            f"{where}: {what} is not closed: it starts at {fmt_lonlat(*pts[0])} and ends at "
            f"{fmt_lonlat(*pts[-1])}"
        )
    return pts


_REASON_AT = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>[-+\d.eE]+)\s+(?P<y>[-+\d.eE]+)\]$")
_REASON_TEXT = {
    "self-intersection": "ring self-intersects",
    "ring self-intersection": "ring self-intersects",
    "hole lies outside shell": "a hole lies outside the outer ring",
    "interior is disconnected": "holes cut the polygon into pieces",
    "nested holes": "a hole lies inside another hole",
    "nested shells": "one outer ring lies inside another",
    "duplicate rings": "two rings are identical",
    "too few points": "a ring has too few distinct points",
}


def _explain_invalid(geom: Polygon | MultiPolygon) -> str:
    reason = shapely.is_valid_reason(geom)
    m = _REASON_AT.match(reason)
    if not m:
        return reason.lower()
    what = m.group("what").strip().lower()
    text = _REASON_TEXT.get(what, what)
    return f"{text} at {fmt_lonlat(float(m.group('x')), float(m.group('y')))}"


def geojson(geom: Any) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON dict with lists (JSON round trips compare equal)."""
    def lists(c: Any) -> Any:
        return [lists(x) for x in c] if isinstance(c, (list, tuple)) else c

    m = mapping(geom)
    return {"type": m["type"], "coordinates": lists(m["coordinates"])}


def area_m2(geom: Polygon | MultiPolygon) -> float:
    """Area in square metres, measured in the UTM zone of the geometry's centre."""
    c = geom.centroid
    proj = LocalProjection.around(c.x, c.y)
    return float(to_metric(geom, proj).area)


def to_metric(geom: Any, proj: LocalProjection) -> Any:
    """A lon/lat shapely geometry in ``proj``'s metres (one vectorised transform)."""
    return proj.geometry_to_metric(geom)


def to_lonlat(geom: Any, proj: LocalProjection) -> Any:
    """A metric shapely geometry back in lon/lat."""
    return proj.geometry_to_lonlat(geom)


def validate_polygon(
    geometry: Mapping[str, Any], *, where: str, limits: AreaLimits = PATROL_LIMITS, allow_multi: bool = False
) -> Polygon | MultiPolygon:
    """A validated shapely (Multi)Polygon in lon/lat from a GeoJSON geometry, or InvalidInput saying why."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        polys_raw = [coords]
    elif kind == "MultiPolygon" and allow_multi:
        if not isinstance(coords, (list, tuple)) or not coords:
            raise InvalidInput(f"{where}: MultiPolygon has no polygons")
        polys_raw = coords
    elif kind == "MultiPolygon":
        n = len(coords) if isinstance(coords, (list, tuple)) else 0
        if n == 1:
            polys_raw = coords
        else:
            raise InvalidInput(
                f"{where}: is a MultiPolygon of {n} parts; give each part its own feature so each gets its own plan"
            )
    else:
        want = "Polygon or MultiPolygon" if allow_multi else "Polygon"
        raise InvalidInput(f"{where}: expected a {want}, got {kind}")
    polys = []
    n_vertices = 0
    for pi, rings in enumerate(polys_raw):
        if not isinstance(rings, (list, tuple)) or not rings:
            raise InvalidInput(f"{where}: polygon has no rings")
        pre = f"polygon {pi + 1} " if len(polys_raw) > 1 else ""
        shell = _ring(rings[0], where=where, what=f"{pre}outer ring")
        holes = [_ring(r, where=where, what=f"{pre}hole {hi + 1}") for hi, r in enumerate(rings[1:])]
        n_vertices += len(shell) + sum(len(h) for h in holes)
        if n_vertices > limits.max_vertices:
            raise InvalidInput(f"{where}: more than {limits.max_vertices} vertices; simplify the outline")
        polys.append(Polygon(shell, holes))
    geom: Polygon | MultiPolygon = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    minx, miny, maxx, maxy = geom.bounds
    if maxx - minx > 180.0:
        raise InvalidInput(f"{where}: crosses the antimeridian (lon {minx:g} to {maxx:g}); split it at 180°")
    if not geom.is_valid:
        raise InvalidInput(f"{where}: {_explain_invalid(geom)}")
    if maxx - minx > 6.0 or maxy - miny > 6.0:
        # far bigger than any limit here; measuring it in one UTM zone would be meaningless
        raise InvalidInput(f"{where}: spans {maxx - minx:.1f}° × {maxy - miny:.1f}°, far beyond any patrol size")
    a = area_m2(geom)
    if a > limits.max_area_km2 * 1e6:
        raise InvalidInput(f"{where}: area spans {a / 1e6:.1f} km², limit {limits.max_area_km2:g} km²")
    if a < limits.min_area_m2:
        raise InvalidInput(
            f"{where}: area spans {a:.1f} m², below the {limits.min_area_m2:g} m² minimum — are the coordinates "
            "in degrees?"
        )
    return geom


def validate_line(geometry: Mapping[str, Any], *, where: str, max_km: float = MAX_CORRIDOR_KM) -> LineString:
    """A validated LineString (corridor centreline: river, road) in lon/lat."""
    if geometry.get("type") != "LineString":
        raise InvalidInput(f"{where}: expected a LineString, got {geometry.get('type')}")
    coords = geometry.get("coordinates")
    if not isinstance(coords, (list, tuple)) or len(coords) < 2:
        raise InvalidInput(f"{where}: a line needs at least 2 positions")
    pts = [check_position(p, where=where) for p in coords]
    length = sum(haversine_m(*a, *b) for a, b in itertools.pairwise(pts))
    if length < 1.0:
        raise InvalidInput(f"{where}: line is {length:.2f} m long; its positions coincide")
    if length > max_km * 1000:
        raise InvalidInput(f"{where}: line is {length / 1000:.1f} km long, limit {max_km:g} km")
    return LineString(pts)


def validate_point(geometry: Mapping[str, Any], *, where: str) -> Point:
    """A validated Point in lon/lat."""
    if geometry.get("type") != "Point":
        raise InvalidInput(f"{where}: expected a Point, got {geometry.get('type')}")
    return Point(check_position(geometry.get("coordinates"), where=where))


def misplacement_hint(lon: float, lat: float, *, ref_lon: float, ref_lat: float, near_m: float = 100_000) -> str:
    """Why (lon, lat) may be far from a reference (a dock): flipped sign or swapped order; '' if none fits."""
    candidates = (
        ((lon, -lat), f"its latitude {lat:g} and the dock's {ref_lat:g} differ in sign — is one of them in the "
                      "wrong hemisphere?"),
        ((-lon, lat), f"its longitude {lon:g} and the dock's {ref_lon:g} differ in sign — east and west mixed up?"),
        ((lat, lon), "its coordinates look like (lat, lon) — GeoJSON wants [lon, lat]"),
        ((-lon, -lat), "its coordinates and the dock's differ in sign — is one of them in the wrong hemisphere?"),
    )
    for (x, y), hint in candidates:
        if -180 <= x <= 180 and -90 <= y <= 90 and haversine_m(x, y, ref_lon, ref_lat) <= near_m:
            return hint
    return ""


# --- domain objects ------------------------------------------------------------------------------


def parse_scenarios(value: Any, *, where: str, default: frozenset[Category]) -> frozenset[Category]:
    """Scenarios from a list or comma-separated names; ``default`` when absent."""
    if value is None or value == "" or value == []:
        return default
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise InvalidInput(f"{where}: scenarios must be a list or comma-separated names, got {value!r}")
    try:
        return frozenset(parse_category(str(v)) for v in items)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def positive_property(props: Mapping[str, Any], key: str, *, where: str) -> float | None:
    """A positive number property, None when absent; InvalidInput naming the key otherwise."""
    if props.get(key) in (None, ""):
        return None
    try:
        v = float(props[key])
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: {key} must be a number, got {props[key]!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise InvalidInput(f"{where}: {key} must be positive, got {props[key]!r}")
    return v


def area_from_feature(
    feat: GeoFeature, *, default_scenarios: frozenset[Category] = frozenset({Category.CONSTRUCTION}),
    limits: AreaLimits = PATROL_LIMITS,
) -> PatrolArea:
    """A validated PatrolArea from a Polygon feature; its gsd_cm is the feature's or the scenarios' target."""
    where = f"area {feat.label}"
    poly = validate_polygon(feat.geometry, where=where, limits=limits)
    scen = parse_scenarios(feat.properties.get("scenarios"), where=where, default=default_scenarios)
    gsd = positive_property(feat.properties, "gsd_cm", where=where) or target_gsd_cm(scen)
    cadence = feat.properties.get("cadence")
    jid = feat.properties.get("jurisdiction_id")
    area_id = feat.id or feat.name or f"area-{feat.index + 1}"
    return PatrolArea(
        id=area_id, name=feat.name or area_id, polygon=geojson(poly), scenarios=scen, gsd_cm=gsd,
        cadence=None if cadence in (None, "") else str(cadence), jurisdiction_id=None if jid is None else str(jid),
    )


def areas_from_features(
    features: Iterable[GeoFeature], *, default_scenarios: frozenset[Category] = frozenset({Category.CONSTRUCTION})
) -> list[PatrolArea]:
    """Patrol areas of every Polygon feature; ids must be unique."""
    areas = [area_from_feature(f, default_scenarios=default_scenarios) for f in features]
    _unique_ids([a.id for a in areas], what="area")
    return areas


def load_areas(path: str | Path, **kwargs: Any) -> list[PatrolArea]:
    """Patrol areas from a GeoJSON or KML file."""
    return areas_from_features(read_features(path), **kwargs)


def _unique_ids(ids: Sequence[str], *, what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InvalidInput(f"{what} id {i!r} appears twice; ids must be unique")
        seen.add(i)


def circle_polygon(lon: float, lat: float, radius_m: float, *, segments: int = 64) -> Polygon:
    """A circle of radius_m around (lon, lat) as a lon/lat polygon (drawn in the local UTM zone)."""
    proj = LocalProjection.around(lon, lat)
    x, y = proj.to_metric(lon, lat)
    disc = Point(float(x), float(y)).buffer(radius_m, quad_segs=max(segments // 4, 2))
    return to_lonlat(disc, proj)


def no_fly_from_features(features: Iterable[GeoFeature]) -> list[NoFlyZone]:
    """No-fly zones from Polygon, MultiPolygon (one zone per part) or Point+radius_m features."""
    zones = []
    for feat in features:
        where = f"no-fly zone {feat.label}"
        zid = feat.id or feat.name or f"nfz-{feat.index + 1}"
        reason = str(feat.properties.get("reason", ""))
        if feat.geometry.get("type") == "Point":
            radius = positive_property(feat.properties, "radius_m", where=where)
            if radius is None:
                raise InvalidInput(f"{where}: a Point zone needs a radius_m property")
            centre = validate_point(feat.geometry, where=where)
            geoms: list[Polygon] = [circle_polygon(centre.x, centre.y, radius)]
        else:
            g = validate_polygon(feat.geometry, where=where, limits=NO_FLY_LIMITS, allow_multi=True)
            geoms = list(g.geoms) if isinstance(g, MultiPolygon) else [g]
        for k, poly in enumerate(geoms):
            suffix = f"#{k + 1}" if len(geoms) > 1 else ""
            zones.append(NoFlyZone(id=zid + suffix, name=(feat.name or zid) + suffix, polygon=geojson(poly),
                                   reason=reason))
    _unique_ids([z.id for z in zones], what="no-fly zone")
    return zones


def load_no_fly_zones(path: str | Path) -> list[NoFlyZone]:
    """No-fly zones from a GeoJSON or KML file."""
    return no_fly_from_features(read_features(path))


def jurisdictions_from_features(features: Iterable[GeoFeature]) -> list[Jurisdiction]:
    """Jurisdiction grid cells from (Multi)Polygon features; cells may touch but not overlap."""
    cells = []
    for feat in features:
        where = f"jurisdiction {feat.label}"
        g = validate_polygon(feat.geometry, where=where, limits=JURISDICTION_LIMITS, allow_multi=True)
        jid = feat.id or feat.name or f"grid-{feat.index + 1}"
        dept = feat.properties.get("department")
        cells.append(Jurisdiction(id=jid, name=feat.name or jid, polygon=geojson(g),
                                  department=None if dept is None else str(dept)))
    _unique_ids([c.id for c in cells], what="jurisdiction")
    JurisdictionGrid(cells)  # refuses overlapping cells
    return cells


def load_jurisdictions(path: str | Path) -> list[Jurisdiction]:
    """A jurisdiction grid from a GeoJSON or KML file."""
    return jurisdictions_from_features(read_features(path))


class JurisdictionGrid:
    """Point-in-cell lookup over a jurisdiction grid (STR-tree); refuses cells that overlap."""

    #: Overlap tolerated between neighbouring cells digitised by hand (slivers along shared borders).
    OVERLAP_TOLERANCE_M2 = 50.0

    def __init__(self, cells: Sequence[Jurisdiction]) -> None:
        self.cells = tuple(cells)
        self._geoms = [shapely.geometry.shape(c.polygon) for c in self.cells]
        self._tree = shapely.STRtree(self._geoms)
        for i, g in enumerate(self._geoms):
            for j in self._tree.query(g, predicate="intersects"):
                if j <= i:
                    continue
                inter = g.intersection(self._geoms[j])
                if inter.is_empty or inter.area == 0:
                    continue
                overlap = area_m2(inter) if inter.geom_type in ("Polygon", "MultiPolygon") else 0.0
                if overlap > self.OVERLAP_TOLERANCE_M2:
                    p = inter.representative_point()
                    raise InvalidInput(
                        f"jurisdictions {self.cells[i].id!r} and {self.cells[int(j)].id!r} overlap by "
                        f"{overlap:,.0f} m² near {fmt_lonlat(p.x, p.y)}; a place must belong to one cell"
                    )

    def locate(self, lon: float, lat: float) -> Jurisdiction | None:
        """The cell containing (lon, lat), or None outside the grid (ties as :func:`locate_jurisdiction`)."""
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return locate_jurisdiction([self.cells[int(i)] for i in hits], lon=lon, lat=lat)


def locate_jurisdiction(cells: Iterable[Jurisdiction], *, lon: float, lat: float) -> Jurisdiction | None:
    """The jurisdiction a point belongs to: among the cells covering it (border included), the smallest,
    so a grid wins over the community that contains it; between equal areas (a point on the border of
    two neighbouring cells) the lowest id, so the answer never depends on the order cells were stored."""
    point = Point(lon, lat)
    covering = [c for c in cells if shapely.geometry.shape(c.polygon).covers(point)]
    if not covering:
        return None
    areas = {c.id: area_m2(shapely.geometry.shape(c.polygon)) for c in covering}
    smallest = min(areas.values())
    # Neighbours laid out as equal differ by the rounding of their vertices: within 0.1 % counts as equal.
    return min((c for c in covering if areas[c.id] <= smallest * 1.001), key=lambda c: c.id)


# --- docks ---------------------------------------------------------------------------------------

_DOCK_NUMBERS = ("elevation_amsl_m", "max_range_m", "endurance_s", "charge_s", "cruise_speed_m_s")


def dock_from_mapping(raw: Mapping[str, Any], *, where: str) -> Dock:
    """A validated Dock from a JSON object (fields as in Dock): the one dock check, for files and the API."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: expected an object")
    did = raw.get("id")
    if not did:
        raise InvalidInput(f"{where}: has no id")
    where = f"dock {did!r}"
    try:
        lon, lat = float(raw["lon"]), float(raw["lat"])
    except KeyError as exc:
        raise InvalidInput(f"{where}: missing {exc.args[0]}") from None
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: lon/lat must be numbers") from None
    check_position([lon, lat], where=where)
    if "alt_m" in raw:
        raise InvalidInput(f"{where}: alt_m is ambiguous; give the dock's ground height as elevation_amsl_m "
                           "(metres above mean sea level)")
    kwargs: dict[str, Any] = {}
    for key in _DOCK_NUMBERS:
        if raw.get(key) is not None:
            try:
                kwargs[key] = float(raw[key])
            except (TypeError, ValueError):
                raise InvalidInput(f"{where}: {key} must be a number, got {raw[key]!r}") from None
            if not math.isfinite(kwargs[key]):
                raise InvalidInput(f"{where}: {key} must be a finite number, got {raw[key]!r}")
            if key != "elevation_amsl_m" and not kwargs[key] > 0:
                raise InvalidInput(f"{where}: {key} must be positive, got {raw[key]!r}")
    if raw.get("status") is not None:
        try:
            kwargs["status"] = DockStatus(str(raw["status"]).lower())
        except ValueError:
            choices = ", ".join(s.value for s in DockStatus)
            raise InvalidInput(f"{where}: status {raw['status']!r} is not one of {choices}") from None
    if raw.get("vehicle_url"):
        kwargs["vehicle_url"] = str(raw["vehicle_url"])
    return Dock(id=str(did), name=str(raw.get("name") or did), lon=lon, lat=lat, **kwargs)


def docks_from_json(doc: Any) -> list[Dock]:
    """Docks from a JSON list, ``{"docks": [...]}``, or a GeoJSON FeatureCollection of Points."""
    if isinstance(doc, Mapping) and doc.get("type") in ("FeatureCollection", "Feature"):
        raws = []
        for f in features_from_geojson(doc):
            pt = validate_point(f.geometry, where=f"dock {f.label}")
            raws.append({**f.properties, "id": f.id or f.properties.get("id"), "lon": pt.x, "lat": pt.y})
    elif isinstance(doc, Mapping) and isinstance(doc.get("docks"), list):
        raws = doc["docks"]
    elif isinstance(doc, list):
        raws = doc
    else:
        raise InvalidInput("docks file must be a JSON list of docks, {\"docks\": [...]}, or GeoJSON Points")
    docks = [dock_from_mapping(r, where=f"dock #{i + 1}") for i, r in enumerate(raws)]
    _unique_ids([d.id for d in docks], what="dock")
    if not docks:
        raise InvalidInput("docks file holds no docks")
    return docks


def load_docks(path: str | Path) -> list[Dock]:
    """Docks from a JSON or GeoJSON file."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p}: no such file")
    try:
        return docks_from_json(_json_loads(p.read_bytes()))
    except InvalidInput as exc:
        raise InvalidInput(f"{p}: {exc}") from None
