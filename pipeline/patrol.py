"""One patrol end to end: plan → fly (MAVLink) → store raw imagery → ingest → detect → findings.

The patrol does not know what it flies. A :class:`VehicleLink` gives it a MAVLink URL for the
flight (by default the dock's own ``vehicle_url``, a real autopilot) and a :class:`MediaSource`
hands over the photos once the vehicle has landed (by default a folder the dock's media sync
fills). The digital twin plugs a simulated vehicle and its rendering camera into the same two
seams (``sim.demo``), and scores the result against its ground truth there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import shape

from dockpatrol.camera import CameraModel, CameraMount
from dockpatrol.errors import ConfigError, FlightError, InvalidInput
from flight.types import Flight, FlightStatus
from missions.planner import PlanOptions
from missions.types import Dock, Mission, MissionStatus, NoFlyZone, PatrolArea, Priority
from pipeline.frames import FrameFeed, FrameJob, MediaSource, owner_tag, photos_in
from pipeline.jobs import new_id
from pipeline.ledger import JobFailed, Ledger, job_key
from pipeline.runner import InProcessRunner, Runner
from vision.types import Finding, FrameStatus

log = logging.getLogger("dockpatrol.patrol")

#: A dock whose vehicle is the built-in simulator (the twin stands in for the drone).
SIM_VEHICLE_URL = "sim:"
#: wall seconds between looks for new photos when no camera feedback arrives (a card that syncs late)
FEED_POLL_S = 1.0
#: wall seconds between looks at the abort flag
ABORT_POLL_S = 0.25


class VehicleLink(Protocol):
    """How a patrol reaches a dock's vehicle: a MAVLink URL that stays valid while the context is open."""

    def __call__(self, dock: Dock, *, at: datetime) -> AbstractAsyncContextManager[str]: ...


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

    def ready(self) -> list[Path]:
        return photos_in(self.directory)

    def collect(self) -> list[Path]:
        if not self.directory.is_dir():
            raise InvalidInput(f"media folder {self.directory} does not exist")
        return photos_in(self.directory)


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
    #: how the frames went through the pipeline while the vehicle flew: counts and capture latency
    pipeline: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PatrolOptions:
    camera: CameraModel = field(default_factory=CameraModel)
    front_overlap: float = 0.2  # detection patrols need coverage, not photogrammetric overlap
    side_overlap: float = 0.2
    card_name: str = "dockpatrol-demo-yolo11n"
    match_radius_m: float = 3.0

    def plan_options(self) -> PlanOptions:
        """How these patrols are planned; the scheduler sizes their sorties with the same options."""
        return PlanOptions(front_overlap=self.front_overlap, side_overlap=self.side_overlap)


