"""One frame through the whole vision chain: GSD-sized tiles, sliced detection, then findings on the ground."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from pyproj import Geod

from dockpatrol.taxonomy import CLASS_NAMES, REGION_CLASSES
from vision.detections import Detections
from vision.detector import Detector
from vision.georef import Georeferencer, findings_from_detections
from vision.registry import slice_wh_for_gsd
from vision.slicing import Merge, merge_detections, slice_infer
from vision.types import Finding

_GEOD = Geod(ellps="WGS84")
_REGION_CLASS_IDS = np.array([CLASS_NAMES.index(name) for name in sorted(REGION_CLASSES)])


def ground_sample_distance_m(georef: Georeferencer, *, width_px: int, height_px: int) -> float:
    """Ground metres per pixel at the image centre (mean of both axes), from the georeferencing itself.

    Works alike for tilted frames, frames over a DEM and orthophotos in any CRS.
    """
    cx, cy = width_px / 2.0, height_px / 2.0
    u = np.array([cx - 0.5, cx + 0.5, cx, cx])
    v = np.array([cy, cy, cy - 0.5, cy + 0.5])
    lon, lat = georef.pixels_to_lonlat(u, v)
    _, _, dist = _GEOD.inv(lon[[0, 2]], lat[[0, 2]], lon[[1, 3]], lat[[1, 3]])
    return float(np.mean(dist))


def tile_wh_for_frame(detector: Detector, frame_gsd_m: float | None) -> tuple[int, int] | None:
    """Tile size (frame pixels) that shows the detector objects at the scale it was trained at; None
    when the detector states no ground resolution (then its fixed ``tile_wh`` applies)."""
    input_gsd_m = getattr(detector, "input_gsd_m", None)
    if input_gsd_m is None or frame_gsd_m is None:
        return None
    return slice_wh_for_gsd(tuple(detector.input_wh), input_gsd_m=input_gsd_m, frame_gsd_m=frame_gsd_m)


def analyse_frame(rgb: np.ndarray, *, detector: Detector, georef: Georeferencer, seen_at: datetime,
                  frame_id: str | None = None, model: str = "", full_frame: bool = True,
                  overlap: float = 0.2, merge: Merge = Merge.GREEDY_NMM,
                  frame_gsd_m: float | None = None) -> tuple[Detections, list[Finding]]:
    """Detections in frame pixels and the findings they become; the pipeline stores both plus evidence crops.

    ``frame_gsd_m`` defaults to the GSD at the frame centre measured through ``georef``.
    """
    if frame_gsd_m is None and getattr(detector, "input_gsd_m", None) is not None:
        frame_gsd_m = ground_sample_distance_m(georef, width_px=rgb.shape[1], height_px=rgb.shape[0])
    dets = slice_infer(rgb, detector, slice_wh=tile_wh_for_frame(detector, frame_gsd_m), overlap_wh=(overlap, overlap),
                       merge=Merge.NONE, full_frame=full_frame)
    dets = merge_frame_detections(dets, merge=merge)
    return dets, findings_from_detections(dets, georef, seen_at=seen_at, frame_id=frame_id, model=model)


def merge_frame_detections(dets: Detections, *, merge: Merge = Merge.GREEDY_NMM) -> Detections:
    """One detection per thing in a frame: pieces of an object cut by tiles merged (``merge``), then
    overlapping detections of a region class (`REGION_CLASSES`) joined into one region.

    Tiles cut a site or a plume many times larger than a tile into pieces that each overlap only their
    neighbours; left apart, each piece would become a finding (and a ticket) of its own.
    """
    dets = merge_detections(dets, merge=merge)
    if merge is Merge.NONE:
        return dets
    region = np.isin(dets.class_id, _REGION_CLASS_IDS)
    if region.sum() < 2:
        return dets
    joined = Detections.merge([dets[~region], merge_detections(dets[region], merge=Merge.GREEDY_NMM, threshold=0.0)])
    return joined[np.argsort(-joined.confidence, kind="stable")]
