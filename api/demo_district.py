"""The demo district: 8 docks, patrol areas, grids, no-fly zones and routing rules around Guicheng.

Everything is generated deterministically from the district centre so the seed is idempotent:
running it again updates the same ids to the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import Category
from missions.types import Dock, Jurisdiction, NoFlyZone, PatrolArea, Priority

CENTER_LON, CENTER_LAT = 113.15, 23.03
STREET_ID = "GC"
SCHEDULE_START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 China Standard Time

# (id, name, east_m, north_m) — positions relative to the centre, spread over the street's ~6 km².
DOCKS: tuple[tuple[str, str, float, float], ...] = (
    ("D1", "千灯湖 Qiandeng Lake", -300.0, 250.0),
    ("D2", "叠滘 Diejiao", -1300.0, -600.0),
    ("D3", "平洲 Pingzhou", 1200.0, -900.0),
    ("D4", "夏西 Xiaxi", 600.0, 900.0),
    ("D5", "三山新城 Sanshan", 1500.0, 1200.0),
    ("D6", "东平河 Dongping River", -800.0, 1300.0),
    ("D7", "映月湖 Yingyue Lake", 200.0, -1400.0),
    ("D8", "石肯 Shiken", -1600.0, 700.0),
)

# (id, name, dock, east_offset_m, north_offset_m, width_m, height_m, scenarios, gsd_cm, rrule)
AREAS: tuple[tuple[str, str, str, float, float, float, float, tuple[Category, ...], float, str], ...] = (
    ("A01", "千灯湖 lakeside village", "D1", 150, -100, 300, 220, (Category.CONSTRUCTION,), 2.5,
     "FREQ=WEEKLY;BYDAY=MO,TH"),
    ("A02", "叠滘 old village roofs", "D2", -120, 80, 260, 260, (Category.CONSTRUCTION,), 2.5, "FREQ=WEEKLY;BYDAY=TU"),
    ("A03", "平洲 industrial park", "D3", 120, 150, 350, 250, (Category.CONSTRUCTION, Category.POLLUTION), 3.0,
     "FREQ=WEEKLY;BYDAY=WE"),
    ("A04", "夏西 river bend", "D4", -200, 100, 400, 180, (Category.POLLUTION,), 3.0, "FREQ=DAILY;INTERVAL=2"),
    ("A05", "三山 new-town sites", "D5", 100, -150, 400, 300, (Category.CONSTRUCTION, Category.POLLUTION), 3.0,
     "FREQ=WEEKLY;BYDAY=MO,FR"),
    ("A06", "东平河 embankment", "D6", 50, 150, 450, 150, (Category.POLLUTION,), 3.0, "FREQ=DAILY"),
    ("A07", "映月湖 park woodland", "D7", -100, -120, 300, 300, (Category.FIRE,), 5.0, "FREQ=DAILY"),
    ("A08", "石肯 hill forest", "D8", -150, 120, 350, 300, (Category.FIRE, Category.POLLUTION), 5.0,
     "FREQ=DAILY"),
    ("A09", "千灯湖 CBD rooftops", "D1", -250, 200, 250, 200, (Category.CONSTRUCTION,), 2.0,
     "FREQ=WEEKLY;BYDAY=SA"),
    ("A10", "平洲 cement plant roads", "D3", -200, -150, 250, 200, (Category.POLLUTION,), 3.0,
     "FREQ=DAILY"),
    ("A11", "夏西 farmland edge", "D4", 250, -100, 300, 300, (Category.FIRE, Category.POLLUTION), 4.0,
     "FREQ=WEEKLY;BYDAY=TU,SA"),
    ("A12", "叠滘 waterway", "D2", 200, -150, 350, 120, (Category.POLLUTION,), 3.0, "FREQ=DAILY;INTERVAL=3"),
)

NO_FLY: tuple[tuple[str, str, float, float, float, str], ...] = (
    ("N1", "桂城医院 helipad", 900.0, -200.0, 120.0, "hospital helipad"),
    ("N2", "南海实验中学 school", -700.0, 200.0, 100.0, "school in session"),
)

GRID_COLS, GRID_ROWS, GRID_CELL_M = 4, 4, 1000.0


@dataclass(frozen=True)
class District:
    docks: tuple[Dock, ...]
    areas: tuple[PatrolArea, ...]
    grids: tuple[Jurisdiction, ...]
    no_fly: tuple[NoFlyZone, ...]
    home_dock: dict[str, str]  # area id → the dock that normally patrols it

    def areas_of(self, dock_id: str) -> list[PatrolArea]:
        return [a for a in self.areas if self.home_dock[a.id] == dock_id]


def _polygon(proj: LocalProjection, xs: list[float], ys: list[float]) -> dict[str, Any]:
    lon, lat = proj.to_lonlat(xs, ys)
    ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]
    return {"type": "Polygon", "coordinates": [ring]}


def _rect(proj: LocalProjection, cx: float, cy: float, w: float, h: float) -> dict[str, Any]:
    xs = [cx - w / 2, cx + w / 2, cx + w / 2, cx - w / 2, cx - w / 2]
    ys = [cy - h / 2, cy - h / 2, cy + h / 2, cy + h / 2, cy - h / 2]
    return _polygon(proj, xs, ys)


def _circle(proj: LocalProjection, cx: float, cy: float, r: float, n: int = 24) -> dict[str, Any]:
    angles = [2 * math.pi * i / n for i in range(n)] + [0.0]
    return _polygon(proj, [cx + r * math.cos(a) for a in angles], [cy + r * math.sin(a) for a in angles])


def build_district(center_lon: float = CENTER_LON, center_lat: float = CENTER_LAT) -> District:
    """The demo district as domain objects (no database involved)."""
    proj = LocalProjection.around(center_lon, center_lat)
    x0, y0 = (float(v) for v in proj.to_metric(center_lon, center_lat))
    docks: list[Dock] = []
    offsets: dict[str, tuple[float, float]] = {}
    for dock_id, name, east, north in DOCKS:
        lon, lat = proj.to_lonlat(x0 + east, y0 + north)
        offsets[dock_id] = (x0 + east, y0 + north)
        docks.append(Dock(id=dock_id, name=name, lon=round(float(lon), 7), lat=round(float(lat), 7), elevation_amsl_m=8.0,
                          vehicle_url="sim:", max_range_m=4000.0, endurance_s=1800.0, charge_s=1500.0))
    grids = []
    for col in range(GRID_COLS):
        for row in range(GRID_ROWS):
            cx = x0 + (col - (GRID_COLS - 1) / 2) * GRID_CELL_M
            cy = y0 + ((GRID_ROWS - 1) / 2 - row) * GRID_CELL_M
            grid_id = f"G-{chr(ord('A') + row)}{col + 1}"
            grids.append(Jurisdiction(id=grid_id, name=f"桂城网格 {grid_id[2:]}", kind="grid", parent_id=STREET_ID,
                                      polygon=_rect(proj, cx, cy, GRID_CELL_M, GRID_CELL_M)))
    areas = []
    for area_id, name, dock_id, dx, dy, w, h, scenarios, gsd_cm, rule in AREAS:
        cx, cy = offsets[dock_id]
        areas.append(PatrolArea(id=area_id, name=name, polygon=_rect(proj, cx + dx, cy + dy, w, h),
                                scenarios=frozenset(scenarios), gsd_cm=gsd_cm, cadence=rule))
    no_fly = tuple(NoFlyZone(id=zid, name=name, polygon=_circle(proj, x0 + e, y0 + n, r), reason=reason)
                   for zid, name, e, n, r, reason in NO_FLY)
    home = {a[0]: a[2] for a in AREAS}
    return District(tuple(docks), tuple(areas), tuple(grids), no_fly, home)


def seed(session: Any, district: District | None = None) -> District:
    """Upsert the demo district into the database (flushes; the caller commits)."""
    from shapely.geometry import shape

    from missions.areas import locate_jurisdiction
    from missions.scheduler import PatrolSchedule
    from storage.repositories import areas, docks, jurisdictions, schedules
    from storage.repositories import tickets as tickets_repo
    from tickets.rules import DEFAULT_RULES_PATH, load_rules_file

    district = district or build_district()
    street = Jurisdiction(id=STREET_ID, name="桂城街道 Guicheng Street", kind="street",
                          polygon=_union(g.polygon for g in district.grids))
    for cell in (street, *district.grids):
        jurisdictions.upsert(session=session, jurisdiction=cell)
    for dock in district.docks:
        docks.upsert(session=session, dock=dock)
    for area in district.areas:
        centroid = shape(area.polygon).centroid
        cell = locate_jurisdiction((street, *district.grids), lon=centroid.x, lat=centroid.y)
        areas.upsert(session=session, area=replace(area, jurisdiction_id=cell.id if cell else None))
        schedules.upsert(session=session, schedule=PatrolSchedule(
            id=f"S-{area.id}", area_id=area.id, rule=area.cadence or "FREQ=WEEKLY", starts_at=SCHEDULE_START,
            priority=Priority.ROUTINE))
    for zone in district.no_fly:
        areas.upsert_no_fly(session=session, zone=zone)
    # The district's routing policy (departments, per-class thresholds, rules) is data: tickets/rulesets/default.yaml.
    tickets_repo.save_ruleset(session=session, source=str(DEFAULT_RULES_PATH), ruleset=load_rules_file(
        DEFAULT_RULES_PATH, known_grids={g.id for g in district.grids}))
    return district


def _union(geometries: Any) -> dict[str, Any]:
    from shapely.geometry import mapping, shape
    from shapely.ops import unary_union

    from storage.geometry import plain_geojson

    return plain_geojson(mapping(unary_union([shape(g) for g in geometries])))
