"""Sliced inference on 4000×3000 twin frames: dockpatrol's `slice_infer` against SAHI's `get_sliced_prediction`.

Same weights, same frames, same tiles (640 frame px, 0.2 overlap, full-frame pass, greedy NMM on
IoS 0.5, class-aware), same run. Prints throughput of each and their ratio, recall of each against
the twin's ground truth, our per-frame wall time ÷ pure model forward time over the same inputs,
and the peak memory of a fresh process that detects in one frame. Our backends: PyTorch, float
ONNX Runtime and INT8 ONNX Runtime (the card's ``onnx_int8``, or one quantised in this run on
tiles of another twin world); the INT8 line states its recall cost against the float model.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_sliced.py [--frames 8] [--card models/dockpatrol-demo-yolo11n.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from peak_memory import peak_rss_mb  # noqa: E402

from dockpatrol.camera import CameraModel  # noqa: E402
from dockpatrol.taxonomy import CLASS_NAMES  # noqa: E402
from vision.detections import Detections, box_iou  # noqa: E402
from vision.registry import DEFAULT_CARD, ModelCard, load_card, require_card  # noqa: E402
from vision.slicing import cut_tiles, slice_infer, tile_grid  # noqa: E402
from vision.ultralytics_adapter import Backend, UltralyticsDetector, load_detector  # noqa: E402

OVERLAP = 0.2
MATCH_IOU = 0.3


def render_frames(n: int, seed: int) -> list:
    from sim.camera import render_frame
    from sim.evaluate import twin_views
    from sim.world import World

    world = World.generate(seed=seed)
    cam = CameraModel(4000, 3000, 73.7)
    return [render_frame(world, cam, v.pose, v.at, seed=i, pose_noise=False)
            for i, v in enumerate(twin_views(world, frames=n, seed=seed, camera=cam))]


def recall(dets: Detections, frame) -> tuple[int, int, int]:
    """(matched truths, truths, detections): same class and box IoU ≥ MATCH_IOU, one-to-one."""
    truths = [o for o in frame.objects if o.visible_fraction >= 0.5]
    used: set[int] = set()
    hit = 0
    for t in truths:
        cls = CLASS_NAMES.index(t.class_name)
        cand = np.flatnonzero(dets.class_id == cls)
        cand = [int(i) for i in cand if int(i) not in used]
        if not cand:
            continue
        iou = box_iou(np.array([t.xyxy_px], np.float32), dets.xyxy[cand])[0]
        j = int(np.argmax(iou))
        if iou[j] >= MATCH_IOU:
            used.add(cand[j])
            hit += 1
    return hit, len(truths), len(dets)


def int8_card(card: ModelCard, workdir: Path, *, seed: int, tiles: int) -> ModelCard:
    """The card with an INT8 ONNX model: its own ``onnx_int8`` if it names one, else quantised now on
    model-sized tiles of twin world ``seed`` (not the world the bench scores on)."""
    import dataclasses

    from vision.ultralytics_adapter import quantize_onnx_int8

    if card.onnx_int8_path is not None and card.onnx_int8_path.is_file():
        return card
    started = time.perf_counter()
    calibration = calibration_tiles(card, seed=seed, count=tiles)
    path = quantize_onnx_int8(card.onnx_path, workdir / "int8.onnx", calibration_tiles=calibration)
    print(f"quantised {card.onnx_path.name} to INT8 on {len(calibration)} tiles of twin world {seed} in "
          f"{time.perf_counter() - started:.0f} s")
    return dataclasses.replace(card, onnx_int8_path=path)


def calibration_tiles(card: ModelCard, *, seed: int, count: int) -> np.ndarray:
    """Model-sized tiles of 4000x3000 twin frames of world ``seed``, as `slice_infer` feeds them."""
    from sim.camera import render_frame
    from sim.evaluate import twin_views
    from sim.world import World
    from vision.slicing import model_tiles

    world = World.generate(seed=seed, size_m=800.0)
    cam = CameraModel(4000, 3000, 73.7)
    views = twin_views(world, frames=max(1, count // 40), seed=seed, camera=cam)
    frames = (render_frame(world, cam, v.pose, v.at, seed=i, pose_noise=False).rgb for i, v in enumerate(views))
    side = card.input_size_px
    return model_tiles(frames, input_wh=(side, side), slice_wh=card.tile_wh, count=count, seed=seed)


def sahi_model(card: ModelCard):
    from sahi import AutoDetectionModel

    return AutoDetectionModel.from_pretrained(
        model_type="ultralytics", model_path=str(card.weights_path), device="cpu",
        confidence_threshold=float(card.thresholds().min()), image_size=card.input_size_px)


def sahi_detect(model, image: np.ndarray, card: ModelCard, *, batch_size: int) -> Detections:
    from sahi.predict import get_sliced_prediction

    tile = card.tile_wh[0]
    result = get_sliced_prediction(image, model, slice_height=tile, slice_width=tile,
                                   overlap_height_ratio=OVERLAP, overlap_width_ratio=OVERLAP,
                                   perform_standard_pred=True, postprocess_type="GREEDYNMM",
                                   postprocess_match_metric="IOS", postprocess_match_threshold=0.5,
                                   postprocess_class_agnostic=False, verbose=0, batch_size=batch_size,
                                   force_postprocess_type=True)
    preds = result.object_prediction_list
    xyxy = np.array([p.bbox.to_xyxy() for p in preds], np.float32).reshape(-1, 4)
    model_cls = np.array([p.category.id for p in preds], np.int64)
    conf = np.array([p.score.value for p in preds], np.float32)
    # the card's per-class thresholds and class mapping, as our detector applies them
    keep = conf >= card.thresholds()[model_cls] if len(preds) else np.zeros(0, bool)
    tax = card.taxonomy_ids()[model_cls] if len(preds) else np.zeros(0, np.int64)
    keep &= tax >= 0
    return Detections(xyxy[keep], conf[keep], tax[keep])


def forward_only_s(det: UltralyticsDetector, image: np.ndarray) -> float:
    """Seconds of pure network forward over exactly the inputs `slice_infer` feeds the model."""
    import cv2

    from vision.detector import letterbox

    scale = det.input_wh[0] / det.tile_wh[0]
    small = image if scale == 1 else cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                                interpolation=cv2.INTER_AREA)
    tiles = tile_grid((small.shape[1], small.shape[0]), slice_wh=det.input_wh, overlap_wh=(OVERLAP, OVERLAP))
    stack = cut_tiles(small, tiles, slice_wh=det.input_wh)
    full, _ = letterbox(small, det.input_wh)
    started = time.perf_counter()
    for i in range(0, len(stack), det.batch_size):
        det.forward(stack[i:i + det.batch_size])
    det.forward(full[None])
    return time.perf_counter() - started


def peak_memory_child(card_path: Path, frame_path: Path, backend: str) -> None:
    """Entry of the memory probe: load the detector, detect in one frame, print peak RSS."""
    det = load_detector(load_card(card_path), backend=Backend(backend))
    before = peak_rss_mb()
    image = np.load(frame_path)
    tracemalloc.start()
    slice_infer(image, det, overlap_wh=(OVERLAP, OVERLAP), full_frame=True)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = peak_rss_mb()
    print(json.dumps({"peak_rss_mb": after, "before_frame_mb": before,
                      "numpy_peak_mb": traced_peak / 2**20}))


def peak_memory(card: ModelCard, image: np.ndarray, backend: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame.npy"
        np.save(path, image)
        out = subprocess.run([sys.executable, __file__, "--memory-probe", str(card.card_path), str(path), backend],
                             capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="passes over the frames")
    parser.add_argument("--seed", type=int, default=101, help="twin world seed (held out from training)")
    parser.add_argument("--card", type=Path, default=None, help=f"model card (default: {DEFAULT_CARD})")
    parser.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                        help="also run an INT8 ONNX model quantised in this run (or the card's onnx_int8)")
    parser.add_argument("--calibration-seed", type=int, default=0, help="twin world the INT8 calibration tiles "
                                                                         "come from (the training world)")
    parser.add_argument("--calibration-tiles", type=int, default=240)
    parser.add_argument("--memory-probe", nargs=3, metavar=("CARD", "FRAME", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        peak_memory_child(Path(args.memory_probe[0]), Path(args.memory_probe[1]), args.memory_probe[2])
        return
    card = load_card(args.card) if args.card else require_card(DEFAULT_CARD)
    print(f"card {card.name} {card.version}: input {card.input_size_px} px, tiles {card.tile_wh[0]} frame px, "
          f"{os.cpu_count()} CPU cores")
    started = time.perf_counter()
    frames = render_frames(args.frames, args.seed)
    print(f"rendered {len(frames)} twin frames 4000x3000 (world seed {args.seed}) in "
          f"{time.perf_counter() - started:.0f} s; {sum(len(f.objects) for f in frames)} visible violations")

    backends = [Backend.TORCH] + ([Backend.ONNX] if card.onnx_path and card.onnx_path.is_file() else [])
    int8_dir = tempfile.TemporaryDirectory()
    if args.int8 and Backend.ONNX in backends:
        card = int8_card(card, Path(int8_dir.name), seed=args.calibration_seed, tiles=args.calibration_tiles)
        backends.append(Backend.ONNX_INT8)
    detectors = {b: load_detector(card, backend=b, device="cpu") for b in backends}
    model = sahi_model(card)
    pipelines = {f"dockpatrol/{b.value}": (lambda img, d=d: slice_infer(img, d, overlap_wh=(OVERLAP, OVERLAP),
                                                                           full_frame=True))
                 for b, d in detectors.items()}
    pipelines |= {f"sahi/batch{n}": (lambda img, n=n: sahi_detect(model, img, card, batch_size=n)) for n in (1, 8)}
    for fn in pipelines.values():
        fn(frames[0].rgb)  # warm-up
    # interleaved per frame, so load from other processes on the machine hits every pipeline alike
    times: dict[str, list[float]] = {k: [] for k in pipelines}
    forward: dict[str, list[float]] = {f"dockpatrol/{b.value}": [] for b in backends}
    counts = {k: [0, 0, 0] for k in pipelines}
    for _ in range(args.rounds):
        for f in frames:
            for name, fn in pipelines.items():
                t0 = time.perf_counter()
                dets = fn(f.rgb)
                times[name].append(time.perf_counter() - t0)
                counts[name] = [a + b for a, b in zip(counts[name], recall(dets, f), strict=True)]
            for b, d in detectors.items():
                forward[f"dockpatrol/{b.value}"].append(forward_only_s(d, f.rgb))

    print(f"\n{'pipeline':22s} {'s/frame':>8s} {'frames/s':>9s} {'recall':>7s} {'dets':>5s} {'wall/fwd':>9s}")
    median = {k: float(np.median(v)) for k, v in times.items()}
    for name in pipelines:
        hits, truths, n_dets = counts[name]
        ratio = "-"
        if name in forward:
            ratio = f"{float(np.median(np.array(times[name]) / np.array(forward[name]))):.3f}"
        print(f"{name:22s} {median[name]:8.2f} {1 / median[name]:9.3f} {hits / max(1, truths):7.3f} {n_dets:5d} "
              f"{ratio:>9s}")
    print(f"(median over {len(frames)} frames x {args.rounds} rounds; recall = same class, box IoU >= {MATCH_IOU}, "
          f"{counts['sahi/batch1'][1]} truths)")
    for name in pipelines:
        if name.startswith("dockpatrol"):
            print(f"throughput {name} / sahi default (batch 1): {median['sahi/batch1'] / median[name]:.2f}x; "
                  f"/ sahi batch 8: {median['sahi/batch8'] / median[name]:.2f}x")
    if "dockpatrol/onnx-int8" in counts:
        (h8, t8, _), (h32, t32, _) = counts["dockpatrol/onnx-int8"], counts["dockpatrol/onnx"]
        print(f"INT8 recall cost: {h8}/{t8} truths found vs {h32}/{t32} with the float ONNX model "
              f"({(h8 - h32) / max(1, t32):+.3f})")
    for backend in [b for b in backends if b is not Backend.ONNX_INT8]:
        mem = peak_memory(card, frames[0].rgb, backend.value)
        print(f"peak RSS, fresh process, one 4000x3000 frame, {backend.value}: {mem['peak_rss_mb']:.0f} MB "
              f"(after loading the model: {mem['before_frame_mb']:.0f} MB; Python/numpy allocations while "
              f"detecting, tracemalloc peak: {mem['numpy_peak_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
