"""One frame through the whole vision chain: sliced detection, then findings on the ground."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from vision.detections import Detections
from vision.detector import Detector
from vision.georef import Georeferencer, findings_from_detections
from vision.slicing import Merge, slice_infer
from vision.types import Finding


def analyse_frame(rgb: np.ndarray, *, detector: Detector, georef: Georeferencer, seen_at: datetime,
                  frame_id: str | None = None, model: str = "", full_frame: bool = True,
                  overlap: float = 0.2, merge: Merge = Merge.GREEDY_NMM) -> tuple[Detections, list[Finding]]:
    """Detections in frame pixels and the findings they become; the pipeline stores both plus evidence crops."""
    dets = slice_infer(rgb, detector, overlap_wh=(overlap, overlap), merge=merge, full_frame=full_frame)
    return dets, findings_from_detections(dets, georef, seen_at=seen_at, frame_id=frame_id, model=model)
