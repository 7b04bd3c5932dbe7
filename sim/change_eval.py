"""Change detection scored on twin epochs: two patrols of one area, objects appear, vanish and grow between.

The world is frozen at t0 (what exists then exists for good), then chosen violations vanish,
absent ones appear and some grow at a moment between the patrols; the patrols fly the same
survey, laid out and overlapped as the planner lays out a patrol, at different days and hours
(other sun, exposure, white balance, haze and pose noise). Their frames are rendered, mosaicked
from the reported poses with ``vision.mosaic``, compared with ``vision.change``, and the changes
are scored against the twin's truth. An illumination-only pair (same frozen world, other day and
hour) measures false alarms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import shape

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import InvalidInput
from missions.planner import PlanOptions
from sim.camera import render_frame
from sim.world import DEMO_OFFSET, RAISED_KINDS, World, WorldObject
from vision.change import ChangeEvent, ChangeSet, ChangeSettings, compare_mosaics
from vision.mosaic import MosaicFrame, MosaicGrid, MosaicResult, build_mosaic

#: Changes smaller than this are neither required (recall) nor counted against (precision).
SCORED_MIN_AREA_M2 = 4.0
#: Absolute placement error allowed to a GNSS-only mosaic (pose noise of the first frames carries
#: through); change detection is relative, scoring against the twin's true coordinates is not.
POSITION_TOLERANCE_M = 3.0
#: Things the renderer animates with time (plumes drift, haze shifts, flames flicker): a prediction
#: over one of them is neither right nor wrong, so it is left out of precision.
TIME_VARYING_KINDS = frozenset({"smoke", "steam", "haze", "open_fire"})


@dataclass(frozen=True)
class TruthChange:
    """A change the twin made: which object, how, and the ground region that changed (UTM polygon)."""

    object_id: str
    class_name: str
    kind: str
    region: Any
    height_m: float
    base_z_m: float = 0.0


@dataclass(frozen=True)
class EvalScore:
    truth: int
    detected: int
    predictions: int
    true_predictions: int
    missed: tuple[TruthChange, ...]

    @property
    def recall(self) -> float:
        return self.detected / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.true_predictions / self.predictions if self.predictions else 1.0


@dataclass(frozen=True)
class PairResult:
    """One compared pair: mosaics, the change set and, for a changed pair, the truth and its score."""

    before: MosaicResult
    after: MosaicResult
    changes: ChangeSet
    truth: tuple[TruthChange, ...]
    score: EvalScore
    projection_epsg: int
    cut_by_seams: tuple[str, ...] = ()  # truth changes the mosaics' seams cut away (see cut_by_seams)


def frozen_at(world: World, at: datetime) -> World:
    """The world as it is at ``at``, for good: present objects never go, absent ones never come."""
    keep = tuple(replace(o, appears_at=world.epoch - timedelta(days=3650), removed_at=None)
                 for o in world.objects if o.present_at(at))
    return replace(world, objects=keep, _cache={})


def with_changes(world: World, *, source: World, at: datetime, bounds_m: tuple[float, float, float, float],
                 appear: int, vanish: int, grow: int, seed: int,
                 grow_scale: float = 1.6) -> tuple[World, tuple[TruthChange, ...]]:
    """``world`` (frozen) with violations inside ``bounds_m`` changed at ``at``; returns it with the truth.

    Appearing objects come from ``source`` (the unfrozen world): violations that exist there at some
    time but not in ``world``. Grown objects are replaced by a copy scaled by ``grow_scale`` about
    their centroid (the grown ring is the change).
    """
    rng = np.random.default_rng([seed, 13])
    inner = shapely.box(*bounds_m).buffer(-10.0)
    present = [o for o in world.objects if o.is_violation and inner.contains(o.polygon)
               and o.polygon.area >= SCORED_MIN_AREA_M2 and o.kind not in ("smoke", "open_fire")]
    absent_ids = {o.id for o in world.objects}
    candidates = [o for o in source.objects if o.is_violation and o.id not in absent_ids
                  and inner.contains(o.polygon) and o.polygon.area >= SCORED_MIN_AREA_M2
                  and o.kind not in ("smoke", "open_fire")]
    order = [present[i] for i in rng.permutation(len(present))]
    vanishing, growing = order[:vanish], [o for o in order[vanish:] if o.parent_id is None][:grow]
    appearing = [candidates[i] for i in rng.permutation(len(candidates))[:appear]]
    gone = {o.id for o in vanishing} | {o.id for o in growing}
    objects = [replace(o, removed_at=at) if o.id in gone else o for o in world.objects]
    truth = [TruthChange(o.id, o.kind, "vanished", o.polygon, _height(o), o.base_z_m) for o in vanishing]
    for o in appearing:
        objects.append(replace(o, appears_at=at, removed_at=None))
        truth.append(TruthChange(o.id, o.kind, "appeared", o.polygon, _height(o), o.base_z_m))
    for o in growing:
        big = affinity.scale(o.polygon, grow_scale, grow_scale, origin="centroid")
        objects.append(replace(o, id=f"{o.id}-grown", polygon=big, appears_at=at, removed_at=None))
        truth.append(TruthChange(o.id, o.kind, "grew", big.difference(o.polygon), _height(o), o.base_z_m))
    return replace(world, objects=tuple(objects), _cache={}), tuple(truth)


def _height(o: WorldObject) -> float:
    return o.height_m if o.kind in RAISED_KINDS else 0.0


def as_seen(truth: Sequence[TruthChange], *, world: World, poses: Sequence[GeoPose],
            camera: CameraModel) -> tuple[TruthChange, ...]:
    """The truth where a flat-ground mosaic shows it: raised things (a rooftop addition 15 m up) lean
    away from the nadir of the frame that shows them, by metres. Each region becomes the union of its
    base and top as the most nadir frame over it projects them onto the ground plane (as the mosaic does).
    """
    from shapely import Polygon

    from dockpatrol.camera import ground_to_pixels, pixels_to_ground

    metric = [p.to_metric(world.projection) for p in poses]
    out = []
    for t in truth:
        if t.base_z_m + t.height_m <= 0.0:
            out.append(t)
            continue
        c = t.region.centroid
        best, best_w = None, -1.0
        for pose in metric:
            nadir = _nadirness(camera, pose, c.x, c.y, t.base_z_m + t.height_m)
            if nadir > best_w:
                best, best_w = pose, nadir
        if best is None or best_w <= 0:
            out.append(t)
            continue
        parts = [t.region]
        for z in (t.base_z_m, t.base_z_m + t.height_m):
            pieces = []
            for poly in getattr(t.region, "geoms", [t.region]):
                xy = np.asarray(poly.exterior.coords)
                u, v = ground_to_pixels(camera, best, xy[:, 0], xy[:, 1], z)
                gx, gy = pixels_to_ground(camera, best, u, v)
                pieces.append(Polygon(np.column_stack([gx, gy])).buffer(0))
            parts.append(shapely.union_all(pieces))
        seen = shapely.union_all(parts[1:])
        out.append(replace(t, region=seen if not seen.is_empty else t.region))
    return tuple(out)


def _nadirness(camera: CameraModel, pose: Any, x_m: float, y_m: float, z_m: float) -> float:
    """How central the point (x, y, z) lies in the frame of a metric ``pose``: 1 at the centre, 0 at the
    edge, negative outside (the mosaic's nadir weight); -inf where the camera cannot see it."""
    from dockpatrol.camera import ground_to_pixels

    u, v = ground_to_pixels(camera, pose, np.array([x_m]), np.array([y_m]), z_m)
    value = min(1 - abs(2 * float(u[0]) / camera.width_px - 1), 1 - abs(2 * float(v[0]) / camera.height_px - 1))
    return value if math.isfinite(value) else -math.inf


def cut_by_seams(truth: Sequence[TruthChange], *, world: World, poses: Sequence[GeoPose],
                 camera: CameraModel) -> tuple[str, ...]:
    """Raised changes a most-nadir flat-ground mosaic cuts away: ids of those whose top no frame keeps.

    Each frame shows the top of a raised thing where its ray meets the ground, displaced away from
    the frame's nadir; the mosaic keeps it there only if that frame is the most nadir one for that
    ground. At a seam each frame's depiction lands on the other frame's side and none is kept, in
    both patrols alike: no comparison of the mosaics can find the change. Judged at the planned poses
    for the centre of the top.
    """
    from dockpatrol.camera import ground_to_pixels, pixels_to_ground

    metric = [p.to_metric(world.projection) for p in poses]
    cut = []
    for t in truth:
        z = t.base_z_m + t.height_m
        if z <= 0.0:
            continue
        c = t.region.centroid
        shown = False
        for pose in metric:
            own = _nadirness(camera, pose, c.x, c.y, z)
            if own <= 0:
                continue
            u, v = ground_to_pixels(camera, pose, np.array([c.x]), np.array([c.y]), z)
            gx, gy = pixels_to_ground(camera, pose, u, v)
            if all(_nadirness(camera, other, float(gx[0]), float(gy[0]), 0.0) <= own
                   for other in metric if other is not pose):
                shown = True
                break
        if not shown:
            cut.append(t.object_id)
    return tuple(cut)


def survey_poses(world: World, *, bounds_m: tuple[float, float, float, float], camera: CameraModel,
                 altitude_m: float, front_overlap: float = PlanOptions.front_overlap,
                 side_overlap: float = PlanOptions.side_overlap,
                 run_on_m: float = PlanOptions.turnaround_m) -> list[GeoPose]:
    """Nadir poses of a survey of ``bounds_m`` laid out as the planner lays one out (``missions.planner.lawnmower``).

    Lines run north–south, ``1 - side_overlap`` of a footprint width apart and centred on the area,
    so the outer lines see past its edges; each is triggered every ``1 - front_overlap`` of a
    footprint height from ``run_on_m`` before the area to ``run_on_m`` past it.
    """
    fw, fh = camera.footprint_m(altitude_m)
    minx, miny, maxx, maxy = bounds_m
    spacing_m, trigger_m = fw * (1 - side_overlap), fh * (1 - front_overlap)
    lines = max(1, math.ceil((maxx - minx) / spacing_m - 1e-9))
    xs = (minx + maxx) / 2 + (np.arange(lines) - (lines - 1) / 2) * spacing_m
    shots = math.floor((maxy - miny + 2 * run_on_m) / trigger_m + 1e-9) + 1
    ys = miny - run_on_m + np.arange(shots) * trigger_m
    poses = []
    for k, x in enumerate(xs):
        for y in ys if k % 2 == 0 else ys[::-1]:
            lon, lat = world.projection.to_lonlat(float(x), float(y))
            poses.append(GeoPose(lon=float(lon), lat=float(lat), altitude_m=altitude_m))
    return poses


def patrol_mosaic(world: World, *, poses: Sequence[GeoPose], camera: CameraModel, at: datetime, grid: MosaicGrid,
                  path: Path, seed: int = 0, reference: Path | None = None) -> MosaicResult:
    """Render the patrol's frames at ``at`` and mosaic them from their reported (noisy) poses."""
    frames = []
    for i, pose in enumerate(poses):
        shot = render_frame(world, camera, pose, at + timedelta(seconds=4 * i), seed=seed + i)
        frames.append(MosaicFrame(frame_id=f"{i:04d}", pose=shot.reported_pose, camera=camera,
                                  load=lambda rgb=shot.rgb: rgb))
    return build_mosaic(frames, grid, path=path, tile_px=1024, reference=reference)


def score_changes(events: Sequence[ChangeEvent], truth: Sequence[TruthChange], *, epsg: int,
                  compared_m: Any | None = None, min_area_m2: float = SCORED_MIN_AREA_M2,
                  unscored_m: Sequence[Any] = ()) -> EvalScore:
    """Recall over truth changes ≥ ``min_area_m2`` that both patrols saw; precision over predictions ≥ it.

    A truth change is detected when a prediction covers 30 % of it or lies half inside it; a
    prediction is true when it touches a changed object or the shadow that object casts
    (grown by 1 m plus 1.5 × its height). A prediction that is not true and lies mostly over
    ``unscored_m`` (time-varying translucent objects) is neither right nor wrong and not counted;
    one that finds a change under smoke still finds it. Truth is grown by ``POSITION_TOLERANCE_M``
    for both tests, the absolute accuracy of a mosaic placed by GNSS alone.
    """
    from dockpatrol.geo import LocalProjection

    projection = LocalProjection(epsg)
    preds = [projection.geometry_to_metric(shape(e.geometry)) for e in events if e.area_m2 >= min_area_m2]
    scored = [t for t in truth if t.region.area >= min_area_m2
              and (compared_m is None or compared_m.covers(t.region.representative_point()))]
    detected, missed = 0, []
    for t in scored:
        near = t.region.buffer(POSITION_TOLERANCE_M)
        hit = any(p.intersects(near) and (p.intersection(near).area >= 0.3 * t.region.area
                                          or p.intersection(near).area >= 0.5 * p.area) for p in preds)
        detected += hit
        if not hit:
            missed.append(t)
    zones = [t.region.buffer(POSITION_TOLERANCE_M + 1.0 + 1.5 * t.height_m) for t in truth]
    true = [any(p.intersects(z) for z in zones) for p in preds]
    veil = shapely.union_all(list(unscored_m)) if unscored_m else None
    counted = [hit or veil is None or p.intersection(veil).area < 0.5 * p.area
               for p, hit in zip(preds, true, strict=True)]
    return EvalScore(truth=len(scored), detected=detected, predictions=sum(counted), true_predictions=sum(true),
                     missed=tuple(missed))


def evaluate_pair(*, seed: int, workdir: Path, size_m: float = 240.0, appear: int = 4, vanish: int = 4,
                  grow: int = 3, illumination_only: bool = False, frame_width_px: int = 1600,
                  frame_gsd_m: float = 0.08, mosaic_gsd_m: float = 0.1, front_overlap: float = PlanOptions.front_overlap,
                  side_overlap: float = PlanOptions.side_overlap,
                  settings: ChangeSettings | None = None) -> PairResult:
    """Render, mosaic and compare two patrols of a ``size_m`` square at the world's busiest place."""
    if not 60.0 <= size_m <= 1000.0:
        raise InvalidInput(f"evaluation area side must be within 60..1000 m, got {size_m}")
    cfg = settings or ChangeSettings()
    source = World.generate(seed=seed, size_m=max(600.0, size_m + 200.0))
    t0 = source.epoch + DEMO_OFFSET
    # Another day, two hours earlier: lower sun, longer shadows, another exposure and white balance.
    t1 = t0 + timedelta(days=21, hours=-2)
    lon, lat = source.hotspots(at=t0, limit=1)[0]
    cx, cy = (float(v) for v in source.projection.to_metric(lon, lat))
    half = size_m / 2
    bounds = (cx - half, cy - half, cx + half, cy + half)
    before_world = frozen_at(source, t0)
    truth: tuple[TruthChange, ...] = ()
    after_world = before_world
    if not illumination_only:
        after_world, truth = with_changes(before_world, source=source, at=t0 + timedelta(days=10), bounds_m=bounds,
                                          appear=appear, vanish=vanish, grow=grow, seed=seed)
    camera = CameraModel().scaled(frame_width_px)
    altitude = camera.altitude_for_gsd_m(frame_gsd_m)
    poses = survey_poses(source, bounds_m=bounds, camera=camera, altitude_m=altitude, front_overlap=front_overlap,
                         side_overlap=side_overlap)
    grid = MosaicGrid.for_bounds(epsg=source.projection.epsg, bounds_m=bounds, gsd_m=mosaic_gsd_m)
    workdir.mkdir(parents=True, exist_ok=True)
    m0 = patrol_mosaic(before_world, poses=poses, camera=camera, at=t0, grid=grid, path=workdir / "before.tif",
                       seed=seed * 1000)
    m1 = patrol_mosaic(after_world, poses=poses, camera=camera, at=t1, grid=grid, path=workdir / "after.tif",
                       seed=seed * 1000 + 500, reference=m0.path)
    changes = compare_mosaics(m0.path, m1.path, settings=cfg)
    compared = shapely.box(*bounds).buffer(-2.0)
    cut = cut_by_seams(truth, world=source, poses=poses, camera=camera)
    truth = as_seen(truth, world=source, poses=poses, camera=camera)
    veils = [o.polygon.buffer(2.0) for o in before_world.objects_in(bounds) if o.kind in TIME_VARYING_KINDS]
    score = score_changes(changes.events, truth, epsg=source.projection.epsg, compared_m=compared, unscored_m=veils)
    return PairResult(before=m0, after=m1, changes=changes, truth=truth, score=score,
                      projection_epsg=source.projection.epsg, cut_by_seams=cut)


def summary(results: Sequence[PairResult]) -> dict[str, Any]:
    """Pooled recall and precision over changed pairs and the false-alarm count of illumination-only pairs."""
    changed = [r for r in results if r.truth]
    lit = [r for r in results if not r.truth]
    truth = sum(r.score.truth for r in changed)
    detected = sum(r.score.detected for r in changed)
    preds = sum(r.score.predictions for r in changed)
    true_preds = sum(r.score.true_predictions for r in changed)
    return {
        "pairs": len(changed), "truth_changes": truth, "detected": detected,
        "recall": round(detected / truth, 3) if truth else None,
        "predictions": preds, "true_predictions": true_preds,
        "precision": round(true_preds / preds, 3) if preds else None,
        "illumination_pairs": len(lit),
        "illumination_changes": [r.score.predictions for r in lit],
        "missed": [f"{t.kind} {t.class_name} {t.object_id} ({t.region.area:.1f} m²)"
                   + (", cut away by the mosaic seams" if t.object_id in r.cut_by_seams else "")
                   for r in changed for t in r.score.missed],
        "missed_cut_by_seams": sum(t.object_id in r.cut_by_seams for r in changed for t in r.score.missed),
    }


def _positive_m(text: str) -> float:
    """An argparse type: a positive, finite number of metres."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of metres, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of metres, got {text}")
    return value


def _overlap(text: str) -> float:
    """An argparse type: an overlap fraction in [0, 0.95]."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an overlap fraction such as 0.75, got {text!r}") from None
    if not 0.0 <= value <= 0.95:
        raise argparse.ArgumentTypeError(f"overlap must be within 0..0.95, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sim.change_eval --seeds 1-8``: pooled scores over changed and illumination-only pairs."""
    import argparse
    import json
    import tempfile

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--seeds", default="1-8", help="world seeds, e.g. 1-8 or 1,3,5")
    ap.add_argument("--size-m", type=float, default=240.0, help="side of each compared square, metres")
    # The defaults fly coarse (8 cm frames, 10 cm mosaic) to keep the run short; patrol areas default to
    # 2.5–3 cm, where fine structure such as roof ribs is resolved and the light looks different.
    ap.add_argument("--frame-gsd-m", type=_positive_m, default=0.08, help="frame GSD of both patrols, metres")
    ap.add_argument("--mosaic-gsd-m", type=_positive_m, default=0.1, help="GSD of both mosaics, metres")
    ap.add_argument("--front-overlap", type=_overlap, default=PlanOptions.front_overlap,
                    help="overlap of frames along a line (default: the planner's)")
    ap.add_argument("--side-overlap", type=_overlap, default=PlanOptions.side_overlap,
                    help="overlap of neighbouring lines (default: the planner's)")
    args = ap.parse_args(argv)
    if "-" in args.seeds:
        lo, hi = (int(v) for v in args.seeds.split("-", 1))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(v) for v in args.seeds.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="change-eval-") as tmp:
        for seed in seeds:
            for lit in (False, True):
                results.append(evaluate_pair(seed=seed, workdir=Path(tmp) / f"{seed}-{int(lit)}", size_m=args.size_m,
                                             illumination_only=lit, frame_gsd_m=args.frame_gsd_m,
                                             front_overlap=args.front_overlap, side_overlap=args.side_overlap,
                                             mosaic_gsd_m=args.mosaic_gsd_m))
    print(json.dumps(summary(results), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
