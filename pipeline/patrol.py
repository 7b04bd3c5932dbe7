"""One patrol end to end: plan → fly (MAVLink) → store raw imagery → ingest → detect → findings.

The vehicle is a simulated ArduCopter at the dock whose camera renders the digital twin, so the
patrol's findings can be scored against the twin's ground truth. With a real autopilot the same
steps run from ``flight.fly`` onward, with photos uploaded by the dock instead of rendered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from dockpatrol.camera import CameraModel
from dockpatrol.errors import FlightError
from missions.types import Dock, NoFlyZone, PatrolArea
from pipeline.jobs import new_id
from pipeline.runner import InProcessRunner, Runner

log = logging.getLogger("dockpatrol.patrol")


@dataclass(frozen=True)
class Sighting:
    """One object the patrol found: the best of the findings that saw it, and how many frames did."""

    class_name: str
    category: str
    score: float
    lon: float
    lat: float
    frames: int
    evidence_key: str | None
    finding_ids: tuple[str, ...]
    matched_truth: str | None = None


@dataclass(frozen=True)
class PatrolRun:
    mission_id: str
    flight_id: str
    area_id: str
    dock_id: str
    flight_summary: str
    ok: bool
    altitude_m: float
    gsd_cm: float
    photos: int
    frames: dict[str, int]
    sightings: tuple[Sighting, ...]
    truth_in_view: tuple[tuple[str, str], ...] = ()  # (object id, class) of twin violations the frames saw
    truth_points: tuple[tuple[str, float, float], ...] = ()  # (class, lon, lat) of the same
    footprints: tuple[dict[str, Any], ...] = ()  # GeoJSON ground footprint of each analysed frame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def missed(self) -> tuple[tuple[str, str], ...]:
        found = {s.matched_truth for s in self.sightings}
        return tuple(t for t in self.truth_in_view if t[0] not in found)


@dataclass(frozen=True)
class PatrolOptions:
    camera: CameraModel = field(default_factory=CameraModel)
    front_overlap: float = 0.2  # detection patrols need coverage, not photogrammetric overlap
    side_overlap: float = 0.2
    speedup: float = 40.0
    card_name: str = "dockpatrol-demo-yolo11n"
    match_radius_m: float = 3.0


def run_patrol(*, area: PatrolArea, dock: Dock, world: Any, at: datetime, no_fly: tuple[NoFlyZone, ...] = (),
               options: PatrolOptions | None = None, runner: Runner | None = None,
               echo: Callable[[str], None] = log.info) -> PatrolRun:
    """Plan, fly and analyse one patrol of ``area`` from ``dock`` at time ``at`` in the twin ``world``."""
    from missions.planfile import plan_to_dict
    from missions.planner import PlanOptions, plan_survey
    from storage.platform import database, object_store
    from storage.repositories import flights

    opts = options or PatrolOptions()
    plan = plan_survey(area, dock=dock, no_fly=no_fly, camera=opts.camera,
                       options=PlanOptions(front_overlap=opts.front_overlap, side_overlap=opts.side_overlap))
    sortie = plan.sorties[0]
    mission_id, flight_id = new_id("M"), new_id("F")
    echo(f"planned {area.id} {area.name}: {plan.kind} at {plan.altitude_m:.0f} m AGL, GSD {plan.gsd_cm:.1f} cm, "
         f"{sortie.frame_count} photos, {sortie.length_m:.0f} m, ~{sortie.duration_s / 60:.1f} min"
         + (f" (sortie 1 of {len(plan.sorties)})" if len(plan.sorties) > 1 else ""))
    db, store = database(), object_store()
    with db.unit_of_work() as session:
        flights.save_mission(session=session, mission_id=mission_id, kind="patrol", status="flying",
                             area_id=area.id, dock_id=dock.id, scheduled_for=at, plan=plan_to_dict(sortie))
        flights.save_flight(session=session, flight_id=flight_id, mission_id=mission_id, dock_id=dock.id,
                            vehicle_url="sim:", status="flying", started_at=at)

    from dockpatrol.settings import get_settings

    media_dir = get_settings().data_dir / "media" / flight_id
    log_dir = get_settings().data_dir / "flights" / flight_id
    report, photos = asyncio.run(_fly(sortie, dock=dock, world=world, at=at, camera=opts.camera,
                                      media_dir=media_dir, log_dir=log_dir, speedup=opts.speedup, echo=echo))
    echo(f"flight: {report.summary()}")
    for name in (report.track_path, report.tlog_path):
        if name is not None and Path(name).is_file():
            store.put(f"flights/{flight_id}/{Path(name).name}", Path(name).read_bytes())
    with db.unit_of_work() as session:
        flights.save_mission(session=session, mission_id=mission_id, status="completed" if report.ok else "failed")
        flights.save_flight(session=session, flight_id=flight_id, status="landed" if report.ok else "failed",
                            result=report.result.value, summary={"text": report.summary(),
                                                                "photos": len(report.captures)},
                            log_key=f"flights/{flight_id}/flight.tlog")
    if not report.ok and not photos:
        raise FlightError(report.result, "patrol", report.summary())

    # Raw imagery is stored before anything analyses it.
    raw_keys = []
    for path in photos:
        key = f"flights/{flight_id}/raw/{path.name}"
        store.put(key, path.read_bytes(), content_type="image/jpeg")
        raw_keys.append(key)
    echo(f"stored {len(raw_keys)} raw photos in the object store")
    runner = runner or InProcessRunner(workers=1)
    ingested = [runner.submit("frames.ingest", flight_id=flight_id, raw_key=k).result(timeout=600)
                for k in raw_keys]
    statuses = Counter(r["status"] for r in ingested)
    stored_ids = _camera_attitude(raw_keys, ingested, report.captures, camera=opts.camera, echo=echo)
    if len(stored_ids) < statuses["stored"]:
        statuses["too_tilted"] = statuses["stored"] - len(stored_ids)
    scenarios = sorted(str(s) for s in area.scenarios)
    echo(f"analysing {len(stored_ids)} frames with {opts.card_name} for {', '.join(scenarios)}")
    for r in (runner.submit("frames.analyse", frame_id=fid, card_name=opts.card_name, scenarios=scenarios,
                            area_id=area.id) for fid in stored_ids):
        r.result(timeout=900)
    statuses = Counter({**statuses, "analysed": len(stored_ids)})
    sightings, truth, footprints = _sightings(flight_id, area=area, world=world, at=at,
                                              radius_m=opts.match_radius_m)
    return PatrolRun(mission_id=mission_id, flight_id=flight_id, area_id=area.id, dock_id=dock.id,
                     flight_summary=report.summary(), ok=report.ok, altitude_m=plan.altitude_m, gsd_cm=plan.gsd_cm,
                     photos=len(photos), frames=dict(statuses), sightings=tuple(sightings),
                     truth_in_view=tuple((obj.id, obj.kind) for obj, _ in truth),
                     truth_points=tuple((obj.kind, pt.x, pt.y) for obj, pt in truth),
                     footprints=tuple(shapely.geometry.mapping(f) for f in footprints), notes=plan.notes)


async def _fly(plan: Any, *, dock: Dock, world: Any, at: datetime, camera: CameraModel, media_dir: Path,
               log_dir: Path, speedup: float, echo: Callable[[str], None]) -> tuple[Any, list[Path]]:
    from flight.executor import FlyOptions, fly
    from flight.vehicle import Vehicle
    from sim.media import TwinCameraCard
    from sim.vehicle import SimVehicle, SimVehicleConfig

    card = TwinCameraCard(world=world, camera=camera, media_dir=media_dir)
    sim = SimVehicle(SimVehicleConfig(home_lon=dock.lon, home_lat=dock.lat, home_alt_amsl_m=dock.alt_m,
                                      speedup=speedup, epoch_utc=at), on_capture=card)
    await sim.start(udp_port=0)
    try:
        vehicle = await Vehicle.connect(sim.udp_url, timeout_s=10.0)
        echo(f"{dock.id}: connected to simulated ArduCopter at {sim.udp_url} (speed-up {speedup:g})")
        try:
            report = await fly(plan, vehicle, options=FlyOptions(), log_dir=log_dir)
        finally:
            await vehicle.close()
    finally:
        await sim.stop()
        photos = await asyncio.to_thread(card.close)
    return report, photos


def _sightings(flight_id: str, *, area: PatrolArea, world: Any, at: datetime,
               radius_m: float) -> tuple[list[Sighting], list[tuple[Any, Any]], list[Any]]:
    """Group the flight's findings into objects and match them to the twin's violations in view."""
    from dockpatrol.camera import GeoPose
    from dockpatrol.geo import LocalProjection
    from storage.platform import database
    from storage.repositories import findings, flights
    from tickets.dedup import cluster_findings
    from vision.georef import FrameGeoref, boxes_to_lonlat_polygons

    with database().unit_of_work() as session:
        rows = findings.findings_of_flight(session=session, flight_id=flight_id)
        frames = [f for f in flights.frames_of_flight(session=session, flight_id=flight_id) if f.status == "analysed"]
        found = [(r.id, r.class_name, r.category, r.score, r.geometry, r.evidence_key) for r in rows]
        footprints = []
        for f in frames:
            cam = CameraModel(**f.camera)
            georef = FrameGeoref.for_pose(cam, GeoPose(f.lon, f.lat, f.altitude_m, f.yaw_deg, f.pitch_deg,
                                                        f.roll_deg))
            footprints.extend(boxes_to_lonlat_polygons(np.array([[0, 0, cam.width_px, cam.height_px]], float),
                                                       georef))
    seen = shapely.union_all(footprints) if footprints else shapely.Polygon()
    projection = LocalProjection(world.projection.epsg)
    truth = []
    for obj in world.violations_at(at):
        lon, lat = projection.to_lonlat(*obj.polygon.centroid.xy)
        if str(_category(obj.kind)) in {str(s) for s in area.scenarios} and seen.contains(
                shapely.Point(float(lon[0]), float(lat[0]))):
            truth.append((obj, shapely.Point(float(lon[0]), float(lat[0]))))
    groups = cluster_findings([g for *_, g, _ in found], [c for _, c, *_ in found], radius_m=radius_m)
    truth_zones = [(obj, obj.polygon.buffer(radius_m)) for obj, _ in truth]
    sightings = []
    for group in groups:
        best = max(group, key=lambda i: found[i][3])
        _, cls, cat, score, geom, evidence = found[best]
        centroid = shape(geom).centroid
        # A sighting is true when any of its views overlaps a twin object of its class (grown by radius_m).
        views = [projection.geometry_to_metric(shape(found[i][4])) for i in group]
        match = next((obj.id for obj, zone in truth_zones
                      if obj.kind == cls and any(zone.intersects(v) for v in views)), None)
        sightings.append(Sighting(cls, cat, round(score, 3), centroid.x, centroid.y, len(group), evidence,
                                  tuple(found[i][0] for i in group), match))
    return sightings, truth, footprints


def _category(kind: str) -> Any:
    from dockpatrol.taxonomy import CATEGORY_OF

    return CATEGORY_OF.get(kind, "")


# ---- the camera's real attitude (issue 10) --------------------------------------------------------------------


def _camera_attitude(raw_keys: list[str], ingested: list[dict[str, Any]], captures: Any, *, camera: CameraModel,
                     echo: Callable[[str], None]) -> list[str]:
    """Frames to analyse. A camera fixed to the airframe takes the vehicle's attitude at each photo (the
    flight's CAMERA_FEEDBACK, matched by photo index = file name); frames tilted beyond use stay stored,
    not analysed, with the reason. A gimbal's own attitude (from the image) is kept as it is."""
    from dockpatrol.camera import CameraMount, GeoPose
    from storage.platform import database
    from storage.repositories import flights
    from vision.georef import place_frame

    stored = [(key, r["frame_id"]) for key, r in zip(raw_keys, ingested, strict=True) if r["status"] == "stored"]
    if camera.mount == CameraMount.GIMBAL:
        return [frame_id for _, frame_id in stored]
    by_index = {c.index: c for c in captures}
    usable = []
    with database().unit_of_work() as session:
        for key, frame_id in stored:
            f = flights.get_frame(session=session, frame_id=frame_id)
            stem = Path(key).stem
            capture = by_index.get(int(stem)) if stem.isdigit() else None
            placed = place_frame(GeoPose(f.lon, f.lat, f.altitude_m, f.yaw_deg, f.pitch_deg, f.roll_deg),
                                 mount=camera.mount, vehicle_roll_deg=capture.roll_deg if capture else None,
                                 vehicle_pitch_deg=capture.pitch_deg if capture else None,
                                 vehicle_yaw_deg=capture.yaw_deg if capture else None)
            flights.save_frame(session=session, frame_id=frame_id, yaw_deg=placed.pose.yaw_deg,
                               pitch_deg=placed.pose.pitch_deg, roll_deg=placed.pose.roll_deg,
                               status="stored" if placed.usable else "too_tilted", error=placed.reason)
            if placed.usable:
                usable.append(frame_id)
    if len(usable) < len(stored):
        echo(f"{len(stored) - len(usable)} of {len(stored)} frames kept but not analysed (camera too far off nadir "
             "or attitude unknown)")
    return usable
