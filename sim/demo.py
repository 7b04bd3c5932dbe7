"""`dockpatrol demo`: seed the district, then one end-to-end patrol over the twin, with a report.

The patrol flies over a violation-rich spot of the digital twin (an extra area, A00), from the
nearest dock, on a simulated ArduCopter whose camera renders the twin: the production patrol
(``pipeline.patrol.run_patrol``) with the twin plugged into its vehicle and media seams, and its
findings scored against the twin's ground truth. A completed demo patrol is not flown again unless
asked, so a second run is fast and idempotent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from api.demo_district import CENTER_LAT, CENTER_LON, District, seed
from dockpatrol.camera import CameraModel
from dockpatrol.geo import LocalProjection, haversine_m
from dockpatrol.taxonomy import CATEGORY_OF, LABELS_ZH, Category
from missions.types import Dock, PatrolArea
from pipeline.patrol import PatrolRun
from pipeline.report import TruthCheck
from sim.media import TwinCameraCard
from sim.world import World

WORLD_SEED = 0
WORLD_SIZE_M = 2000.0
HOTSPOT_AREA_ID = "A00"
HOTSPOT_SIZE_M = (360.0, 270.0)
#: simulated seconds per wall-clock second
SPEEDUP = 40.0


class TwinVehicle:
    """The twin in the patrol's two seams: a simulated ArduCopter at the dock (a :class:`VehicleLink`)
    whose camera renders ``world`` into ``media_dir`` (a :class:`MediaSource`)."""

    def __init__(self, *, world: World, camera: CameraModel, media_dir: Path, speedup: float = SPEEDUP) -> None:
        self.card = TwinCameraCard(world=world, camera=camera, media_dir=media_dir)
        self.speedup = speedup

    @asynccontextmanager
    async def __call__(self, dock: Dock, *, at: datetime) -> AsyncIterator[str]:
        from sim.vehicle import SimVehicle, SimVehicleConfig

        home: dict[str, float] = {}
        if dock.elevation_amsl_m is not None:
            home["home_alt_amsl_m"] = dock.elevation_amsl_m
        sim = SimVehicle(SimVehicleConfig(home_lon=dock.lon, home_lat=dock.lat, speedup=self.speedup, epoch_utc=at,
                                          **home), on_capture=self.card)
        await sim.start(udp_port=0)
        try:
            yield sim.udp_url
        finally:
            await sim.stop()

    @property
    def directory(self) -> Path:
        return self.card.media_dir

    def ready(self) -> list[Path]:
        return sorted(self.card.written)

    def collect(self) -> list[Path]:
        return self.card.close()


@lru_cache(maxsize=2)
def demo_world(seed: int = WORLD_SEED) -> World:
    """The demo district's twin (generated once per process)."""
    return World.generate(seed=seed, center_lon=CENTER_LON, center_lat=CENTER_LAT, size_m=WORLD_SIZE_M)


def twin_vehicle_for(dock: Dock, flight_id: str, speedup: float | None) -> tuple[TwinVehicle, TwinVehicle]:
    """The patrol service's ``sim:`` vehicles: a simulated ArduCopter at the dock over the demo twin."""
    from dockpatrol.settings import get_settings

    twin = TwinVehicle(world=demo_world(), camera=dock.camera, media_dir=get_settings().data_dir / "media" / flight_id,
                       speedup=speedup or SPEEDUP)
    return twin, twin


def install_twin_vehicles() -> None:
    """Let the patrol service fly ``sim:`` docks over the demo twin (the CLI plugin does the same lazily)."""
    from pipeline.vehicles import VEHICLE_PROVIDERS

    VEHICLE_PROVIDERS.setdefault("sim", twin_vehicle_for)


