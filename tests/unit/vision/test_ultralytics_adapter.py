"""Adapter plumbing with a tiny randomly initialised YOLO: loading via a card, batching, letterbox, ONNX parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import vision.ultralytics_adapter as adapter
from dockpatrol.errors import InvalidInput, Unavailable
from dockpatrol.taxonomy import CLASS_NAMES
from vision.detector import Detector
from vision.registry import load_card


@pytest.fixture
def model_dir(random_model_dir: Path) -> Path:
    return random_model_dir


def write_card(d: Path, **overrides) -> Path:
    raw = {
        "name": "rand", "version": "0", "weights": "rand.pt", "input_size_px": 128,
        "synthetic_training_data": True,
        # a tiny threshold so an untrained network still returns rows to check
        "classes": [{"id": i, "name": c, "taxonomy": c, "threshold": 0.001} for i, c in enumerate(CLASS_NAMES)],
    }
    raw.update(overrides)
    path = d / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_detector_from_card_returns_detections_per_image(model_dir: Path) -> None:
    det = adapter.load_detector(load_card(write_card(model_dir)), backend=adapter.Backend.TORCH, batch_size=2)
    assert isinstance(det, Detector) and det.input_wh == (128, 128)
    assert det.model_names[0] == "steel_shed"
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (128, 128, 3), dtype=np.uint8) for _ in range(3)]
    images.append(rng.integers(0, 255, (150, 350, 3), dtype=np.uint8))  # letterboxed
    out = det(images)
    assert len(out) == 4
    assert any(len(d) for d in out)
    for d, im in zip(out, images, strict=True):
        assert d.xyxy.dtype == np.float32 and (d.class_id >= 0).all() and (d.class_id < len(CLASS_NAMES)).all()
        assert (d.xyxy[:, [0, 2]] <= im.shape[1]).all() and (d.xyxy[:, [1, 3]] <= im.shape[0]).all()
    # batching does not change results
    single = det([images[0]])[0]
    assert np.allclose(single.xyxy, out[0].xyxy, atol=1e-3)


def test_thresholds_and_ignored_classes_apply(model_dir: Path) -> None:
    raw_classes = [{"id": i, "name": c, "taxonomy": None if i else c, "threshold": 0.001}
                   for i, c in enumerate(CLASS_NAMES)]
    det = adapter.load_detector(load_card(write_card(model_dir, name="only0", classes=raw_classes)),
                                backend=adapter.Backend.TORCH)
    img = np.random.default_rng(3).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    assert set(det([img])[0].class_id.tolist()) <= {0}
    strict = [dict(c, threshold=1.0) for c in raw_classes]
    det = adapter.load_detector(load_card(write_card(model_dir, name="strict", classes=strict)),
                                backend=adapter.Backend.TORCH)
    assert len(det([img])[0]) == 0


def test_card_class_count_must_match_weights(model_dir: Path) -> None:
    classes = [{"id": 0, "name": "x", "taxonomy": "smoke", "threshold": 0.3}]
    with pytest.raises(InvalidInput, match="9 classes"):
        adapter.load_detector(load_card(write_card(model_dir, name="one", classes=classes)))


def test_missing_weights_and_onnx(model_dir: Path) -> None:
    with pytest.raises(Unavailable, match="missing"):
        adapter.load_detector(load_card(write_card(model_dir, name="gone", weights="gone.pt")))
    with pytest.raises(InvalidInput, match="ONNX"):
        adapter.load_detector(load_card(write_card(model_dir)), backend=adapter.Backend.ONNX)


def test_rejects_non_rgb_input(model_dir: Path) -> None:
    det = adapter.load_detector(load_card(write_card(model_dir)), backend=adapter.Backend.TORCH)
    with pytest.raises(InvalidInput, match="uint8 RGB"):
        det([np.zeros((256, 256), np.uint8)])


@pytest.mark.slow
def test_onnx_export_matches_torch(model_dir: Path) -> None:
    onnx = adapter.export_onnx(model_dir / "rand.pt", imgsz=128)
    card = load_card(write_card(model_dir, name="both", onnx=onnx.name))
    torch_det = adapter.load_detector(card, backend=adapter.Backend.TORCH)
    onnx_det = adapter.load_detector(card, backend=adapter.Backend.ONNX)
    assert onnx_det.model_names == torch_det.model_names
    imgs = [np.random.default_rng(i).integers(0, 255, (128, 128, 3), dtype=np.uint8) for i in range(2)]
    for a, b in zip(torch_det(imgs), onnx_det(imgs), strict=True):
        assert len(a) == len(b)
        assert np.allclose(a.xyxy, b.xyxy, atol=0.05) and np.allclose(a.confidence, b.confidence, atol=1e-4)


def test_loading_ultralytics_leaves_opencvs_threads_alone(tmp_path: Path) -> None:
    """Ultralytics' import turns OpenCV's threads off, which crashed OpenCV work running in other
    threads (SIGFPE); configured as the adapter does it, the import leaves them as they were."""
    import subprocess
    import sys

    script = ("import cv2, sys, pathlib; cv2.setNumThreads(3); from vision.offline import configure_ultralytics; "
              "configure_ultralytics(pathlib.Path(sys.argv[1])); import ultralytics; "
              "from vision.ultralytics_adapter import load_detector; print(cv2.getNumThreads())")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "3"
