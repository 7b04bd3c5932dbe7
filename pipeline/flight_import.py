"""A folder of photos from one flight in, the objects it saw out: the composition the upload route calls.

Steps: store every raw photo in the object store (first, before anything reads it) → ``frames.ingest``
(checks, pose, camera geometry) → ``frames.analyse`` with the area's scenarios → group one object's
sightings across overlapping frames (`tickets.dedup.cluster_findings`) → hand the objects to ticket
routing (`pipeline.tickets.ticket_flight`: tickets, sightings of open ones, review items) → findings GeoJSON
and a report, also stored with the flight.

Resumable: the flight id comes from the folder (and dock), raw keys from file names, frame ids from
both, so a rerun finds every photo stored and every frame analysed and does no work.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import mapping, shape

from dockpatrol.camera import CameraModel
from dockpatrol.errors import InvalidInput, NotFound
from flight.types import Flight, FlightStatus
from missions.types import Dock
from pipeline.jobs import frame_id_for
from pipeline.runner import InProcessRunner, Runner
from tickets.types import Candidate
from vision.types import Frame, FrameStatus, StoredFinding

if TYPE_CHECKING:
    from pipeline.tickets import IntakeReport

PHOTO_SUFFIXES = (".jpg", ".jpeg")
#: Frame statuses that end a frame's processing; a rerun leaves such frames alone.
DONE_STATUSES = frozenset({FrameStatus.ANALYSED, FrameStatus.QUARANTINED, FrameStatus.UNPLACED})

#: Merge radius for classes whose objects are large and diffuse: a detector boxes a plume or a stain in
#: pieces (in one frame as in overlapping ones) tens of metres apart (a twin smoke plume is ~25 x 40 m).
SPREAD_OBJECT_RADIUS_M = MappingProxyType({"smoke": 15.0, "water_discoloration": 10.0, "bare_soil": 8.0,
                                           "burn_scar": 8.0})

#: (step, done, total) — the CLI draws a progress bar from it.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImportedObject:
    """One thing on the ground, grouped from every finding of it across the flight's frames."""

    class_name: str
    category: str
    score: float  # the best view's
    lon: float
    lat: float
    geometry: dict[str, Any]  # GeoJSON polygon of the best view, lon/lat
    frame_ids: tuple[str, ...]
    finding_ids: tuple[str, ...]
    evidence_keys: tuple[str, ...]  # best view first
    covered_by: int = 0  # analysed frames that had the object's position well inside their view

    @property
    def confirmed(self) -> bool:
        """Multi-view agreement: seen in two frames, or in the only frame that covered it."""
        return len(self.frame_ids) >= min(2, max(1, self.covered_by))

    def to_geojson(self) -> dict[str, Any]:
        return {"type": "Feature", "geometry": self.geometry, "properties": {
            "class": self.class_name, "category": self.category, "score": round(self.score, 4),
            "frames": list(self.frame_ids), "views": len(self.finding_ids), "covered_by": self.covered_by,
            "confirmed": self.confirmed, "evidence": list(self.evidence_keys),
            "lon": round(self.lon, 7), "lat": round(self.lat, 7)}}


@dataclass(frozen=True)
class ImportReport:
    """What one import run did; a rerun of a finished import reports zero new work."""

    flight_id: str
    photos: int
    stored_now: int
    ingested_now: int
    analysed_now: int
    frames: dict[str, int]
    camera_sources: dict[str, int]
    objects: tuple[ImportedObject, ...]
    findings: int
    geojson_key: str
    out_path: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    tickets: IntakeReport | None = None  # None: the objects were not handed to ticket routing

    @property
    def did_work(self) -> bool:
        return bool(self.stored_now or self.ingested_now or self.analysed_now)

    def lines(self) -> list[str]:
        by_class = Counter(o.class_name for o in self.objects)
        multi = sum(1 for o in self.objects if len(o.frame_ids) > 1)
        lone = sum(1 for o in self.objects if not o.confirmed)
        out = [f"flight {self.flight_id}: {self.photos} photos; stored {self.stored_now} now, ingested "
               f"{self.ingested_now}, analysed {self.analysed_now}" + ("" if self.did_work else " (nothing to do)"),
               "frames: " + ", ".join(f"{k} {v}" for k, v in sorted(self.frames.items())),
               "camera geometry from: " + (", ".join(f"{k} {v}" for k, v in sorted(self.camera_sources.items()))
                                          or "-"),
               f"{len(self.objects)} objects from {self.findings} findings ({multi} seen in more than one frame, "
               f"{lone} seen by only one of the frames covering them)"]
        out += [f"  {name:20s} {n}" for name, n in sorted(by_class.items())]
        out.append("tickets: " + (self.tickets.summary() if self.tickets is not None else "not routed"))
        out += list(self.notes)
        out += list(self.tickets.notes if self.tickets is not None else ())
        return out


