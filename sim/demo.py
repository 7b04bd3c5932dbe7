"""`dockpatrol demo`: seed the district, then one end-to-end patrol over the twin, with a report.

The patrol flies over a violation-rich spot of the digital twin (an extra area, A00), from the
nearest dock, on a simulated ArduCopter whose camera renders the twin: the production patrol
(``pipeline.patrol.run_patrol``) with the twin plugged into its vehicle and media seams, and its
findings scored against the twin's ground truth. A completed demo patrol is not flown again unless
asked, so a second run is fast and idempotent.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from api.demo_district import CENTER_LAT, CENTER_LON, District, seed
from dockpatrol.camera import CameraModel
from dockpatrol.geo import LocalProjection, haversine_m
from dockpatrol.taxonomy import CATEGORY_OF, LABELS_ZH, Category
from missions.scheduler import PatrolSchedule
from missions.types import Dock, PatrolArea, Priority
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

    def collect(self) -> list[Path]:
        return self.card.close()


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
    proj = LocalProjection.around(lon, lat)
    x, y = (float(v) for v in proj.to_metric(lon, lat))
    w, h = HOTSPOT_SIZE_M
    xs = [x - w / 2, x + w / 2, x + w / 2, x - w / 2, x - w / 2]
    ys = [y - h / 2, y - h / 2, y + h / 2, y + h / 2, y - h / 2]
    lons, lats = proj.to_lonlat(xs, ys)
    polygon = {"type": "Polygon", "coordinates": [[[round(float(a), 7), round(float(b), 7)]
                                                   for a, b in zip(lons, lats, strict=True)]]}
    area = PatrolArea(id=HOTSPOT_AREA_ID, name="重点巡查区 twin hotspot", polygon=polygon,
                      scenarios=frozenset(Category), gsd_cm=3.0, cadence="FREQ=DAILY")
    dock = min(district.docks, key=lambda d: haversine_m(d.lon, d.lat, lon, lat))
    return DemoPatrol(area, dock)


def run_demo(*, patrol: bool = True, again: bool = False, console: Console | None = None) -> Path | None:
    """Seed, print the fleet, and (unless ``patrol`` is False) fly and report the demo patrol."""
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
    return _patrol(console, district, again=again)


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


def _patrol(console: Console, district: District, *, again: bool) -> Path:
    from dockpatrol.settings import get_settings
    from pipeline.jobs import new_id
    from pipeline.patrol import PatrolOptions, run_patrol
    from pipeline.report import render_report
    from sim.world import DEMO_OFFSET
    from storage.platform import database, object_store
    from storage.repositories import areas, schedules

    reports = get_settings().data_dir / "reports"
    latest = reports / "demo-patrol.html"
    if latest.is_file() and not again:
        console.print(f"demo patrol already flown; report: {latest.resolve()}  (dockpatrol demo --again to fly it again)")
        return latest
    t0 = time.perf_counter()
    console.print(f"building the digital twin (seed {WORLD_SEED}, {WORLD_SIZE_M / 1000:.0f} km square)…")
    world = World.generate(seed=WORLD_SEED, center_lon=CENTER_LON, center_lat=CENTER_LAT, size_m=WORLD_SIZE_M)
    demo = hotspot_area(world, district)
    with database().unit_of_work() as session:
        areas.upsert(session=session, area=demo.area)
        schedules.upsert(session=session, schedule=PatrolSchedule(
            id=f"S-{demo.area.id}", area_id=demo.area.id, rule=demo.area.cadence or "FREQ=DAILY",
            starts_at=world.epoch, priority=Priority.ROUTINE))
    at = world.epoch + DEMO_OFFSET
    distance = haversine_m(demo.dock.lon, demo.dock.lat, *_centroid(demo.area.polygon))
    console.print(f"patrol {demo.area.id} {demo.area.name} from dock {demo.dock.id} {demo.dock.name} "
                  f"({distance:.0f} m away) at {at.isoformat()}")
    options = PatrolOptions()
    flight_id = new_id("F")
    twin = TwinVehicle(world=world, camera=options.camera,
                       media_dir=get_settings().data_dir / "media" / flight_id)
    console.print(f"{demo.dock.id}: the dock's vehicle is a simulated ArduCopter (speed-up {twin.speedup:g})")
    run = run_patrol(area=demo.area, dock=demo.dock, at=at, vehicle=twin, media=twin, options=options,
                     flight_id=flight_id, echo=console.print)
    truth = score_against_twin(run, world=world, area=demo.area, at=at, radius_m=options.match_radius_m)
    _print_sightings(console, run, truth)
    store = object_store()
    evidence = {s.evidence_key: store.get(s.evidence_key) for s in run.sightings if s.evidence_key}
    report = render_report(run, area_name=demo.area.name, area_geojson=demo.area.polygon, footprints=run.footprints,
                           evidence=evidence, at=at, model=options.card_name, truth=truth)
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"patrol-{run.flight_id}.html"
    path.write_text(report, encoding="utf-8")
    latest.write_text(report, encoding="utf-8")
    console.print(f"report: {path.resolve()}  ({time.perf_counter() - t0:.0f} s for the patrol)")
    return path


def _print_sightings(console: Console, run: PatrolRun, truth: TruthCheck) -> None:
    true_hits = sum(1 for s in run.sightings if truth.match_of(s))
    table = Table(title=f"Findings: {len(run.sightings)} objects ({true_hits} confirmed by twin truth), "
                        f"{len(truth.points)} twin violations in view, {len(truth.missed)} missed")
    for column in ("finding", "score", "frames", "lat, lon", "twin truth"):
        table.add_column(column)
    for s in sorted(run.sightings, key=lambda s: -s.score):
        match = truth.match_of(s)
        table.add_row(f"{LABELS_ZH[s.class_name]} {s.class_name}", f"{s.score:.2f}", str(s.frames),
                      f"{s.lat:.6f}, {s.lon:.6f}", "✔ " + match if match else "✘ false alarm")
    for oid, cls in truth.missed:
        table.add_row(f"[dim]{LABELS_ZH[cls]} {cls}[/dim]", "-", "-", "-", f"missed ({oid})")
    console.print(table)


def _centroid(polygon: dict[str, Any]) -> tuple[float, float]:
    ring = polygon["coordinates"][0][:-1]
    return (math.fsum(p[0] for p in ring) / len(ring), math.fsum(p[1] for p in ring) / len(ring))


__all__ = ["DemoPatrol", "TwinVehicle", "hotspot_area", "run_demo", "score_against_twin"]
