"""Crash recovery: bring every flight's imagery to rest and finish what a dead process left.

:func:`reconcile` is the end of every patrol, normal or not: each photo in the flight's media folder
stored raw, ingested and analysed (each step a persisted, idempotent job), then the mission set
``completed`` only when its analysis is. :func:`recover` runs when the patrol service starts: it
sweeps half-written temporary files, uploads spooled frames, reconciles flights still ``flying``
whose owner process is gone (marking them interrupted, with the reason) and missions still
``analysing``, and resumes jobs that were queued or running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dockpatrol.errors import NotFound, Unavailable
from flight.types import Flight, FlightStatus
from missions.types import MissionStatus
from pipeline.frames import (
    TICKETS_JOB,
    FrameJob,
    photos_in,
    process_frame,
    raw_key_for,
    raw_spool,
    tickets_installed,
)
from pipeline.ledger import JobFailed, Ledger, job_key
from vision.types import FrameStatus

log = logging.getLogger("dockpatrol.recovery")

#: a flight result recorded when the process flying it died
INTERRUPTED = "interrupted"
#: temporary files younger than this may still be written by a live process
TEMP_GRACE_S = 600.0
#: a flight owned by another host counts as abandoned after this long without an update
FOREIGN_STALE_S = 6 * 3600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(flight: Flight, *, live_flights: frozenset[str] = frozenset(), now: datetime | None = None) -> bool:
    """Whether nobody flies ``flight`` any more: its owner process is dead (same host) or silent (another)."""
    if flight.id in live_flights:
        return False
    owner = flight.summary.get("owner") or {}
    if owner.get("host") == platform.node():
        pid = int(owner.get("pid", -1))
        return pid == os.getpid() or not _alive(pid)
    started = flight.started_at or datetime.min.replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) - started > timedelta(seconds=FOREIGN_STALE_S)


def reconcile(*, flight_id: str, ledger: Ledger) -> dict[str, Any]:
    """Every photo of the flight stored, ingested, analysed; the mission completed only if all of that is.

    A flight still ``flying`` is recorded as interrupted (its owner is gone; the vehicle's own failsafe
    brought it home). Raises :class:`Unavailable` while frames still wait in the spool.
    """
    from storage.platform import database, object_store
    from storage.repositories import areas, flights

    db, store = database(), object_store()
    with db.unit_of_work() as session:
        flight = flights.require_flight(session=session, flight_id=flight_id)
        mission = flights.get_mission(session=session, mission_id=flight.mission_id) if flight.mission_id else None
        area = areas.get(session=session, area_id=mission.area_id) if mission and mission.area_id else None
    info = flight.summary
    media_dir = Path(info["media_dir"]) if info.get("media_dir") else None
    photos = photos_in(media_dir) if media_dir else []
    spool = raw_spool()
    pending = set(spool.pending_keys())
    for photo in photos:
        key = raw_key_for(flight_id, photo)
        if key not in pending and not store.exists(key):
            spool.put(key, photo.read_bytes(), content_type="image/jpeg")
    spool.drain()
    waiting = [k for k in spool.pending_keys() if k.startswith(f"flights/{flight_id}/")]
    if flight.status is FlightStatus.FLYING:
        reason = (f"the process flying it ({(info.get('owner') or {}).get('pid', '?')} on "
                  f"{(info.get('owner') or {}).get('host', '?')}) stopped during the flight; the vehicle's "
                  f"link-loss failsafe returns it to the dock; {len(photos)} photos recovered from {media_dir}")
        with db.unit_of_work() as session:
            flight = flights.finish_flight(session=session, flight_id=flight_id, status=FlightStatus.FAILED,
                                           result=INTERRUPTED, ended_at=datetime.now(UTC),
                                           summary={**info, "interrupted": reason, "photos": len(photos)},
                                           log_key=flight.log_key)
        log.warning("flight %s interrupted: %s", flight_id, reason)
    work = FrameJob(flight_id=flight_id, card_name=str(info.get("card_name") or "dockpatrol-demo-yolo11n"),
                    scenarios=tuple(info.get("scenarios") or sorted(str(s) for s in (area.scenarios if area else ()))),
                    area_id=mission.area_id if mission else None)
    raw_keys = sorted(o.key for o in store.list(f"flights/{flight_id}/raw/"))
    failed: list[str] = []
    if info.get("camera_mount", "gimbal") != "gimbal" and not info.get("attitude_placed"):
        # a fixed camera's frames need the vehicle's attitude, which died with the flight: ingest, set aside
        from dockpatrol.camera import CameraModel
        from pipeline.patrol import place_by_vehicle_attitude

        for key in raw_keys:
            with contextlib.suppress(JobFailed):
                process_frame(ledger, replace(work, analyse=False), key)
        place_by_vehicle_attitude(flight_id, (), camera=CameraModel(mount=info["camera_mount"]), echo=log.info)
    for key in raw_keys:
        try:
            process_frame(ledger, work, key)
        except JobFailed as exc:
            failed.append(str(exc))
    if tickets_installed() and not failed:
        try:
            ledger.run(TICKETS_JOB, key=job_key(TICKETS_JOB, flight_id), flight_id=flight_id)
        except JobFailed as exc:
            failed.append(str(exc))
    with db.unit_of_work() as session:
        stuck = flights.frames_of_flight(session=session, flight_id=flight_id, status=FrameStatus.STORED)
        counts: dict[str, int] = {}
        for frame in flights.frames_of_flight(session=session, flight_id=flight_id):
            counts[str(frame.status)] = counts.get(str(frame.status), 0) + 1
    summary = {"flight_id": flight_id, "photos": len(photos), "raw": len(raw_keys), "frames": counts,
               "waiting_in_spool": len(waiting), "failed": failed}
    if waiting:
        _set_mission(flight, MissionStatus.ANALYSING, f"{len(waiting)} raw frames wait for the object store")
        raise Unavailable(f"flight {flight_id}: {len(waiting)} raw frames still wait in the spool for the object store")
    if failed or stuck:
        reason = f"analysis incomplete: {len(stuck)} frames not analysed; " + "; ".join(failed)[:1500]
        _set_mission(flight, MissionStatus.FAILED, reason)
        summary["mission"] = str(MissionStatus.FAILED)
        return summary
    if flight.status is FlightStatus.LANDED:
        status, reason = MissionStatus.COMPLETED, f"{counts.get('analysed', 0)} frames analysed"
    else:
        why = flight.summary.get("interrupted") or flight.summary.get("text") or flight.result
        status, reason = MissionStatus.FAILED, f"flight {flight.result or 'failed'}: {why}; " \
                                               f"{counts.get('analysed', 0)} frames analysed"
    _set_mission(flight, status, reason)
    summary["mission"] = str(status)
    if status is MissionStatus.COMPLETED and mission is not None and mission.area_id is not None:
        # change detection: the completed patrol against the area's previous one (issue 13)
        from pipeline.compare import compare_after_patrol

        summary["compare"] = compare_after_patrol(ledger=ledger, area_id=mission.area_id, flight_id=flight_id)
    return summary


def _set_mission(flight: Flight, status: MissionStatus, reason: str) -> None:
    from storage.platform import database
    from storage.repositories import flights

    if flight.mission_id is None:
        return
    with database().unit_of_work() as session:
        mission = flights.require_mission(session=session, mission_id=flight.mission_id)
        flights.save_mission(session=session, mission=replace(mission, status=status, reason=reason))


@dataclass
class RecoveryReport:
    swept: int = 0
    unspooled: int = 0
    interrupted: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    resumed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"recovery: {self.swept} temporary files swept, {self.unspooled} spooled frames uploaded, "
                f"{len(self.interrupted)} interrupted flights, {len(self.reconciled)} flights reconciled, "
                f"{self.resumed} jobs resumed" + (f", {len(self.errors)} errors" if self.errors else ""))


def sweep_temporaries(roots: list[Path], *, older_than_s: float = TEMP_GRACE_S) -> int:
    """Delete half-written files (``.tmp-*`` of the object store and spool, ``*.tmp`` of media) older
    than ``older_than_s``: a live writer renames its file long before that."""
    cutoff = time.time() - older_than_s
    swept = 0
    for root in roots:
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            if (path.name.startswith(".tmp-") or path.suffix == ".tmp") and path.is_file() \
                    and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                swept += 1
    return swept


def recover(*, ledger: Ledger, live_flights: frozenset[str] = frozenset(), temp_grace_s: float = TEMP_GRACE_S,
            echo: Callable[[str], None] = log.info) -> RecoveryReport:
    """What the patrol service runs on start (and from time to time): see the module docstring."""
    from dockpatrol.settings import get_settings
    from storage.platform import database
    from storage.repositories import flights, jobs

    settings = get_settings()
    report = RecoveryReport()
    report.swept = sweep_temporaries([settings.resolved_objects_dir, settings.data_dir / "spool",
                                      settings.data_dir / "media"], older_than_s=temp_grace_s)
    report.unspooled = len(raw_spool().drain())
    db = database()
    with db.unit_of_work() as session:
        flying = flights.flights_with_status(session=session, status=FlightStatus.FLYING)
        analysing = flights.missions_with_status(session=session, status=MissionStatus.ANALYSING)
    stale = [f for f in flying if owner_gone(f, live_flights=live_flights)]
    to_reconcile = [f.id for f in stale]
    report.interrupted = list(to_reconcile)
    with db.unit_of_work() as session:
        for mission in analysing:
            for flight in flights.flights_of_mission(session=session, mission_id=mission.id):
                if flight.id not in to_reconcile and flight.id not in live_flights:
                    to_reconcile.append(flight.id)
    for flight_id in to_reconcile:
        key = job_key("patrol.reconcile", flight_id)
        with db.unit_of_work() as session:
            if (rec := jobs.get(session=session, key=key)) is not None and rec.status.value == "failed":
                jobs.requeue(session=session, key=key)  # a restart is the operator's retry
        try:
            ledger.run("patrol.reconcile", key=key, flight_id=flight_id)
            report.reconciled.append(flight_id)
        except (JobFailed, NotFound) as exc:
            report.errors.append(str(exc))
    with db.unit_of_work() as session:
        leftover = [j for j in jobs.unfinished(session=session)
                    if j.name != "patrol.reconcile" and (j.flight_id is None or j.flight_id not in live_flights)]
    for record in leftover:
        try:
            ledger.resume(record)
            report.resumed += 1
        except JobFailed as exc:
            report.errors.append(str(exc))
    echo(report.summary())
    return report
