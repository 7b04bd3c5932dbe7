"""The ``area.compare`` job: a patrol of an area completed and a previous one exists → mosaics and changes.

Each flight's quick mosaic is built once (the later one registered onto the earlier one), stored
as a COG in the object store and recorded in the flight's summary; the two are compared for
surface change and the flights' grouped findings for object change; every change gets
before/after evidence crops and is recorded for review. The comparison itself is recorded on
the later flight, so running the job again returns the recorded outcome and creates nothing.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape

from dockpatrol.camera import CameraModel
from dockpatrol.errors import InvalidInput, NotFound
from flight.types import Flight, FlightStatus
from pipeline.ledger import Ledger
from pipeline.runner import job
from storage.repositories.changes import PENDING_REVIEW
from tickets.types import Candidate, ReviewKind
from vision.change import RecordedChange
from vision.types import FrameStatus

log = logging.getLogger("dockpatrol.compare")

#: Frame states whose image decodes; 'unplaced' ones decode but carry no usable pose (the mosaic counts them).
_READABLE = (FrameStatus.STORED, FrameStatus.ANALYSED, FrameStatus.UNPLACED)


@dataclass(frozen=True)
class CompareOutcome:
    """What one comparison produced: the recorded changes' ids and what could not be compared."""

    area_id: str
    before_flight_id: str | None
    after_flight_id: str
    status: str
    change_ids: tuple[str, ...] = ()
    not_compared: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"area_id": self.area_id, "before_flight_id": self.before_flight_id,
                "after_flight_id": self.after_flight_id, "status": self.status, "changes": len(self.change_ids),
                "change_ids": list(self.change_ids), "not_compared": list(self.not_compared)}


def mosaic_key(flight_id: str) -> str:
    return f"flights/{flight_id}/mosaic.tif"


@job("area.compare")
def compare_area(area_id: str, after_flight_id: str, before_flight_id: str | None = None,
                 mosaic_gsd_m: float | None = None) -> dict[str, Any]:
    """Compare a completed patrol with the area's previous one (or ``before_flight_id``); idempotent."""
    return compare_flights(area_id=area_id, after_flight_id=after_flight_id, before_flight_id=before_flight_id,
                           mosaic_gsd_m=mosaic_gsd_m).to_json()


def compare_flights(*, area_id: str, after_flight_id: str, before_flight_id: str | None = None,
                    mosaic_gsd_m: float | None = None) -> CompareOutcome:
    """The job's body, returning a typed outcome (the CLI and the review queue use this)."""
    from storage.platform import database
    from storage.repositories import areas, flights
    from storage.repositories import changes as change_repo
    from vision.change import ChangeSettings
    from vision.mosaic import MosaicGrid

    with database().unit_of_work() as session:
        area = areas.require(session=session, area_id=area_id)
        after = flights.require_flight(session=session, flight_id=after_flight_id)
        if before_flight_id is None:
            before_flight_id = _previous_flight(session, area_id=area_id, after=after)
        if before_flight_id is None:
            return CompareOutcome(area_id, None, after_flight_id, "no_previous_patrol",
                                  not_compared=("the area has no earlier patrol to compare with",))
        if before_flight_id == after_flight_id:
            raise InvalidInput(f"cannot compare flight {after_flight_id} with itself")
        flights.require_flight(session=session, flight_id=before_flight_id)
        done = dict(after.summary or {}).get("comparisons", {}).get(before_flight_id)
        if done is not None:
            recorded = change_repo.of_flights(session=session, before_flight_id=before_flight_id,
                                              after_flight_id=after_flight_id)
            return CompareOutcome(area_id, before_flight_id, after_flight_id, "already_compared",
                                  tuple(c.id for c in recorded), tuple(done.get("not_compared", [])))
    gsd_m = mosaic_gsd_m or area.gsd_cm / 100.0
    grid = MosaicGrid.for_area(polygon_lonlat=shape(area.polygon), gsd_m=gsd_m)
    settings = ChangeSettings(analysis_gsd_m=max(ChangeSettings().analysis_gsd_m, gsd_m))
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        outcome = _compare(area_id=area_id, before_flight_id=before_flight_id, after_flight_id=after_flight_id,
                           grid=grid, settings=settings, workdir=Path(tmp))
    return outcome


def compare_after_patrol(*, ledger: Ledger, area_id: str, flight_id: str) -> dict[str, Any] | None:
    """A patrol of the area completed: run ``area.compare`` against the previous patrol as a persisted job.

    None for the area's first patrol. A comparison that fails is recorded in the jobs table (``dockpatrol
    jobs`` shows and retries it) and reported here; it never fails the patrol it follows.
    """
    from pipeline.ledger import JobFailed, job_key
    from storage.platform import database
    from storage.repositories import flights

    with database().unit_of_work() as session:
        before_flight_id = _previous_flight(session, area_id=area_id,
                                            after=flights.require_flight(session=session, flight_id=flight_id))
    if before_flight_id is None:
        return None
    log.info("patrol %s of %s completed: comparing with %s", flight_id, area_id, before_flight_id)
    try:
        return ledger.run("area.compare", key=job_key("area.compare", before_flight_id, flight_id),
                          about_flight=flight_id, area_id=area_id, after_flight_id=flight_id,
                          before_flight_id=before_flight_id)
    except JobFailed as exc:
        log.error("comparing %s with %s failed: %s", flight_id, before_flight_id, exc)
        return {"status": "failed", "before_flight_id": before_flight_id, "error": str(exc)}