def score_against_twin(run: PatrolRun, *, world: World, area: PatrolArea, at: datetime,
                       radius_m: float) -> TruthCheck:
    """Match the patrol's sightings with the twin's violations that its photos saw.

    A truth object is in view when its centroid lies in the union of the analysed frames' footprints
    and its class belongs to the area's scenarios. A sighting is true when any of its views overlaps
    an object of its class grown by ``radius_m``.
    """
    import shapely
    from shapely.geometry import shape

    seen = shapely.union_all([shape(f) for f in run.footprints]) if run.footprints else shapely.Polygon()
    projection = LocalProjection(world.projection.epsg)
    wanted = {str(s) for s in area.scenarios}
    truth = []
    for obj in world.violations_at(at):
        lon, lat = projection.to_lonlat(*obj.polygon.centroid.xy)
        point = shapely.Point(float(lon[0]), float(lat[0]))
        if str(CATEGORY_OF.get(obj.kind, "")) in wanted and seen.contains(point):
            truth.append((obj, point))
    zones = [(obj, obj.polygon.buffer(radius_m)) for obj, _ in truth]
    matched: dict[str, str] = {}
    for s in run.sightings:
        views = [projection.geometry_to_metric(shape(v)) for v in s.views]
        match = next((obj.id for obj, zone in zones if obj.kind == s.class_name
                      and any(zone.intersects(v) for v in views)), None)
        if match is not None and s.finding_ids:
            matched[s.finding_ids[0]] = match
    found = set(matched.values())
    return TruthCheck(source="twin", matched=matched,
                      points=tuple((obj.kind, pt.x, pt.y) for obj, pt in truth),
                      missed=tuple((obj.id, obj.kind) for obj, _ in truth if obj.id not in found))


@dataclass(frozen=True)
class DemoPatrol:
    area: PatrolArea
    dock: Dock


def hotspot_area(world: Any, district: District) -> DemoPatrol:
    """A patrol area over the twin's most violation-rich spot, flown by the nearest dock."""
    lon, lat = world.hotspots(limit=1)[0]
    return area_around(lon, lat, district, area_id=HOTSPOT_AREA_ID, size_m=HOTSPOT_SIZE_M)


def area_around(lon: float, lat: float, district: District, *, area_id: str, size_m: tuple[float, float],
                docks: tuple[Dock, ...] | None = None) -> DemoPatrol:
    """A ``size_m`` (east, north) rectangle centred on (lon, lat), flown by the nearest of ``docks``."""
    proj = LocalProjection.around(lon, lat)
    x, y = (float(v) for v in proj.to_metric(lon, lat))
    w, h = size_m
    xs = [x - w / 2, x + w / 2, x + w / 2, x - w / 2, x - w / 2]
    ys = [y - h / 2, y - h / 2, y + h / 2, y + h / 2, y - h / 2]
    lons, lats = proj.to_lonlat(xs, ys)
    polygon = {"type": "Polygon", "coordinates": [[[round(float(a), 7), round(float(b), 7)]
                                                   for a, b in zip(lons, lats, strict=True)]]}
    area = PatrolArea(id=area_id, name=f"重点巡查区 twin hotspot {area_id}", polygon=polygon,
                      scenarios=frozenset(Category), gsd_cm=3.0, cadence="FREQ=DAILY")
    dock = min(docks or district.docks, key=lambda d: haversine_m(d.lon, d.lat, lon, lat))
    return DemoPatrol(area, dock)


def run_demo(*, patrol: bool = True, again: bool = False, quick: bool = False,
             console: Console | None = None) -> Path | None:
    """Seed, print the fleet, and (unless ``patrol`` is False) run the demo patrol day and report it."""
    from storage.platform import database

    console = console or Console()
    started = time.perf_counter()
    db = database()
    with db.unit_of_work() as session:
        district = seed(session)
    _print_fleet(console, district)
    console.print(f"database: {db.engine.url.render_as_string(hide_password=True)}  "
                  f"({time.perf_counter() - started:.2f} s)")
    if not patrol:
        return None
    from sim.demo_day import run_patrol_day

    return run_patrol_day(console, district, again=again, quick=quick)


def _print_fleet(console: Console, district: District) -> None:
    table = Table(title=f"Demo district: {len(district.docks)} docks, {len(district.areas)} patrol areas, "
                        f"{len(district.grids)} grids, {len(district.no_fly)} no-fly zones")
    for column in ("dock", "name", "lon", "lat", "areas", "scenarios"):
        table.add_column(column)
    for dock in district.docks:
        mine = district.areas_of(dock.id)
        scenarios = sorted({str(s) for a in mine for s in a.scenarios})
        table.add_row(dock.id, dock.name, f"{dock.lon:.5f}", f"{dock.lat:.5f}", " ".join(a.id for a in mine),
                      " ".join(LABELS_ZH[s] for s in scenarios))
    console.print(table)


__all__ = ["DemoPatrol", "TwinVehicle", "area_around", "demo_world", "hotspot_area", "install_twin_vehicles", "run_demo",
           "score_against_twin", "twin_vehicle_for"]
