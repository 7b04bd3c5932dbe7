"""One patrol end to end: plan → fly (MAVLink) → store raw imagery → ingest → detect → findings.

The patrol does not know what it flies. A :class:`VehicleLink` gives it a MAVLink URL for the
flight (by default the dock's own ``vehicle_url``, a real autopilot) and a :class:`MediaSource`
hands over the photos once the vehicle has landed (by default a folder the dock's media sync
fills). The digital twin plugs a simulated vehicle and its rendering camera into the same two
seams (``sim.demo``), and scores the result against its ground truth there.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import shape

from dockpatrol.camera import CameraModel
from dockpatrol.errors import ConfigError, FlightError, InvalidInput
from flight.types import Flight, FlightStatus
from missions.types import Dock, Mission, MissionStatus, NoFlyZone, PatrolArea
from pipeline.jobs import new_id
from pipeline.runner import InProcessRunner, Runner
from vision.types import FrameStatus

log = logging.getLogger("dockpatrol.patrol")

#: A dock whose vehicle is the built-in simulator (the twin stands in for the drone).
SIM_VEHICLE_URL = "sim:"
PHOTO_SUFFIXES = (".jpg", ".jpeg")


class VehicleLink(Protocol):
    """How a patrol reaches a dock's vehicle: a MAVLink URL that stays valid while the context is open."""

    def __call__(self, dock: Dock, *, at: datetime) -> AbstractAsyncContextManager[str]: ...


class MediaSource(Protocol):
    """Where a flight's photos come from once it has landed: files, in capture order."""

    def collect(self) -> list[Path]: ...


@asynccontextmanager
async def dock_vehicle(dock: Dock, *, at: datetime) -> AsyncIterator[str]:
    """The dock's own autopilot at ``dock.vehicle_url``."""
    del at  # a real vehicle flies on the wall clock
    if dock.vehicle_url == SIM_VEHICLE_URL:
        raise ConfigError(f"dock {dock.id}'s vehicle is the built-in simulator ({SIM_VEHICLE_URL}); "
                          "fly it over the digital twin with `dockpatrol demo`")
    yield dock.vehicle_url


