"""Evaluation of georeferenced findings against ground truth: per-class precision/recall and georef error.

Findings are matched to truth objects on the ground, not in pixels: a finding is a true positive
when its centroid lies within ``radius_m`` of an unmatched truth object of the same class or its
polygon overlaps one (IoU ≥ ``min_iou``). Truth objects mostly outside a frame are "don't care":
finding them is not a false positive, missing them is not a miss.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from dockpatrol.errors import GeorefError, InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import CLASS_NAMES
from vision.analyse import analyse_frame
from vision.detector import Detector
from vision.georef import FrameGeoref
from vision.types import Finding

#: Share of a truth object that must be inside the frame for it to count towards recall.
MIN_VISIBLE_FRACTION = 0.5


@dataclass(frozen=True)
class TruthItem:
    """A ground-truth object of one frame, as a metric polygon."""

    object_id: str
    class_name: str
    polygon_m: shapely.Polygon
    counts: bool  # False: mostly outside the frame, neither required nor penalised


@dataclass(frozen=True)
class FrameOutcome:
    """Matching result of one frame."""

    tp_by_class: dict[str, int]
    fp_by_class: dict[str, int]
    fn_by_class: dict[str, int]
    centroid_errors_m: list[float]
    dup_by_class: dict[str, int] = field(default_factory=dict)  # false positives that re-find a matched truth


@dataclass(frozen=True)
class ClassScore:
    class_name: str
    truths: int
    findings: int
    true_positives: int
    duplicates: int = 0

    @property
    def precision(self) -> float:
        return self.true_positives / self.findings if self.findings else math.nan

    @property
    def recall(self) -> float:
        return self.true_positives / self.truths if self.truths else math.nan


@dataclass(frozen=True)
class ErrorStats:
    """Distribution of distances in metres."""

    n: int
    median_m: float
    p90_m: float
    max_m: float

    @classmethod
    def of(cls, values: Iterable[float]) -> ErrorStats:
        a = np.asarray(list(values), dtype=float)
        if len(a) == 0:
            return cls(0, math.nan, math.nan, math.nan)
        return cls(len(a), float(np.median(a)), float(np.percentile(a, 90)), float(a.max()))


@dataclass(frozen=True)
class EvalReport:
    """Per-class scores of findings, finding-centroid errors and pure pixel→ground errors."""

    frames: int
    scores: dict[str, tuple[ClassScore, ...]]  # by pose used: noise_off/noise_on (twin), reported_pose
    finding_error: dict[str, ErrorStats]
    georef_error: dict[str, ErrorStats] = field(default_factory=dict)
    seconds_per_frame: float = math.nan
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def stats(s: ErrorStats) -> dict[str, float]:
            return {"n": s.n, "median_m": s.median_m, "p90_m": s.p90_m, "max_m": s.max_m}

        return {
            "frames": self.frames,
            "seconds_per_frame": self.seconds_per_frame,
            "classes": {key: {s.class_name: {"truths": s.truths, "findings": s.findings, "tp": s.true_positives,
                                             "duplicates": s.duplicates, "precision": s.precision,
                                             "recall": s.recall} for s in scores}
                        for key, scores in self.scores.items()},
            "finding_centroid_error": {k: stats(v) for k, v in self.finding_error.items()},
            "georef_error": {k: stats(v) for k, v in self.georef_error.items()},
            "notes": list(self.notes),
        }


def _metric_polygon(finding: Finding, projection: LocalProjection) -> shapely.Polygon:
    return projection.geometry_to_metric(finding.shape())


@dataclass(frozen=True)
class Assignment:
    """What one finding matched: a truth object, or nothing (a false positive; ``repeat`` when it re-finds
    an object another finding already matched)."""

    finding: Finding
    truth: TruthItem | None
    distance_m: float
    repeat: bool = False


def assign_findings(findings: Sequence[Finding], truths: Sequence[TruthItem], *, projection: LocalProjection,
                    radius_m: float = 3.0, min_iou: float = 0.3) -> list[Assignment]:
    """Greedy matching by descending score, class by class: each truth takes at most one finding."""
    out = []
    taken: set[str] = set()
    for f in sorted(findings, key=lambda f: -f.score):
        poly = _metric_polygon(f, projection)
        centre = poly.centroid
        best: TruthItem | None = None
        best_d = math.inf
        repeat = False
        for t in truths:
            if t.class_name != f.class_name:
                continue
            d = centre.distance(t.polygon_m.centroid)
            close = d <= radius_m or poly.intersects(t.polygon_m)
            if t.object_id in taken:
                repeat |= close
                continue
            inter = poly.intersection(t.polygon_m).area
            iou = inter / max(poly.union(t.polygon_m).area, 1e-9)
            if (d <= radius_m or iou >= min_iou) and d < best_d:
                best, best_d = t, d
        if best is not None:
            taken.add(best.object_id)
        out.append(Assignment(f, best, best_d, repeat and best is None))
    return out


def match_frame(findings: Sequence[Finding], truths: Sequence[TruthItem], *, projection: LocalProjection,
                radius_m: float = 3.0, min_iou: float = 0.3) -> FrameOutcome:
    """Per-class true positives, false positives (and repeats among them) and misses of one frame."""
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    dup: dict[str, int] = {}
    errors: list[float] = []
    taken: set[str] = set()
    for a in assign_findings(findings, truths, projection=projection, radius_m=radius_m, min_iou=min_iou):
        name = a.finding.class_name
        if a.truth is None:
            fp[name] = fp.get(name, 0) + 1
            if a.repeat:
                dup[name] = dup.get(name, 0) + 1
            continue
        taken.add(a.truth.object_id)
        if a.truth.counts:
            tp[name] = tp.get(name, 0) + 1
            errors.append(a.distance_m)
    for t in truths:
        if t.counts and t.object_id not in taken:
            fn[t.class_name] = fn.get(t.class_name, 0) + 1
    return FrameOutcome(tp, fp, fn, errors, dup)


def summarise(outcomes: Sequence[FrameOutcome]) -> tuple[ClassScore, ...]:
    scores = []
    for name in CLASS_NAMES:
        tp = sum(o.tp_by_class.get(name, 0) for o in outcomes)
        fp = sum(o.fp_by_class.get(name, 0) for o in outcomes)
        fn = sum(o.fn_by_class.get(name, 0) for o in outcomes)
        dup = sum(o.dup_by_class.get(name, 0) for o in outcomes)
        scores.append(ClassScore(name, truths=tp + fn, findings=tp + fp, true_positives=tp, duplicates=dup))
    return tuple(scores)


# -- imagery a user brings ------------------------------------------------------------------------


def load_truth(path: Path) -> list[dict[str, Any]]:
    """GeoJSON FeatureCollection (lon/lat) with a ``class`` property, optional ``appears_at``/``removed_at``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"truth file {path}: {exc}") from None
    if not isinstance(raw, dict) or raw.get("type") != "FeatureCollection":
        raise InvalidInput(f"truth file {path}: expected a GeoJSON FeatureCollection")
    out = []
    for i, feat in enumerate(raw.get("features", [])):
        props = feat.get("properties") or {}
        name = props.get("class")
        if name not in CLASS_NAMES:
            continue  # background and distractor kinds are not findings
        try:
            geom = shapely.geometry.shape(feat["geometry"])
        except (KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            raise InvalidInput(f"truth file {path}: feature {i} has no valid geometry ({exc})") from None
        out.append({"id": str(feat.get("id", props.get("id", i))), "class": name, "geometry": geom,
                    "appears_at": _when(props.get("appears_at")), "removed_at": _when(props.get("removed_at"))})
    return out


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def evaluate_images(detector: Detector, *, images: Path, truth: Path, model: str = "", radius_m: float = 3.0,
                    dock_altitude_m: float | None = None, full_frame: bool = True) -> EvalReport:
    """Score findings on a folder of georeferenced JPEGs against a GeoJSON truth file."""
    from vision.ingest import IngestedImage, ingest_file

    features = load_truth(truth)
    paths = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not paths:
        raise InvalidInput(f"no JPEG files in {images}")
    outcomes: list[FrameOutcome] = []
    notes: list[str] = []
    detect_s = 0.0
    for path in paths:
        item = ingest_file(path)
        if not isinstance(item, IngestedImage):
            notes.append(f"{path.name}: not a frame, skipped")
            continue
        try:
            pose = item.meta.pose(dock_altitude_m=dock_altitude_m)
        except GeorefError as exc:
            notes.append(f"{path.name}: {exc}")
            continue
        camera = item.meta.camera()
        projection = LocalProjection.around(pose.lon, pose.lat)
        georef = FrameGeoref.for_pose(camera, pose, projection=projection)
        seen_at = item.meta.captured_at or datetime.now().astimezone()
        started = time.perf_counter()
        _, findings = analyse_frame(item.rgb, detector=detector, georef=georef, seen_at=seen_at,
                                    frame_id=path.name, model=model, full_frame=full_frame)
        detect_s += time.perf_counter() - started
        w, h = camera.width_px, camera.height_px
        fx, fy = georef.pixels_to_metric(np.array([0.0, w, w, 0.0]), np.array([0.0, 0.0, h, h]))
        footprint = shapely.Polygon(np.column_stack([fx, fy]))
        truths = []
        for feat in features:
            if feat["appears_at"] and item.meta.captured_at and feat["appears_at"] > item.meta.captured_at:
                continue
            if feat["removed_at"] and item.meta.captured_at and feat["removed_at"] <= item.meta.captured_at:
                continue
            poly = projection.geometry_to_metric(feat["geometry"])
            inside = poly.intersection(footprint).area / max(poly.area, 1e-9)
            if inside > 0:
                truths.append(TruthItem(feat["id"], feat["class"], poly, inside >= MIN_VISIBLE_FRACTION))
        outcomes.append(match_frame(findings, truths, projection=projection, radius_m=radius_m))
    return EvalReport(
        frames=len(outcomes),
        scores={"reported_pose": summarise(outcomes)},
        finding_error={"reported_pose": ErrorStats.of(e for o in outcomes for e in o.centroid_errors_m)},
        seconds_per_frame=detect_s / max(1, len(outcomes)),
        notes=tuple(notes),
    )