def run_patrol(*, area: PatrolArea, dock: Dock, at: datetime, media: MediaSource,
               vehicle: VehicleLink = dock_vehicle, no_fly: tuple[NoFlyZone, ...] = (),
               options: PatrolOptions | None = None, runner: Runner | None = None, flight_id: str | None = None,
               mission_id: str | None = None, priority: Priority = Priority.ROUTINE,
               abort: threading.Event | None = None, on_event: Callable[[Any], None] | None = None,
               ledger: Ledger | None = None, echo: Callable[[str], None] = log.info, sortie: int = 1) -> PatrolRun:
    """Plan, fly and analyse sortie ``sortie`` of a patrol of ``area`` from ``dock`` starting at ``at``.

    An area one battery cannot cover is planned as several sorties; each is its own mission and flight
    (the scheduler gives each a slot after the dock has recharged), recorded with its number.

    Photos are stored and analysed while the vehicle flies (:class:`pipeline.frames.FrameFeed`); the
    mission is ``analysing`` after landing and ``completed`` only once every photo is analysed
    (:func:`pipeline.recovery.reconcile`). Setting ``abort`` returns the vehicle to its dock.
    """
    from missions.planfile import plan_to_dict
    from missions.planner import plan_survey
    from storage.platform import database, object_store
    from storage.repositories import flights

    opts = options or PatrolOptions()
    plan = plan_survey(area, dock=dock, no_fly=no_fly, camera=opts.camera,
                       options=opts.plan_options())
    if not 1 <= sortie <= len(plan.sorties):
        raise InvalidInput(f"{area.id} is now planned as {len(plan.sorties)} sortie(s), so sortie {sortie} does not "
                           "exist (the area, the dock or its battery changed since it was scheduled)")
    flown = plan.sorties[sortie - 1]
    mission_id, flight_id = mission_id or new_id("M"), flight_id or new_id("F")
    echo(f"planned {area.id} {area.name}: {plan.kind} at {plan.altitude_m:.0f} m AGL, GSD {plan.gsd_cm:.1f} cm, "
         f"{flown.frame_count} photos, {flown.length_m:.0f} m, ~{flown.duration_s / 60:.1f} min"
         + (f" (sortie {sortie} of {len(plan.sorties)})" if len(plan.sorties) > 1 else ""))
    scenarios = tuple(sorted(str(s) for s in area.scenarios))
    context = {"media_dir": str(media.directory), "card_name": opts.card_name, "scenarios": list(scenarios),
               "owner": owner_tag(), "camera_mount": str(opts.camera.mount), "sortie": sortie,
               "sorties": len(plan.sorties)}
    db, store = database(), object_store()
    with db.unit_of_work() as session:
        flights.save_mission(session=session, mission=Mission(
            id=mission_id, kind="patrol", status=MissionStatus.FLYING, area_id=area.id, dock_id=dock.id,
            scheduled_for=at, priority=priority, plan=plan_to_dict(flown)))
        flights.save_flight(session=session, flight=Flight(
            id=flight_id, mission_id=mission_id, dock_id=dock.id, vehicle_url=dock.vehicle_url,
            status=FlightStatus.FLYING, started_at=at, summary=context))

    from dockpatrol.settings import get_settings

    ledger = ledger or Ledger(runner=runner or InProcessRunner(workers=1))
    # a camera fixed to the airframe needs the vehicle's attitude at each photo, known once it has landed
    in_air = opts.camera.mount == CameraMount.GIMBAL
    feed = FrameFeed(work=FrameJob(flight_id=flight_id, card_name=opts.card_name, scenarios=scenarios,
                                   area_id=area.id, analyse=in_air), media=media, ledger=ledger, echo=echo)
    log_dir = get_settings().data_dir / "flights" / flight_id
    try:
        report, photos = asyncio.run(_fly(flown, dock=dock, at=at, vehicle=vehicle, media=media, log_dir=log_dir,
                                          feed=feed, abort=abort, on_event=on_event, echo=echo))
    except Exception as exc:  # the flight never got going: say why in its record, then let the caller know
        feed.finish([])
        with db.unit_of_work() as session:
            flights.finish_flight(session=session, flight_id=flight_id, status=FlightStatus.FAILED,
                                  result=getattr(getattr(exc, "result", None), "value", type(exc).__name__),
                                  ended_at=None, summary={**context, "text": str(exc)}, log_key=None)
            mission = flights.require_mission(session=session, mission_id=mission_id)
            flights.save_mission(session=session, mission=replace(mission, status=MissionStatus.FAILED,
                                                                  reason=f"could not fly: {exc}"))
        raise
    echo(f"flight: {report.summary()}")
    for name in (report.track_path, report.tlog_path):
        if name is not None and Path(name).is_file():
            store.put(f"flights/{flight_id}/{Path(name).name}", Path(name).read_bytes())
    with db.unit_of_work() as session:
        flights.set_mission_status(session=session, mission_id=mission_id, status=MissionStatus.ANALYSING)
        flights.finish_flight(session=session, flight_id=flight_id,
                              status=FlightStatus.LANDED if report.ok else FlightStatus.FAILED,
                              result=report.result.value, ended_at=None,
                              summary={**context, "text": report.summary(), "photos": len(report.captures)},
                              log_key=f"flights/{flight_id}/flight.tlog")
    stats = feed.finish(photos)
    place_by_vehicle_attitude(flight_id, report.captures, camera=opts.camera, echo=echo)
    with db.unit_of_work() as session:
        flight = flights.require_flight(session=session, flight_id=flight_id)
        flights.finish_flight(session=session, flight_id=flight_id, status=flight.status, result=flight.result,
                              ended_at=flight.ended_at, log_key=flight.log_key,
                              summary={**flight.summary, "attitude_placed": True})
    echo(f"stored {stats.stored} raw photos in the object store"
         + (f" ({stats.spooled} spooled while it was unreachable)" if stats.spooled else "")
         + f"; {stats.analysed} analysed as they arrived")
    notes = list(plan.notes)
    try:
        ledger.run("patrol.reconcile", key=job_key("patrol.reconcile", flight_id), flight_id=flight_id)
    except JobFailed as exc:  # the mission stays analysing or failed, with the reason; recovery finishes it
        notes.append(f"analysis not complete: {exc}")
        echo(f"warning: {exc}")
    with db.unit_of_work() as session:
        flight = flights.require_flight(session=session, flight_id=flight_id)
        flights.finish_flight(session=session, flight_id=flight_id, status=flight.status, result=flight.result,
                              ended_at=flight.ended_at, log_key=flight.log_key,
                              summary={**flight.summary, "pipeline": stats.as_dict()})
        statuses = Counter(str(f.status) for f in flights.frames_of_flight(session=session, flight_id=flight_id))
    if not report.ok and not photos:
        raise FlightError(report.result, "patrol", report.summary())
    sightings, footprints = sightings_of_flight(flight_id, radius_m=opts.match_radius_m)

    return PatrolRun(mission_id=mission_id, flight_id=flight_id, area_id=area.id, dock_id=dock.id,
                     flight_summary=report.summary(), ok=report.ok, altitude_m=plan.altitude_m, gsd_cm=plan.gsd_cm,
                     photos=len(photos), frames=dict(statuses), sightings=tuple(sightings),
                     footprints=tuple(shapely.geometry.mapping(f) for f in footprints), notes=tuple(notes),
                     pipeline=stats.as_dict())


