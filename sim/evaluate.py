"""Twin scoring: render held-out frames of the digital twin, detect, georeference, score against its truth.

The matching and the report are production code (``vision.evaluate``); what lives here needs the
twin: poses over its violations, its ground truth per frame and its known object heights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import GeorefError, InvalidInput
from pipeline.patrol import PatrolOptions, objects_of
from sim.camera import render_frame
from sim.world import DEMO_OFFSET, RAISED_KINDS, World
from vision.analyse import analyse_frame
from vision.detector import Detector
from vision.evaluate import (
    MIN_VISIBLE_FRACTION,
    ErrorStats,
    EvalReport,
    FrameOutcome,
    TruthItem,
    match_frame,
    summarise,
)
from vision.georef import FrameGeoref, findings_from_detections
from vision.types import Finding


def reported_objects(findings: list[Finding], *, radius_m: float | None = None) -> list[Finding]:
    """The objects a patrol reports for these findings: grouped as `pipeline.patrol.sightings_of_flight`
    groups a flight's findings, each object shown by its surest view."""
    radius = PatrolOptions().match_radius_m if radius_m is None else radius_m
    return [findings[group[0]] for group in objects_of(findings, radius_m=radius)]


@dataclass(frozen=True)
class TwinView:
    pose: GeoPose
    at: datetime


def twin_views(world: Any, *, frames: int, seed: int, altitude_m: float = 60.0,
               camera: CameraModel | None = None, max_tilt_deg: float = 0.0) -> list[TwinView]:
    """Poses over violations of ``world``, each at a random daytime moment, heading and offset."""
    camera = camera or CameraModel()
    rng = np.random.default_rng([seed, 9001])
    fw, fh = camera.footprint_m(altitude_m)
    out = []
    for _ in range(frames * 20):
        if len(out) == frames:
            break
        at = world.epoch + DEMO_OFFSET + timedelta(hours=float(rng.uniform(-3.0, 3.0)))
        present = world.violations_at(at)
        if not present:
            continue
        target = present[int(rng.integers(len(present)))].polygon.centroid
        x = target.x + rng.uniform(-0.35, 0.35) * fw
        y = target.y + rng.uniform(-0.35, 0.35) * fh
        lon, lat = world.projection.to_lonlat(x, y)
        pitch = -90.0 + float(rng.uniform(0.0, max_tilt_deg))
        out.append(TwinView(GeoPose(lon=float(lon), lat=float(lat), altitude_m=altitude_m,
                                    yaw_deg=float(rng.uniform(-180, 180)), pitch_deg=pitch), at))
    return out


def visible_truths(world: Any, frame: Any) -> list[TruthItem]:
    """The twin's truth for one rendered frame: its objects, those visible enough counting towards recall."""
    return [TruthItem(v.object_id, v.class_name, world.require(v.object_id).polygon,
                      v.visible_fraction >= MIN_VISIBLE_FRACTION) for v in frame.objects]


def pixel_georef_errors(world: Any, frame: Any, pose: GeoPose, *, known_heights: bool = False) -> list[float]:
    """Centroid distance between each visible object's true pixel outline taken to the ground via ``pose``
    and its true ground polygon: the error georeferencing itself adds, with no detector involved.

    The outline is the object's top, so on flat ground raised objects (sheds, rooftop additions) carry
    parallax; ``known_heights`` intersects with the object's own top height instead (a pure round trip).
    """
    errors = []
    for v in frame.objects:
        if v.visible_fraction < 0.999:
            continue  # a clipped outline has another centroid
        obj = world.require(v.object_id)
        top_z = obj.base_z_m + (obj.height_m if obj.kind in RAISED_KINDS else 0.0)
        georef = FrameGeoref.for_pose(frame.camera, pose, projection=world.projection,
                                      ground_z_m=top_z if known_heights else 0.0)
        ring = np.asarray(v.polygon_px, dtype=float)
        try:
            x, y = georef.pixels_to_metric(ring[:, 0], ring[:, 1])
        except GeorefError:
            continue
        ground = shapely.Polygon(np.column_stack([x, y])).buffer(0)
        errors.append(float(ground.centroid.distance(world.require(v.object_id).polygon.centroid)))
    return errors


def evaluate_twin(detector: Detector, *, seed: int, frames: int, model: str = "", altitude_m: float = 60.0,
                  radius_m: float = 3.0, camera: CameraModel | None = None, full_frame: bool = True,
                  max_tilt_deg: float = 0.0, objects: bool = False) -> EvalReport:
    """Render held-out frames of the twin world ``seed``, detect, georeference, score against its truth.

    The renderer draws with the true pose and reports a noisy one, so each frame is scored twice:
    georeferenced with the true pose (pose noise off) and with the reported pose (noise on).
    ``objects`` scores what a patrol reports (`reported_objects`) instead of every finding.
    """
    if frames < 1:
        raise InvalidInput(f"frames must be at least 1, got {frames}")
    world = World.generate(seed=seed)
    camera = camera or CameraModel()
    views = twin_views(world, frames=frames, seed=seed, altitude_m=altitude_m, camera=camera,
                       max_tilt_deg=max_tilt_deg)
    outcomes: dict[str, list[FrameOutcome]] = {"noise_off": [], "noise_on": []}
    pixel_errors: dict[str, list[float]] = {"noise_off": [], "noise_on": []}
    detect_s = 0.0
    for i, view in enumerate(views):
        frame = render_frame(world, camera, view.pose, view.at, seed=seed * 1000 + i, pose_noise=True)
        truths = visible_truths(world, frame)
        started = time.perf_counter()
        dets = None
        for key, pose in (("noise_off", frame.true_pose), ("noise_on", frame.reported_pose)):
            georef = FrameGeoref.for_pose(camera, pose, projection=world.projection)
            if dets is None:
                dets, findings = analyse_frame(frame.rgb, detector=detector, georef=georef, seen_at=view.at,
                                               frame_id=f"twin-{seed}-{i}", model=model, full_frame=full_frame)
                detect_s += time.perf_counter() - started
            else:
                findings = findings_from_detections(dets, georef, seen_at=view.at, frame_id=f"twin-{seed}-{i}",
                                                    model=model)
            scored = reported_objects(findings) if objects else findings
            outcomes[key].append(match_frame(scored, truths, projection=world.projection, radius_m=radius_m))
            pixel_errors[key].extend(pixel_georef_errors(world, frame, pose))
    return EvalReport(
        frames=len(views),
        scores={k: summarise(v) for k, v in outcomes.items()},
        finding_error={k: ErrorStats.of(e for o in v for e in o.centroid_errors_m) for k, v in outcomes.items()},
        georef_error={k: ErrorStats.of(v) for k, v in pixel_errors.items()},
        seconds_per_frame=detect_s / max(1, len(views)),
        notes=(f"twin world seed {seed}, {altitude_m:.0f} m AGL; noise_off georeferences with the true pose, "
               "noise_on with the reported (noisy) one",
               f"match: same class, centroid within {radius_m} m or IoU >= 0.3",
               "scored: objects as a patrol reports them (a frame's findings of one class within "
               f"{PatrolOptions().match_radius_m:g} m grouped, the surest view kept)" if objects else
               "scored: every finding (a patrol groups them into objects before anyone sees them)"),
    )