def flight_id_for_folder(folder: Path, dock_id: str | None) -> str:
    """Stable flight id of an imported folder, so a rerun resumes the same flight."""
    digest = hashlib.sha1(f"{Path(folder).resolve()}\n{dock_id or ''}".encode()).hexdigest()[:12]
    return f"F-IMP-{digest}"


def photos_in(folder: Path) -> list[Path]:
    """The folder's JPEG photos (not recursive), by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise InvalidInput(f"{folder} holds no JPEG photos ({', '.join(PHOTO_SUFFIXES)})")
    return photos


def group_findings(rows: Sequence[StoredFinding], *, radius_m: float,
                   footprints: Sequence[shapely.Polygon] = ()) -> list[ImportedObject]:
    """A flight's stored findings grouped into objects: same class, ground footprints within ``radius_m``
    (more for spread classes) of each other. ``footprints`` (lon/lat, the central part of each analysed
    frame) count how many frames could have seen each object."""
    from tickets.dedup import cluster_findings

    groups: list[list[int]] = []
    for class_name in sorted({r.finding.class_name for r in rows}):
        members = [i for i, r in enumerate(rows) if r.finding.class_name == class_name]
        radius = max(radius_m, SPREAD_OBJECT_RADIUS_M.get(class_name, 0.0))
        found = cluster_findings([rows[i].finding.geometry for i in members], [class_name] * len(members),
                                 radius_m=radius)
        groups += [[members[i] for i in group] for group in found]
    objects = []
    for group in groups:
        views = sorted((rows[i] for i in group), key=lambda r: -r.finding.score)
        best = views[0].finding
        centre = shapely.centroid(shapely.union_all([shape(v.finding.geometry) for v in views]))
        objects.append(ImportedObject(
            class_name=best.class_name, category=str(best.category), score=float(best.score),
            lon=float(centre.x), lat=float(centre.y), geometry=best.geometry,
            frame_ids=tuple(dict.fromkeys(v.finding.frame_id for v in views if v.finding.frame_id)),
            finding_ids=tuple(v.id for v in views),
            evidence_keys=tuple(v.finding.evidence_key for v in views if v.finding.evidence_key),
            covered_by=sum(1 for f in footprints if f.contains(centre))))
    return sorted(objects, key=lambda o: (o.category, o.class_name, -o.score))


def import_flight(folder: Path, *, dock_id: str | None = None, area_id: str | None = None,
                  card_name: str | None = None, out: Path | None = None, dock_camera_override: bool = False,
                  merge_radius_m: float = 3.0, require_agreement: bool = False, runner: Runner | None = None,
                  progress: Progress | None = None, tickets: bool = True) -> ImportReport:
    """Store, ingest, detect and group one flight's photos; write the findings GeoJSON (``out`` and the store).

    ``area_id`` picks the scenarios (every category without it); ``dock_id`` gives the dock's elevation
    (for photos with GPS altitude only) and camera (default optics; with ``dock_camera_override`` it beats
    the tags). ``require_agreement`` drops objects that only one of several covering frames saw.
    With ``tickets`` the objects go to ticket routing as the patrol's do (verifying tickets the frames cover
    are checked, then objects become tickets, sightings or review items). That runs on every run, a rerun
    included (a crash may have come between analysis and routing); it is idempotent because each object's
    key follows its finding ids, which are stable across runs.
    """
    from dockpatrol.taxonomy import Category
    from storage.platform import database, object_store
    from storage.repositories import areas, docks, flights
    from storage.repositories import findings as finding_repo
    from vision.registry import DEFAULT_CARD

    photos = photos_in(folder)
    tick = progress or (lambda step, done, total: None)
    db, store = database(), object_store()
    with db.unit_of_work() as session:
        dock = docks.require(session=session, dock_id=dock_id) if dock_id else None
        area = areas.require(session=session, area_id=area_id) if area_id else None
    scenarios = sorted(str(s) for s in (area.scenarios if area else Category))
    flight_id = flight_id_for_folder(folder, dock_id)
    with db.unit_of_work() as session:
        if not _exists(lambda: flights.require_flight(session=session, flight_id=flight_id)):
            flights.save_flight(session=session, flight=Flight(
                id=flight_id, dock_id=dock_id, vehicle_url="import:", status=FlightStatus.IMPORTED,
                started_at=datetime.now(UTC), summary={"folder": str(Path(folder).resolve()), "area_id": area_id}))

    stored_now = 0
    raw_keys = []
    for i, path in enumerate(photos):
        key = f"flights/{flight_id}/raw/{path.name}"
        if not store.exists(key):
            store.put(key, path.read_bytes(), content_type="image/jpeg")
            stored_now += 1
        raw_keys.append(key)
        tick("store", i + 1, len(photos))

    own_runner = InProcessRunner(workers=1) if runner is None else None
    runner = runner or own_runner
    camera = _camera_args(dock, override=dock_camera_override)
    status = _statuses(flight_id, raw_keys)
    try:
        ingested_now, analysed_now = _process(runner, flight_id=flight_id, raw_keys=raw_keys, status=status,
                                              dock=dock, camera=camera, card_name=card_name or DEFAULT_CARD,
                                              scenarios=scenarios, area_id=area_id, tick=tick)
    finally:
        if own_runner is not None:
            own_runner.shutdown()

    with db.unit_of_work() as session:
        rows = finding_repo.findings_of_flight(session=session, flight_id=flight_id)
        frames = flights.frames_of_flight(session=session, flight_id=flight_id)
    analysed = [f for f in frames if f.status is FrameStatus.ANALYSED]
    sources = Counter((f.camera.source if f.camera is not None else "") or "-" for f in analysed)
    notes = tuple(f"{f.object_key.rsplit('/', 1)[-1]}: {f.status}: {f.error}" for f in frames
                  if f.status in (FrameStatus.QUARANTINED, FrameStatus.UNPLACED))
    views = [v for v in (_central_footprint(f) for f in analysed) if v is not None]
    objects = group_findings(rows, radius_m=merge_radius_m, footprints=views)
    if require_agreement:
        dropped = [o for o in objects if not o.confirmed]
        objects = [o for o in objects if o.confirmed]
        notes += (f"multi-view agreement: dropped {len(dropped)} objects seen in one of the frames that covered "
                  "them",)
    collection = {"type": "FeatureCollection", "features": [o.to_geojson() for o in objects],
                  "properties": {"flight_id": flight_id, "scenarios": scenarios, "model": card_name or DEFAULT_CARD}}
    text = json.dumps(collection, indent=1)
    geojson_key = f"flights/{flight_id}/findings.geojson"
    store.put(geojson_key, text.encode(), content_type="application/geo+json")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
    # after the GeoJSON, so that a routing failure (say, rules that do not fit) still leaves the objects
    intake = _route(flight_id, objects, rows, footprints=views) if tickets else None
    report = ImportReport(flight_id=flight_id, photos=len(photos), stored_now=stored_now, ingested_now=ingested_now,
                          analysed_now=analysed_now, frames=dict(Counter(status.values())),
                          camera_sources=dict(sources), objects=tuple(objects), findings=len(rows),
                          geojson_key=geojson_key, out_path=Path(out) if out else None, notes=notes,
                          tickets=intake)
    store.put(f"flights/{flight_id}/import-report.txt", "\n".join(report.lines()).encode(), content_type="text/plain")
    return report


def candidate_for(obj: ImportedObject, *, flight_id: str, rows: Mapping[str, StoredFinding]) -> Candidate:
    """An imported object as a ticket candidate, keyed like a patrol's by its finding ids (``rows`` by id).

    Not `pipeline.tickets.candidates_from_findings`: that regroups with one radius, while an import's objects
    use wider radii for spread classes and may have dropped objects without multi-view agreement.
    """
    from pipeline.tickets import candidate_key

    best = rows[obj.finding_ids[0]]  # finding_ids are best view first
    return Candidate(key=candidate_key(flight_id, obj.finding_ids), class_name=obj.class_name,
                     category=obj.category, score=obj.score, geometry=obj.geometry,
                     seen_at=min(rows[i].finding.seen_at for i in obj.finding_ids), flight_id=flight_id,
                     frame_id=best.finding.frame_id, evidence_key=best.finding.evidence_key,
                     frames=len(obj.frame_ids), finding_ids=tuple(sorted(obj.finding_ids)), area_id=best.area_id)


def _route(flight_id: str, objects: Sequence[ImportedObject], rows: Sequence[StoredFinding], *,
           footprints: Sequence[shapely.Polygon]) -> IntakeReport:
    """The flight's ticketing step, in one transaction. Verification uses the frames' central parts: a
    ticket's spot at the very edge of a photo is not evidence that the object is gone."""
    from pipeline.tickets import ticket_flight
    from storage.platform import database

    by_id = {r.id: r for r in rows}
    candidates = [candidate_for(o, flight_id=flight_id, rows=by_id) for o in objects]
    with database().unit_of_work() as session:
        return ticket_flight(session=session, flight_id=flight_id, objects=candidates,
                             footprints=[mapping(f) for f in footprints], at=datetime.now(UTC))