def _previous_flight(session: Any, *, area_id: str, after: Flight) -> str | None:
    """The area's latest earlier flight over the same ground: the same sortie of a patrol split into several
    (a flight without a sortie number flew sortie 1)."""
    from storage.repositories import flights

    sortie = after.summary.get("sortie", 1)
    earlier = [f for f in flights.flights_of_area(session=session, area_id=area_id)
               if f.id != after.id and f.started_at is not None and after.started_at is not None
               and f.started_at < after.started_at and f.status not in (FlightStatus.FAILED, FlightStatus.PENDING)
               and f.summary.get("sortie", 1) == sortie]
    return earlier[-1].id if earlier else None


def _compare(*, area_id: str, before_flight_id: str, after_flight_id: str, grid: Any, settings: Any,
             workdir: Path) -> CompareOutcome:
    from storage.platform import database
    from storage.repositories import changes as change_repo
    from storage.repositories import flights
    from vision.change import ChangeEvent, compare_mosaics, compare_objects
    from vision.mosaic import NoUsableFrames

    problems: list[str] = []
    paths: dict[str, Path] = {}
    for flight_id, reference in ((before_flight_id, None), (after_flight_id, before_flight_id)):
        try:
            paths[flight_id] = _ensure_mosaic(flight_id, grid=grid, workdir=workdir,
                                              reference=paths.get(reference) if reference else None)
        except NoUsableFrames as exc:
            problems.append(f"flight {flight_id}: {exc}")
    events: list[ChangeEvent] = []
    compared_geometry = None
    if len(paths) == 2:
        surface = compare_mosaics(paths[before_flight_id], paths[after_flight_id], settings=settings)
        problems.extend(surface.not_compared)
        compared_geometry = surface.compared_geometry
        events.extend(_with_crops(e, area_id=area_id, pair=(before_flight_id, after_flight_id), paths=paths,
                                  epsg=grid.epsg) for e in surface.events)
        with database().unit_of_work() as session:
            before_objects = _tracked_objects(session, before_flight_id)
            after_objects = _tracked_objects(session, after_flight_id)
        if compared_geometry is not None:
            objects = compare_objects(before_objects, after_objects, min_area_m2=settings.min_area_m2,
                                      compared_lonlat=shape(compared_geometry))
            events.extend(objects.events)
    status = "compared" if compared_geometry is not None else "not_compared"
    with database().unit_of_work() as session:
        recorded = change_repo.record(session=session, area_id=area_id, before_flight_id=before_flight_id,
                                      after_flight_id=after_flight_id, events=events)
        queue_for_review(session=session, changes=recorded, at=datetime.now(UTC))
        after = flights.require_flight(session=session, flight_id=after_flight_id)
        summary = dict(after.summary or {})
        comparisons = dict(summary.get("comparisons", {}))
        comparisons[before_flight_id] = {"status": status, "changes": len(recorded), "not_compared": problems,
                                         "compared_geometry": compared_geometry}
        summary["comparisons"] = comparisons
        flights.save_flight(session=session, flight=replace(after, summary=summary))
    log.info("compared %s: %s → %s, %d changes", area_id, before_flight_id, after_flight_id, len(recorded))
    return CompareOutcome(area_id, before_flight_id, after_flight_id, status, tuple(r.id for r in recorded),
                          tuple(problems))


def _ensure_mosaic(flight_id: str, *, grid: Any, workdir: Path, reference: Path | None) -> Path:
    """The flight's mosaic on ``grid``: the stored one when it matches, else built, stored and recorded."""
    from storage.platform import database, object_store
    from storage.repositories import flights
    from vision.ingest import ingest_bytes
    from vision.ingest.jpeg import decode_ingested
    from vision.mosaic import MosaicFrame, build_mosaic

    store = object_store()
    path = workdir / f"{flight_id}.tif"
    with database().unit_of_work() as session:
        row = flights.require_flight(session=session, flight_id=flight_id)
        recorded = dict(row.summary or {}).get("mosaic")
        frames = [f for f in flights.frames_of_flight(session=session, flight_id=flight_id)
                  if f.status in _READABLE]
        rows = [(f.id, f.object_key, f.camera, f.pose()) for f in frames]
    if recorded and recorded.get("grid") == _grid_record(grid) and store.exists(recorded["key"]):
        path.write_bytes(store.get(recorded["key"]))
        return path

    def loader(key: str) -> Any:
        def load() -> Any:
            # The frame passed ingest when it was stored: decode it, and only if that fails ingest it again,
            # which says why.
            data = store.get(key)
            rgb = decode_ingested(data)
            return rgb if rgb is not None else ingest_bytes(data, source=key).rgb

        return load

    def reduced_loader(key: str) -> Any:
        return lambda scale: decode_ingested(store.get(key), scale)

    mosaic_frames = []
    for frame_id, key, camera, pose in rows:
        mosaic_frames.append(MosaicFrame(frame_id=frame_id, pose=pose if camera is not None else None,
                                         camera=camera or CameraModel(), load=loader(key),
                                         load_reduced=reduced_loader(key)))
    result = build_mosaic(mosaic_frames, grid, path=path, reference=reference)
    key = mosaic_key(flight_id)
    store.put(key, path.read_bytes(), content_type="image/tiff")
    with database().unit_of_work() as session:
        row = flights.require_flight(session=session, flight_id=flight_id)
        summary = dict(row.summary or {})
        summary["mosaic"] = {"key": key, "grid": _grid_record(grid), **result.summary()}
        flights.save_flight(session=session, flight=replace(row, summary=summary))
    return path