async def _fly(plan: Any, *, dock: Dock, at: datetime, vehicle: VehicleLink, media: MediaSource, log_dir: Path,
               feed: FrameFeed, abort: threading.Event | None, on_event: Callable[[Any], None] | None,
               echo: Callable[[str], None]) -> tuple[Any, list[Path]]:
    from flight.executor import EventKind, FlightEvent, FlyOptions, fly
    from flight.vehicle import Vehicle

    wake = asyncio.Event()
    stop_abort = asyncio.Event()

    def event(ev: FlightEvent) -> None:
        if ev.kind is EventKind.CAPTURE:
            feed.captured(int(ev.detail.rsplit(" ", 1)[-1]) if ev.detail.rsplit(" ", 1)[-1].isdigit() else -1)
            wake.set()
        if on_event is not None:
            on_event(ev)

    async def frames_while_flying() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=FEED_POLL_S)
            wake.clear()
            await asyncio.to_thread(feed.poll)

    async def watch_abort(flag: asyncio.Event) -> None:
        while abort is not None and not abort.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_abort.wait(), timeout=ABORT_POLL_S)
            if stop_abort.is_set():
                return
        echo(f"{dock.id}: abort requested; the vehicle returns to the dock")
        flag.set()

    async with vehicle(dock, at=at) as url:
        link = await Vehicle.connect(url, timeout_s=10.0)
        echo(f"{dock.id}: connected to the vehicle at {url}")
        abort_flag = asyncio.Event()
        tasks = [asyncio.create_task(frames_while_flying())]
        if abort is not None:
            tasks.append(asyncio.create_task(watch_abort(abort_flag)))
        try:
            report = await fly(plan, link, options=FlyOptions(), log_dir=log_dir, abort=abort_flag, on_event=event)
        finally:
            stop_abort.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await link.close()
    photos = await asyncio.to_thread(media.collect)
    return report, photos


def objects_of(findings: Sequence[Finding], *, radius_m: float) -> list[list[int]]:
    """Indices of ``findings`` grouped into objects (same class within ``radius_m``), each group surest first."""
    from tickets.dedup import cluster_findings

    groups = cluster_findings([f.geometry for f in findings], [f.class_name for f in findings], radius_m=radius_m)
    return [sorted(group, key=lambda i: -findings[i].score) for group in groups]


def sightings_of_flight(flight_id: str, *, radius_m: float) -> tuple[list[Sighting], list[Any]]:
    """Group the flight's findings into objects (same class within ``radius_m``) and the analysed frames'
    ground footprints (lon/lat shapely polygons)."""
    from storage.platform import database
    from storage.repositories import findings, flights
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
    sightings = []
    for ranked in objects_of([f.finding for f in found], radius_m=radius_m):
        best = found[ranked[0]].finding
        centroid = shape(best.geometry).centroid
        sightings.append(Sighting(best.class_name, str(best.category), round(best.score, 3), centroid.x, centroid.y,
                                  len(ranked), best.evidence_key, tuple(found[i].id for i in sorted(ranked)),
                                  tuple(found[i].finding.geometry for i in ranked)))
    return sightings, footprints


# ---- the camera's real attitude (issue 10) --------------------------------------------------------------------


def place_by_vehicle_attitude(flight_id: str, captures: Any, *, camera: CameraModel,
                               echo: Callable[[str], None]) -> int:
    """A camera fixed to the airframe takes the vehicle's attitude at each photo (the flight's
    CAMERA_FEEDBACK, matched by photo index = file name): the flight's stored frames get that attitude,
    and those tilted beyond use (or whose attitude is unknown) become ``too_tilted``, kept with the reason,
    not analysed. A gimbal's own attitude (from the image) is kept as it is. Returns the frames set aside."""
    import dataclasses

    from dockpatrol.camera import CameraMount
    from storage.platform import database
    from storage.repositories import flights
    from vision.georef import place_frame

    if camera.mount == CameraMount.GIMBAL:
        return 0
    by_index = {c.index: c for c in captures}
    stored = 0
    tilted = 0
    with database().unit_of_work() as session:
        for frame in flights.frames_of_flight(session=session, flight_id=flight_id, status=FrameStatus.STORED):
            pose = frame.pose()
            if pose is None:
                continue
            stored += 1
            stem = Path(frame.object_key).stem
            capture = by_index.get(int(stem)) if stem.isdigit() else None
            placed = place_frame(pose, mount=camera.mount, vehicle_roll_deg=capture.roll_deg if capture else None,
                                 vehicle_pitch_deg=capture.pitch_deg if capture else None,
                                 vehicle_yaw_deg=capture.yaw_deg if capture else None)
            flights.save_frame(session=session, frame=dataclasses.replace(
                frame, yaw_deg=placed.pose.yaw_deg, pitch_deg=placed.pose.pitch_deg, roll_deg=placed.pose.roll_deg,
                status=FrameStatus.STORED if placed.usable else FrameStatus.TOO_TILTED, error=placed.reason))
            tilted += 0 if placed.usable else 1
    if tilted:
        echo(f"{tilted} of {stored} frames kept but not analysed (camera too far off nadir or attitude unknown)")
    return tilted
