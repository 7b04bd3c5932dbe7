"""Registered jobs. Arguments and results are JSON so they cross a broker unchanged.

The imagery path is: raw bytes already in the object store (a dock uploads them, or the API
receives them) → ``frames.ingest`` validates and records the frame, quarantining what it
cannot read → ``frames.analyse`` runs the detectors and stores findings with evidence crops.
Each job commits its own unit of work, so a crash loses at most the job in flight, which the
broker redelivers.
"""

from __future__ import annotations

import hashlib
import platform
import threading
import uuid
from functools import lru_cache
from typing import Any

from pipeline.runner import job


@job("worker.info")
def worker_info() -> dict[str, Any]:
    """Who ran the job: proves a worker (local or Celery) is alive and has dockpatrol installed."""
    from dockpatrol import __version__

    return {"host": platform.node(), "python": platform.python_version(), "dockpatrol": __version__}


@job("objects.checksum")
def object_checksum(key: str) -> dict[str, Any]:
    """SHA-256 of a stored object, read through the configured object store."""
    from storage.platform import object_store

    data = object_store().get(key)
    return {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}


def frame_id_for(flight_id: str, raw_key: str) -> str:
    """Stable frame id: re-running an ingest updates the same row instead of duplicating it."""
    return "FR-" + hashlib.sha1(f"{flight_id}\n{raw_key}".encode()).hexdigest()[:16]