def _grid_record(grid: Any) -> list[Any]:
    return [grid.epsg, grid.west_m, grid.north_m, grid.gsd_m, grid.width_px, grid.height_px]


def _with_crops(event: Any, *, area_id: str, pair: tuple[str, str], paths: dict[str, Path], epsg: int) -> Any:
    """The event with before/after JPEG crops stored under the area and its two flights."""
    from storage.platform import object_store
    from vision.mosaic import read_crop_jpeg

    if event.crop_bounds_m is None:
        return event
    store = object_store()
    keys = []
    for flight_id, label in zip(pair, ("before", "after"), strict=True):
        data = read_crop_jpeg(paths[flight_id], bounds_m=event.crop_bounds_m, epsg=epsg)
        if data is None:
            keys.append(None)
            continue
        key = f"areas/{area_id}/changes/{pair[0]}--{pair[1]}/{event.fingerprint}-{label}.jpg"
        store.put(key, data, content_type="image/jpeg")
        keys.append(key)
    return replace(event, before_key=keys[0], after_key=keys[1])


def _tracked_objects(session: Any, flight_id: str) -> list[Any]:
    """The flight's findings grouped into objects (one outline per group: the union of its views)."""
    from storage.repositories import findings
    from tickets.dedup import cluster_findings
    from vision.change import TrackedObject

    rows = findings.findings_of_flight(session=session, flight_id=flight_id)
    if not rows:
        return []
    groups = cluster_findings([r.finding.geometry for r in rows], [r.finding.class_name for r in rows])
    out = []
    for group in groups:
        members = [rows[i] for i in group]
        best = max(members, key=lambda r: r.finding.score).finding
        outline = shapely.union_all([shape(r.finding.geometry) for r in members])
        out.append(TrackedObject(class_name=best.class_name, geometry=mapping(outline), score=float(best.score),
                                 evidence_key=best.evidence_key, finding_ids=tuple(r.id for r in members)))
    return out


def review_item_id(change_id: str) -> str:
    """The review item of a change: its id follows the change's, so queuing twice is one item."""
    return f"RV-{change_id}"


def change_candidate(change: RecordedChange, *, seen_at: datetime) -> Candidate:
    """A recorded change as the review queue's candidate: routed by category, its crop the evidence.

    The key is the change id (accept/reject find the change again by it); the evidence is the
    later crop, or the earlier one for something that vanished (what a rejection keeps as a hard negative).
    """
    e = change.event
    return Candidate(key=change.id, class_name=e.class_name or str(e.surface_class or e.kind),
                     category="" if e.category is None else str(e.category), score=float(e.score),
                     geometry=e.geometry, seen_at=seen_at, flight_id=change.after_flight_id,
                     evidence_key=e.after_key or e.before_key,
                     finding_ids=tuple(str(i) for i in e.detail.get("finding_ids", ())), area_id=change.area_id)


def queue_for_review(*, session: Any, changes: Sequence[RecordedChange], at: datetime) -> list[str]:
    """Put pending changes into the review queue as change items; items already there (decided or not) stay.

    Returns the ids of the items added. The item's area is the change's, so the queue weighs it
    exactly as :attr:`vision.change.ChangeEvent.review_weight` does.
    """
    from storage.repositories import tickets as ticket_repo
    from tickets import review

    added = []
    for change in changes:
        if change.status != PENDING_REVIEW:
            continue
        try:
            ticket_repo.get_review(session=session, item_id=review_item_id(change.id))
            continue
        except NotFound:
            pass
        e = change.event
        what = str(e.surface_class or e.class_name or "")
        reason = (f"{e.kind} {what} {e.area_m2:.0f} m² between flights {change.before_flight_id} and "
                  f"{change.after_flight_id}")
        item = review.new_item(change_candidate(change, seen_at=change.created_at or at), reason=reason, at=at,
                               kind=ReviewKind.CHANGE)
        ticket_repo.save_review(session=session, item=replace(item, area_m2=float(e.area_m2)))
        added.append(item.id)
    return added