#: Share of a frame's width/height trimmed from each side before counting it as covering a position:
#: objects at the very edge are often cut off, and a miss there is not a disagreement.
_EDGE_SHARE = 0.1


def _process(runner: Runner, *, flight_id: str, raw_keys: Sequence[str], status: dict[str, str | None],
             dock: Dock | None,
             camera: dict[str, Any], card_name: str, scenarios: list[str], area_id: str | None,
             tick: Progress) -> tuple[int, int]:
    """Ingest what has no frame yet and analyse what is stored; returns (ingested, analysed) counts."""
    ingested = analysed = 0
    for i, key in enumerate(raw_keys):
        frame_id = frame_id_for(flight_id, key)
        if status.get(frame_id) is None:
            result = runner.submit("frames.ingest", flight_id=flight_id, raw_key=key,
                                   dock_altitude_m=dock.elevation_amsl_m if dock else None, **camera).result(timeout=600)
            status[frame_id] = result["status"]
            ingested += 1
        if status[frame_id] == FrameStatus.STORED:
            runner.submit("frames.analyse", frame_id=frame_id, card_name=card_name, scenarios=scenarios,
                          area_id=area_id).result(timeout=900)
            status[frame_id] = FrameStatus.ANALYSED
            analysed += 1
        tick("detect", i + 1, len(raw_keys))
    return ingested, analysed