@dataclass(frozen=True)
class FolderMedia:
    """Photos the dock copies into ``directory`` (its media sync target) during or after the flight."""

    directory: Path

    def collect(self) -> list[Path]:
        if not self.directory.is_dir():
            raise InvalidInput(f"media folder {self.directory} does not exist")
        return sorted(p for p in self.directory.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


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
    #: the GeoJSON ground polygon of every finding in the group, best first
    views: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class PatrolRun:
    """What one patrol produced: ids of its records, the flight's outcome, frame counts and sightings."""

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
    footprints: tuple[dict[str, Any], ...] = ()  # GeoJSON ground footprint of each analysed frame
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PatrolOptions:
    camera: CameraModel = field(default_factory=CameraModel)
    front_overlap: float = 0.2  # detection patrols need coverage, not photogrammetric overlap
    side_overlap: float = 0.2
    card_name: str = "dockpatrol-demo-yolo11n"
    match_radius_m: float = 3.0


def run_patrol(*, area: PatrolArea, dock: Dock, at: datetime, media: MediaSource,
               vehicle: VehicleLink = dock_vehicle, no_fly: tuple[NoFlyZone, ...] = (),
               options: PatrolOptions | None = None, runner: Runner | None = None, flight_id: str | None = None,
               echo: Callable[[str], None] = log.info) -> PatrolRun:
    """Plan, fly and analyse one patrol of ``area`` from ``dock`` starting at ``at``."""
    from missions.planfile import plan_to_dict
    from missions.planner import PlanOptions, plan_survey
    from storage.platform import database, object_store
    from storage.repositories import flights

    opts = options or PatrolOptions()
    plan = plan_survey(area, dock=dock, no_fly=no_fly, camera=opts.camera,
                       options=PlanOptions(front_overlap=opts.front_overlap, side_overlap=opts.side_overlap))
    sortie = plan.sorties[0]
    mission_id, flight_id = new_id("M"), flight_id or new_id("F")
    echo(f"planned {area.id} {area.name}: {plan.kind} at {plan.altitude_m:.0f} m AGL, GSD {plan.gsd_cm:.1f} cm, "
         f"{sortie.frame_count} photos, {sortie.length_m:.0f} m, ~{sortie.duration_s / 60:.1f} min"
         + (f" (sortie 1 of {len(plan.sorties)})" if len(plan.sorties) > 1 else ""))
    db, store = database(), object_store()
    with db.unit_of_work() as session:
        flights.save_mission(session=session, mission=Mission(
            id=mission_id, kind="patrol", status=MissionStatus.FLYING, area_id=area.id, dock_id=dock.id,
            scheduled_for=at, plan=plan_to_dict(sortie)))
        flights.save_flight(session=session, flight=Flight(
            id=flight_id, mission_id=mission_id, dock_id=dock.id, vehicle_url=dock.vehicle_url,
            status=FlightStatus.FLYING, started_at=at))

    from dockpatrol.settings import get_settings

    log_dir = get_settings().data_dir / "flights" / flight_id
    report, photos = asyncio.run(_fly(sortie, dock=dock, at=at, vehicle=vehicle, media=media, log_dir=log_dir,
                                      echo=echo))
    echo(f"flight: {report.summary()}")
    for name in (report.track_path, report.tlog_path):
        if name is not None and Path(name).is_file():
            store.put(f"flights/{flight_id}/{Path(name).name}", Path(name).read_bytes())
    with db.unit_of_work() as session:
        flights.set_mission_status(session=session, mission_id=mission_id,
                                   status=MissionStatus.COMPLETED if report.ok else MissionStatus.FAILED)
        flights.finish_flight(session=session, flight_id=flight_id,
                              status=FlightStatus.LANDED if report.ok else FlightStatus.FAILED,
                              result=report.result.value, ended_at=None,
                              summary={"text": report.summary(), "photos": len(report.captures)},
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
    if len(stored_ids) < statuses[FrameStatus.STORED]:
        statuses[str(FrameStatus.TOO_TILTED)] = statuses[FrameStatus.STORED] - len(stored_ids)
    scenarios = sorted(str(s) for s in area.scenarios)
    echo(f"analysing {len(stored_ids)} frames with {opts.card_name} for {', '.join(scenarios)}")
    for r in (runner.submit("frames.analyse", frame_id=fid, card_name=opts.card_name, scenarios=scenarios,
                            area_id=area.id) for fid in stored_ids):
        r.result(timeout=900)
    statuses = Counter({**statuses, str(FrameStatus.ANALYSED): len(stored_ids)})
    sightings, footprints = sightings_of_flight(flight_id, radius_m=opts.match_radius_m)

    # Change detection: a completed patrol is compared with the area's previous one, in the background.
    from pipeline.compare import submit_after_patrol

    if report.ok:
        submit_after_patrol(runner=runner, area_id=area.id, flight_id=flight_id)

    return PatrolRun(mission_id=mission_id, flight_id=flight_id, area_id=area.id, dock_id=dock.id,
                     flight_summary=report.summary(), ok=report.ok, altitude_m=plan.altitude_m, gsd_cm=plan.gsd_cm,
                     photos=len(photos), frames=dict(statuses), sightings=tuple(sightings),
                     footprints=tuple(shapely.geometry.mapping(f) for f in footprints), notes=plan.notes)


async def _fly(plan: Any, *, dock: Dock, at: datetime, vehicle: VehicleLink, media: MediaSource, log_dir: Path,
               echo: Callable[[str], None]) -> tuple[Any, list[Path]]:
    from flight.executor import FlyOptions, fly
    from flight.vehicle import Vehicle

    async with vehicle(dock, at=at) as url:
        link = await Vehicle.connect(url, timeout_s=10.0)
        echo(f"{dock.id}: connected to the vehicle at {url}")
        try:
            report = await fly(plan, link, options=FlyOptions(), log_dir=log_dir)
        finally:
            await link.close()
    photos = await asyncio.to_thread(media.collect)
    return report, photos


def sightings_of_flight(flight_id: str, *, radius_m: float) -> tuple[list[Sighting], list[Any]]:
    """Group the flight's findings into objects (same class within ``radius_m``) and the analysed frames'
    ground footprints (lon/lat shapely polygons)."""
    from storage.platform import database
    from storage.repositories import findings, flights
    from tickets.dedup import cluster_findings
    from vision.georef import FrameGeoref, boxes_to_lonlat_polygons

    with database().unit_of_work() as session:
        found = findings.findings_of_flight(session=session, flight_id=flight_id)
        frames = flights.frames_of_flight(session=session, flight_id=flight_id, status=FrameStatus.ANALYSED)
    footprints = []
    for frame in frames:
        pose = frame.pose()
        if pose is None or frame.camera is None:
            continue
        cam = frame.camera
        footprints.extend(boxes_to_lonlat_polygons(np.array([[0, 0, cam.width_px, cam.height_px]], float),
                                                   FrameGeoref.for_pose(cam, pose)))
    groups = cluster_findings([f.finding.geometry for f in found], [f.finding.class_name for f in found],
                              radius_m=radius_m)
    sightings = []
    for group in groups:
        ranked = sorted(group, key=lambda i: -found[i].finding.score)
        best = found[ranked[0]].finding
        centroid = shape(best.geometry).centroid
        sightings.append(Sighting(best.class_name, str(best.category), round(best.score, 3), centroid.x, centroid.y,
                                  len(group), best.evidence_key, tuple(found[i].id for i in group),
                                  tuple(found[i].finding.geometry for i in ranked)))
    return sightings, footprints


# ---- the camera's real attitude (issue 10) --------------------------------------------------------------------


def _camera_attitude(raw_keys: list[str], ingested: list[dict[str, Any]], captures: Any, *, camera: CameraModel,
                     echo: Callable[[str], None]) -> list[str]:
    """Frames to analyse. A camera fixed to the airframe takes the vehicle's attitude at each photo (the
    flight's CAMERA_FEEDBACK, matched by photo index = file name); frames tilted beyond use stay stored,
    not analysed, with the reason. A gimbal's own attitude (from the image) is kept as it is."""
    import dataclasses

    from dockpatrol.camera import CameraMount
    from storage.platform import database
    from storage.repositories import flights
    from vision.georef import place_frame

    stored = [(key, r["frame_id"]) for key, r in zip(raw_keys, ingested, strict=True)
              if r["status"] == FrameStatus.STORED]
    if camera.mount == CameraMount.GIMBAL:
        return [frame_id for _, frame_id in stored]
    by_index = {c.index: c for c in captures}
    usable = []
    with database().unit_of_work() as session:
        for key, frame_id in stored:
            frame = flights.require_frame(session=session, frame_id=frame_id)
            pose = frame.pose()
            if pose is None:
                continue
            stem = Path(key).stem
            capture = by_index.get(int(stem)) if stem.isdigit() else None
            placed = place_frame(pose, mount=camera.mount, vehicle_roll_deg=capture.roll_deg if capture else None,
                                 vehicle_pitch_deg=capture.pitch_deg if capture else None,
                                 vehicle_yaw_deg=capture.yaw_deg if capture else None)
            flights.save_frame(session=session, frame=dataclasses.replace(
                frame, yaw_deg=placed.pose.yaw_deg, pitch_deg=placed.pose.pitch_deg, roll_deg=placed.pose.roll_deg,
                status=FrameStatus.STORED if placed.usable else FrameStatus.TOO_TILTED, error=placed.reason))
            if placed.usable:
                usable.append(frame_id)
    if len(usable) < len(stored):
        echo(f"{len(stored) - len(usable)} of {len(stored)} frames kept but not analysed (camera too far off nadir "
             "or attitude unknown)")
    return usable
