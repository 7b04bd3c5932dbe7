"""The bundled demo model finds the taxonomy's objects on held-out twin frames (slow: real renders + inference)."""

from __future__ import annotations

import numpy as np
import pytest

from dockpatrol.camera import CameraModel
from dockpatrol.taxonomy import CLASS_NAMES
from vision.detections import box_iou
from vision.registry import DEFAULT_CARD, check_files, require_card

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector():
    import vision.ultralytics_adapter as adapter

    card = require_card(DEFAULT_CARD)
    check_files(card)
    assert card.synthetic_training_data and "synthetic" in card.description.lower()
    return adapter.load_detector(card)


def test_bundled_card_is_complete() -> None:
    card = require_card(DEFAULT_CARD)
    assert set(card.taxonomy_classes) == set(CLASS_NAMES)
    assert card.weights_path.stat().st_size <= 10 * 1024 * 1024
    per_class = card.metrics["per_class"]
    assert set(per_class) == set(CLASS_NAMES) and all("map50" in v for v in per_class.values())


def test_bundled_model_finds_objects_on_held_out_twin_frames(detector, twin_world) -> None:
    from sim.camera import render_frame
    from sim.evaluate import twin_views
    from vision.slicing import slice_infer

    cam = CameraModel(4000, 3000, 73.7)
    hits = truths = 0
    for i, view in enumerate(twin_views(twin_world, frames=3, seed=21, camera=cam)):
        frame = render_frame(twin_world, cam, view.pose, view.at, seed=i, pose_noise=False)
        dets = slice_infer(frame.rgb, detector)
        for obj in frame.objects:
            if obj.visible_fraction < 0.5:
                continue
            truths += 1
            same = dets[dets.class_id == CLASS_NAMES.index(obj.class_name)]
            if len(same) and box_iou(np.array([obj.xyxy_px], np.float32), same.xyxy).max() >= 0.3:
                hits += 1
    assert truths >= 3
    assert hits / truths >= 0.5, f"found {hits} of {truths} objects"