def _central_footprint(frame: Frame) -> shapely.Polygon | None:
    """Ground outline (lon/lat) of the central part of an analysed frame; None for a frame without a pose."""
    import numpy as np

    from vision.georef import FrameGeoref, boxes_to_lonlat_polygons

    cam, pose = frame.camera, frame.pose()
    if cam is None or pose is None:
        return None
    georef = FrameGeoref.for_pose(cam, pose)
    mx, my = cam.width_px * _EDGE_SHARE, cam.height_px * _EDGE_SHARE
    box = np.array([[mx, my, cam.width_px - mx, cam.height_px - my]], dtype=float)
    return boxes_to_lonlat_polygons(box, georef)[0]


def _exists(lookup: Callable[[], Any]) -> bool:
    try:
        lookup()
    except NotFound:
        return False
    return True


def _camera_args(dock: Dock | None, *, override: bool) -> dict[str, Any]:
    if dock is None:
        return {}
    cam: CameraModel = dock.camera
    fields = {"width_px": cam.width_px, "height_px": cam.height_px, "hfov_deg": cam.hfov_deg, "name": cam.name}
    return {"camera_override": fields} if override else {"default_camera": fields}


def _statuses(flight_id: str, raw_keys: Sequence[str]) -> dict[str, str | None]:
    from storage.platform import database
    from storage.repositories import flights

    with database().unit_of_work() as session:
        out: dict[str, str | None] = {}
        for key in raw_keys:
            frame = flights.get_frame(session=session, frame_id=frame_id_for(flight_id, key))
            out[frame_id_for(flight_id, key)] = str(frame.status) if frame is not None else None
    return out