@job("frames.ingest")
def ingest_frame(flight_id: str, raw_key: str, dock_altitude_m: float | None = None,
                 camera_override: dict[str, Any] | None = None,
                 default_camera: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a stored raw image and record it as a frame; unreadable ones go to quarantine, kept.

    ``dock_altitude_m`` (above sea level) places frames that carry only GPS altitude; the camera
    dicts (`CameraModel` fields) are the dock's: an override beats the tags, a default fills in.
    """
    from dockpatrol.camera import CameraModel
    from storage.platform import database, object_store
    from storage.repositories import flights
    from vision.ingest import FrameOptions, IngestedImage, RejectedImage, ingest_bytes
    from vision.types import Frame, FrameStatus

    store = object_store()
    frame_id = frame_id_for(flight_id, raw_key)
    with database().unit_of_work() as session:
        done = flights.get_frame(session=session, frame_id=frame_id)
    if done is not None and done.status in (FrameStatus.ANALYSED, FrameStatus.TOO_TILTED):
        return {"frame_id": frame_id, "status": str(done.status)}  # a redelivery must not undo a later step
    data = store.get(raw_key)
    digest = hashlib.sha256(data).hexdigest()
    try:
        # the pose is checked before the pixels are decoded: a frame that cannot be placed costs no decode
        options = FrameOptions(require_pose=True, dock_altitude_m=dock_altitude_m,
                               camera_override=CameraModel(**camera_override) if camera_override else None,
                               default_camera=CameraModel(**default_camera) if default_camera else None)
        ingested = ingest_bytes(data, source=raw_key, options=options)
        if not isinstance(ingested, IngestedImage) or ingested.pose is None:
            raise RejectedImage(_ortho_reason(), source=raw_key, size_bytes=len(data), sha256=digest,
                                detail="an orthophoto arrived where a drone frame was expected")
        pose = ingested.pose
        camera = ingested.camera.camera
    except RejectedImage as exc:
        quarantine_key = f"quarantine/{flight_id}/{raw_key.rsplit('/', 1)[-1]}"
        store.put(quarantine_key, data)
        frame = Frame(id=frame_id, flight_id=flight_id, object_key=quarantine_key, sha256=digest,
                      status=FrameStatus.QUARANTINED, error=str(exc))
        with database().unit_of_work() as session:
            flights.save_frame(session=session, frame=frame)
        return {"frame_id": frame_id, "status": str(frame.status), "error": frame.error}
    except Exception as exc:  # GeorefError and the like: the image decodes but cannot be placed
        frame = Frame(id=frame_id, flight_id=flight_id, object_key=raw_key, sha256=digest,
                      status=FrameStatus.UNPLACED, error=str(exc))
        with database().unit_of_work() as session:
            flights.save_frame(session=session, frame=frame)
        return {"frame_id": frame_id, "status": str(frame.status), "error": frame.error}
    meta = ingested.meta
    frame = Frame(id=frame_id, flight_id=flight_id, object_key=raw_key, sha256=digest, captured_at=meta.captured_at,
                  lon=pose.lon, lat=pose.lat, altitude_above_ground_m=pose.altitude_m, yaw_deg=pose.yaw_deg,
                  pitch_deg=pose.pitch_deg, roll_deg=pose.roll_deg, camera=camera, width_px=meta.width_px,
                  height_px=meta.height_px, status=FrameStatus.STORED)
    with database().unit_of_work() as session:
        flights.save_frame(session=session, frame=frame)
    return {"frame_id": frame_id, "status": str(frame.status)}


def _ortho_reason() -> Any:
    from vision.ingest import RejectReason

    return RejectReason.UNSUPPORTED_TYPE


#: One detector load at a time: the job threads share each loaded detector.
_DETECTOR_LOAD = threading.Lock()


def _detector(card_name: str) -> tuple[Any, Any]:
    """The card and its loaded detector, shared by every job thread of the process.

    The first frames of a patrol day are analysed at once and a bare ``lru_cache`` let each thread
    load its own model; the lock makes the first caller load it while the others wait.
    """
    with _DETECTOR_LOAD:
        return _load_detector(card_name)


@lru_cache(maxsize=4)
def _load_detector(card_name: str) -> tuple[Any, Any]:
    from dockpatrol.settings import get_settings
    from vision.registry import require_card
    from vision.ultralytics_adapter import load_detector

    card = require_card(card_name, get_settings().models_dir)
    return card, load_detector(card)


@job("frames.analyse")
def analyse_frame(frame_id: str, card_name: str, scenarios: list[str], area_id: str | None = None) -> dict[str, Any]:
    """Detect in one stored frame, keep the area's scenarios, store findings and evidence crops."""
    from dataclasses import replace
    from datetime import UTC, datetime

    import numpy as np

    from storage.platform import database, object_store
    from storage.repositories import findings as finding_repo
    from storage.repositories import flights
    from vision.analyse import analyse_frame as run_chain
    from vision.georef import FrameGeoref, evidence_crop
    from vision.ingest import ingest_bytes
    from vision.types import FrameStatus

    db, store = database(), object_store()
    with db.unit_of_work() as session:
        frame = flights.require_frame(session=session, frame_id=frame_id)
    pose = frame.pose()
    if frame.status is FrameStatus.ANALYSED:  # a rerun keeps the stored findings (and their tickets) as they are
        with db.unit_of_work() as session:
            kept = [f for f in finding_repo.findings_of_flight(session=session, flight_id=frame.flight_id or "")
                    if f.finding.frame_id == frame_id]
        return {"frame_id": frame_id, "status": str(frame.status), "findings": len(kept)}
    if frame.status is not FrameStatus.STORED or pose is None or frame.camera is None:
        return {"frame_id": frame_id, "status": str(frame.status), "findings": 0}
    card, detector = _detector(card_name)
    rgb = np.ascontiguousarray(ingest_bytes(store.get(frame.object_key), source=frame.object_key).rgb)
    camera = frame.camera
    seen_at = frame.captured_at or datetime.now(UTC)
    _, found = run_chain(rgb, detector=detector, georef=FrameGeoref.for_pose(camera, pose), seen_at=seen_at,
                         frame_id=frame_id, model=f"{card.name}@{card.version}")
    wanted = set(scenarios)
    kept = [f for f in found if str(f.category) in wanted]
    stored = []
    for i, finding in enumerate(kept):
        finding_id = f"FD-{frame_id[3:]}-{i:03d}"
        key = f"flights/{frame.flight_id}/evidence/{finding_id}.jpg"
        if finding.box_xyxy_px is not None:
            store.put(key, evidence_crop(rgb, finding.box_xyxy_px), content_type="image/jpeg")
        stored.append((finding_id, replace(finding, evidence_key=key if finding.box_xyxy_px is not None else None)))
    with db.unit_of_work() as session:
        for finding_id, finding in stored:
            finding_repo.save_finding(session=session, finding_id=finding_id, finding=finding,
                                      flight_id=frame.flight_id, area_id=area_id)
        flights.set_frame_status(session=session, frame_id=frame_id, status=FrameStatus.ANALYSED)
    return {"frame_id": frame_id, "status": str(FrameStatus.ANALYSED), "findings": len(stored),
            "dropped_out_of_scope": len(found) - len(kept)}


@job("tickets.open")
def open_tickets(flight_id: str, frame_id: str | None = None) -> dict[str, Any]:
    """Ticket a flight's objects: those one frame saw (while the vehicle still flies), or, without a frame,
    all of them, after verifying the re-inspected tickets its footprints cover. Idempotent: objects already
    known change nothing, and an object seen again joins its ticket as a sighting."""
    from datetime import UTC, datetime

    import shapely

    from pipeline.patrol import sightings_of_flight
    from pipeline.tickets import candidates_from_findings, ticket_flight, ticket_objects
    from storage.platform import database
    from storage.repositories import findings as finding_repo

    with database().unit_of_work() as session:
        found = finding_repo.findings_of_flight(session=session, flight_id=flight_id)
        objects = candidates_from_findings(found, flight_id=flight_id)
        if frame_id is not None:
            mine = {f.id for f in found if f.finding.frame_id == frame_id}
            objects = [o for o in objects if mine & set(o.finding_ids)]
        at = max((f.finding.seen_at for f in found), default=datetime.now(UTC))
        if frame_id is not None:
            report = ticket_objects(session=session, objects=objects, at=at)
        else:
            _, footprints = sightings_of_flight(flight_id, radius_m=3.0)
            report = ticket_flight(session=session, flight_id=flight_id, objects=objects, at=at,
                                   footprints=[shapely.geometry.mapping(f) for f in footprints])
    return {"created": list(report.created), "sightings": len(report.sightings), "review": len(report.review),
            "already_known": report.already_known, "notes": list(report.notes)}


@job("patrol.reconcile")
def reconcile_flight(flight_id: str) -> dict[str, Any]:
    """Bring a flight's imagery to rest: every photo stored, ingested and analysed, the mission's status
    set from it (see :func:`pipeline.recovery.reconcile`). Its steps run inline, persisted as jobs."""
    from pipeline.ledger import Ledger
    from pipeline.recovery import reconcile
    from pipeline.runner import InlineRunner

    return reconcile(flight_id=flight_id, ledger=Ledger(runner=InlineRunner()))


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
