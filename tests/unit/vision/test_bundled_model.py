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


def test_int8_quantisation_keeps_the_detections(detector, twin_world, tmp_path) -> None:
    """Static INT8 (detect-head decoding kept in float) finds what the float model finds on the same tiles."""
    import dataclasses

    from sim.camera import render_frame
    from sim.evaluate import twin_views
    from vision.slicing import model_tiles
    from vision.ultralytics_adapter import Backend, _detect_head_decoding, load_detector, quantize_onnx_int8

    card = require_card(DEFAULT_CARD)
    cam = CameraModel(4000, 3000, 73.7).scaled(2000)  # tiles at the model's own scale, no resize
    views = twin_views(twin_world, frames=3, seed=31, camera=cam)
    frames = [render_frame(twin_world, cam, v.pose, v.at, seed=i, pose_noise=False).rgb for i, v in enumerate(views)]
    tiles = model_tiles(frames, input_wh=(320, 320), slice_wh=(320, 320), count=160, seed=0)
    excluded = _detect_head_decoding(card.onnx_path)
    assert any("Sigmoid" in n for n in excluded) and not any(n.endswith("/cv2.0/cv2.0.0/conv/Conv") for n in excluded)
    path = quantize_onnx_int8(card.onnx_path, tmp_path / "int8.onnx", calibration_tiles=tiles)
    int8 = load_detector(dataclasses.replace(card, onnx_int8_path=path), backend=Backend.ONNX_INT8)
    fp32 = load_detector(card, backend=Backend.ONNX)
    found = agreed = 0
    for a, b in zip(fp32(tiles), int8(tiles), strict=True):
        for box, cls in zip(a.xyxy, a.class_id, strict=True):
            found += 1
            same = b[b.class_id == cls]
            agreed += bool(len(same) and box_iou(box[None], same.xyxy).max() >= 0.5)
    assert found >= 5
    assert agreed / found >= 0.8, f"INT8 kept {agreed} of {found} float detections"
