"""`dockpatrol demo`: seed the district, then one end-to-end patrol over the twin, with a report.

The patrol flies over a violation-rich spot of the digital twin (an extra area, A00), from the
nearest dock, on a simulated ArduCopter whose camera renders the twin. A completed demo patrol
is not flown again unless asked, so a second run is fast and idempotent.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from api.demo_district import CENTER_LAT, CENTER_LON, District, seed
from dockpatrol.geo import LocalProjection, haversine_m
from dockpatrol.taxonomy import LABELS_ZH, Category
from missions.types import Dock, PatrolArea

WORLD_SEED = 0
WORLD_SIZE_M = 2000.0
HOTSPOT_AREA_ID = "A00"
HOTSPOT_SIZE_M = (360.0, 270.0)


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
    from pipeline.patrol import PatrolOptions, run_patrol
    from pipeline.report import render_report
    from sim.world import DEMO_OFFSET, World
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
        schedules.upsert(session=session, schedule_id=f"S-{demo.area.id}", area_id=demo.area.id,
                         rule=demo.area.cadence or "FREQ=DAILY", starts_at=world.epoch)
    at = world.epoch + DEMO_OFFSET
    distance = haversine_m(demo.dock.lon, demo.dock.lat, *_centroid(demo.area.polygon))
    console.print(f"patrol {demo.area.id} {demo.area.name} from dock {demo.dock.id} {demo.dock.name} "
                  f"({distance:.0f} m away) at {at.isoformat()}")
    options = PatrolOptions()
    run = run_patrol(area=demo.area, dock=demo.dock, world=world, at=at, options=options, echo=console.print)
    _print_sightings(console, run)
    store = object_store()
    evidence = {s.evidence_key: store.get(s.evidence_key) for s in run.sightings if s.evidence_key}
    report = render_report(run, area_name=demo.area.name, area_geojson=demo.area.polygon, footprints=run.footprints,
                           truth_points=run.truth_points, evidence=evidence, at=at, model=options.card_name)
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"patrol-{run.flight_id}.html"
    path.write_text(report, encoding="utf-8")
    latest.write_text(report, encoding="utf-8")
    console.print(f"report: {path.resolve()}  ({time.perf_counter() - t0:.0f} s for the patrol)")
    return path


def _print_sightings(console: Console, run: Any) -> None:
    true_hits = sum(1 for s in run.sightings if s.matched_truth)
    table = Table(title=f"Findings: {len(run.sightings)} objects ({true_hits} confirmed by twin truth), "
                        f"{len(run.truth_in_view)} twin violations in view, {len(run.missed)} missed")
    for column in ("finding", "score", "frames", "lat, lon", "twin truth"):
        table.add_column(column)
    for s in sorted(run.sightings, key=lambda s: -s.score):
        table.add_row(f"{LABELS_ZH[s.class_name]} {s.class_name}", f"{s.score:.2f}", str(s.frames),
                      f"{s.lat:.6f}, {s.lon:.6f}", "✔ " + s.matched_truth if s.matched_truth else "✘ false alarm")
    for oid, cls in run.missed:
        table.add_row(f"[dim]{LABELS_ZH[cls]} {cls}[/dim]", "-", "-", "-", f"missed ({oid})")
    console.print(table)


def _centroid(polygon: dict[str, Any]) -> tuple[float, float]:
    ring = polygon["coordinates"][0][:-1]
    return (math.fsum(p[0] for p in ring) / len(ring), math.fsum(p[1] for p in ring) / len(ring))


__all__ = ["DemoPatrol", "hotspot_area", "run_demo"]
