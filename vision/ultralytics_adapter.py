"""The only module that imports ultralytics: YOLO weights (.pt or ONNX) as a `Detector`, training, validation, export.

Inference calls the network directly on a stacked batch tensor: model-sized tiles need no
letterbox, and skipping ultralytics' per-image predictor saves its per-call overhead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from dockpatrol.errors import InvalidInput, Unavailable
from dockpatrol.taxonomy import CLASS_NAMES
from vision.detections import Detections
from vision.detector import letterbox
from vision.offline import configure_ultralytics
from vision.registry import ModelCard, check_class_names, embedded_class_names

configure_ultralytics()

import torch  # noqa: E402  (ultralytics must be configured first)
from ultralytics.utils.nms import non_max_suppression  # noqa: E402


class Backend(StrEnum):
    """Inference engine: PyTorch, ONNX Runtime, or whichever measured faster for the device."""

    AUTO = "auto"
    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_rgb(image: np.ndarray, index: int) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", None)
        raise InvalidInput(f"image {index} must be an HxWx3 uint8 RGB array, got shape {shape} dtype {dtype}")


class _TorchNet:
    def __init__(self, weights: Path, device: str) -> None:
        from ultralytics.nn.tasks import load_checkpoint

        try:
            model, _ = load_checkpoint(str(weights), device=torch.device(device), fuse=True)
        except Exception as exc:  # torch/pickle raise many types for a bad file
            raise InvalidInput(f"cannot load weights {weights}: {exc}") from exc
        self.model = model.eval()
        self.device = device
        self.end2end = bool(getattr(model, "end2end", False))
        self.names = {int(k): str(v) for k, v in getattr(model, "names", {}).items()}

    def __call__(self, batch: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode():
            y = self.model(x)
        return y[0] if isinstance(y, list | tuple) else y


class _OnnxNet:
    def __init__(self, weights: Path, device: str) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # spinning worker threads starve everything else on a busy small machine (measured 2x slower)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(weights), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            raise InvalidInput(f"cannot load ONNX weights {weights}: {exc}") from exc
        self.input_name = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        self.end2end = meta.get("end2end", "False") == "True"
        self.names = _parse_names(meta.get("names", "{}"))

    def __call__(self, batch: np.ndarray) -> torch.Tensor:
        x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
        return torch.from_numpy(self.session.run(None, {self.input_name: x})[0])


def _parse_names(text: str) -> dict[int, str]:
    import ast

    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {}
    return {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


@dataclass(frozen=True)
class _Postprocess:
    taxonomy_id: np.ndarray  # model class id → taxonomy index, -1 to drop
    threshold: np.ndarray  # per model class
    iou_threshold: float
    max_det: int


class UltralyticsDetector:
    """A YOLO model as a `Detector`; build it with :func:`load_detector`."""

    def __init__(self, *, net: _TorchNet | _OnnxNet, input_wh: tuple[int, int], post: _Postprocess,
                 backend: Backend, batch_size: int, tile_wh: tuple[int, int] | None = None,
                 input_gsd_m: float | None = None) -> None:
        self._net = net
        self._input_wh = input_wh
        self.tile_wh = tile_wh or input_wh
        self.input_gsd_m = input_gsd_m
        self._post = post
        self.backend = backend
        self.batch_size = batch_size

    @property
    def input_wh(self) -> tuple[int, int]:
        return self._input_wh

    @property
    def model_names(self) -> dict[int, str]:
        return dict(self._net.names)

    def forward(self, batch: np.ndarray) -> torch.Tensor:
        """Raw network output for a (B, H, W, 3) uint8 batch of model-sized images (benchmarks time this)."""
        return self._net(batch)

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        w, h = self._input_wh
        if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:] == (h, w, 3) \
                and images.dtype == np.uint8:
            # a ready (B, H, W, 3) stack of model-sized tiles: no copies, no letterbox
            out: list[Detections] = []
            for start in range(0, len(images), self.batch_size):
                out.extend(self._postprocess(self._net(images[start:start + self.batch_size])))
            return [d.clipped(width_px=w, height_px=h) for d in out]
        batch = []
        scales = np.ones(len(images), dtype=np.float32)
        for i, image in enumerate(images):
            _check_rgb(image, i)
            if image.shape[:2] == (h, w):
                batch.append(image)
            else:
                canvas, scales[i] = letterbox(image, self._input_wh)
                batch.append(canvas)
        out = []
        for start in range(0, len(batch), self.batch_size):
            stacked = np.stack(batch[start:start + self.batch_size])
            out.extend(self._postprocess(self._net(stacked)))
        return [
            (d if s == 1 else _rescaled(d, 1.0 / s)).clipped(width_px=im.shape[1], height_px=im.shape[0])
            for d, s, im in zip(out, scales, images, strict=True)
        ]

    def _postprocess(self, raw: torch.Tensor) -> list[Detections]:
        post = self._post
        rows = non_max_suppression(raw, conf_thres=float(post.threshold.min()), iou_thres=post.iou_threshold,
                                   max_det=post.max_det, end2end=self._net.end2end)
        out = []
        for r in rows:
            r = r.detach().cpu().numpy()
            model_cls = r[:, 5].astype(np.int64)
            valid = (model_cls >= 0) & (model_cls < len(post.taxonomy_id))
            model_cls = np.where(valid, model_cls, 0)
            keep = valid & (post.taxonomy_id[model_cls] >= 0) & (r[:, 4] >= post.threshold[model_cls])
            out.append(Detections(r[keep, :4], r[keep, 4], post.taxonomy_id[model_cls[keep]]))
        return out


def _rescaled(d: Detections, factor: float) -> Detections:
    return Detections(d.xyxy * np.float32(factor), d.confidence, d.class_id, dict(d.data))


#: Measured on the 2-core dev box, yolo11n at 320 px: forward per tile 20-29 ms with ONNX Runtime vs
#: 45-51 ms with PyTorch eager at batch 8-16 (90 ms at batch 1); end to end (bench/bench_sliced.py)
#: 0.85 s vs 1.41 s per 4000x3000 frame. The static INT8 model (class branch and box decoding in float)
#: ran 1.5-2.2x the float ONNX model's frames/s (3.3x SAHI's); recall on 16 held-out twin frames was
#: 8/15 vs 9/15 with the tuned thresholds (equal, 6/9, with the earlier ones). So AUTO picks INT8 ONNX on
#: CPU when the card ships one, else float ONNX, else PyTorch; backend "onnx" keeps the float model.
_CPU_PREFERS_ONNX = True


def load_detector(card: ModelCard, *, backend: Backend = Backend.AUTO, device: str | None = None,
                  batch_size: int = 8, iou_threshold: float = 0.5, max_det: int = 300) -> UltralyticsDetector:
    """A ready detector for ``card``'s weights; thresholds and class mapping come from the card."""
    device = device or default_device()
    if backend is Backend.AUTO:
        on_cpu = device == "cpu" and _CPU_PREFERS_ONNX
        if on_cpu and card.onnx_int8_path is not None and card.onnx_int8_path.is_file():
            backend = Backend.ONNX_INT8
        else:
            backend = Backend.ONNX if on_cpu and card.onnx_path is not None else Backend.TORCH
    if backend is Backend.ONNX:
        if card.onnx_path is None:
            raise InvalidInput(f"model card {card.name!r} names no ONNX weights; use backend 'torch'")
        path = card.onnx_path
    elif backend is Backend.ONNX_INT8:
        if card.onnx_int8_path is None:
            raise InvalidInput(f"model card {card.name!r} names no INT8 ONNX weights (`onnx_int8`)")
        path = card.onnx_int8_path
    else:
        path = card.weights_path
    if not path.is_file():
        raise Unavailable(f"weights file {path} named by model card {card.name!r} is missing")
    net: _TorchNet | _OnnxNet = _TorchNet(path, device) if backend is Backend.TORCH else _OnnxNet(path, device)
    check_class_names(card, net.names, weights_name=path.name)
    post = _Postprocess(card.taxonomy_ids(), card.thresholds(), iou_threshold, max_det)
    size = card.input_size_px
    return UltralyticsDetector(net=net, input_wh=(size, size), post=post, backend=backend, batch_size=batch_size,
                               tile_wh=card.tile_wh, input_gsd_m=card.gsd_m)


def weights_class_names(path: Path) -> dict[int, str]:
    """Class names stored in a .pt or .onnx file, read without loading the model (see `embedded_class_names`)."""
    return embedded_class_names(path)


def quantize_onnx_int8(onnx_path: Path, out_path: Path, *, calibration_tiles: np.ndarray) -> Path:
    """Statically quantise an ONNX export to INT8 (QDQ, per-channel weights) for CPU inference.

    ``calibration_tiles`` are (n, H, W, 3) uint8 model-sized tiles like the ones the model will see
    (activation ranges are taken from them); a few dozen are enough.
    """
    import tempfile

    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration_tiles.ndim != 4 or calibration_tiles.shape[-1] != 3 or not len(calibration_tiles):
        raise InvalidInput(f"calibration tiles must be (n, H, W, 3) with n > 0, got {calibration_tiles.shape}")
    input_name = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Tiles(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calibration_tiles)

        def get_next(self) -> dict[str, np.ndarray] | None:
            tile = next(self._it, None)
            if tile is None:
                return None
            return {input_name: tile[None].transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out_path), Tiles(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=_detect_head_decoding(prepared))
    return Path(out_path)


def _detect_head_decoding(onnx_path: Path) -> list[str]:
    """Nodes of the YOLO Detect head kept in float: its class branch (``cv3``) and everything after the
    convolutions (DFL, box decoding, sigmoid, concat).

    The decoding joins box coordinates (0..input px) and class scores (0..1) in one tensor: one INT8
    scale for both rounds every score to zero. The class branch's logits lost up to 0.3 of confidence
    on some classes when quantised (measured on twin tiles) and cost little to keep in float.
    """
    import onnx

    nodes = onnx.load(str(onnx_path), load_external_data=False).graph.node
    head = nodes[-1].name.rsplit("/", 1)[0] + "/"  # e.g. "/model.23/"
    return [n.name for n in nodes if n.name.startswith(head)
            and (n.op_type != "Conv" or "/dfl/" in n.name or n.name.startswith(head + "cv3"))]


def save_random_model(path: Path, *, class_names: Sequence[str] = CLASS_NAMES, cfg: str = "yolo11n.yaml",
                      seed: int = 0) -> Path:
    """Write an untrained (randomly initialised) checkpoint; tests use it to exercise the plumbing."""
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel(cfg, nc=len(class_names), verbose=False)
    model.names = dict(enumerate(class_names))
    model.args = {"imgsz": 640, "task": "detect"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.half(), "train_args": {"imgsz": 640}, "date": None, "version": "random"}, path)
    return path


def export_onnx(weights: Path, *, imgsz: int) -> Path:
    """Export .pt weights to ONNX with a dynamic batch axis, next to the .pt file."""
    from ultralytics import YOLO

    out = YOLO(str(weights)).export(format="onnx", imgsz=imgsz, dynamic=True, simplify=False, device="cpu")
    return Path(out)


@dataclass(frozen=True)
class ClassMetrics:
    """Detection metrics of one class on a labelled split (ultralytics' validator)."""

    class_name: str
    images: int
    instances: int
    precision: float
    recall: float
    map50: float
    map50_95: float
    best_f1_confidence: float  # where this class's F1-confidence curve peaks


def validate_yolo(weights: Path, *, data: Path, split: str = "test", imgsz: int = 640, batch: int = 16,
                  device: str | None = None, project: Path | None = None) -> list[ClassMetrics]:
    """Per-class P/R/mAP of ``weights`` on ``split`` of a YOLO-format dataset yaml."""
    from ultralytics import YOLO

    kwargs: dict[str, Any] = {"data": str(data), "split": split, "imgsz": imgsz, "batch": batch,
                              "device": device or default_device(), "plots": False, "verbose": False}
    if project is not None:
        kwargs.update(project=str(project), name="val", exist_ok=True)
    metrics = YOLO(str(weights)).val(**kwargs)
    box = metrics.box
    names = metrics.names
    nt = np.asarray(getattr(metrics, "nt_per_class", np.zeros(len(names))), dtype=int)
    ni = np.asarray(getattr(metrics, "nt_per_image", np.zeros(len(names))), dtype=int)
    f1 = np.asarray(box.f1_curve)
    px = np.asarray(box.px)
    out = []
    for j, c in enumerate(np.asarray(box.ap_class_index, dtype=int)):
        best = float(px[int(np.argmax(f1[j]))]) if f1.ndim == 2 and len(f1) > j else math.nan
        out.append(ClassMetrics(class_name=str(names[c]), images=int(ni[c]) if len(ni) > c else 0,
                                instances=int(nt[c]) if len(nt) > c else 0, precision=float(box.p[j]),
                                recall=float(box.r[j]), map50=float(box.ap50[j]), map50_95=float(box.ap[j]),
                                best_f1_confidence=best))
    return out


def train_yolo(*, data: Path, model: str, epochs: int, imgsz: int, batch: int, workers: int, project: Path,
               name: str, device: str | None = None, seed: int = 0, cache: str | bool = False,
               patience: int = 50, close_mosaic: int = 10, resume: bool = False,
               extra: dict[str, Any] | None = None) -> Path:
    """Train a YOLO detector (from a model yaml = from scratch, or from .pt weights); returns best.pt."""
    import cv2
    from ultralytics import YOLO

    # OpenCV threads do not survive the DataLoader's forked workers (ultralytics turns them off on
    # import; configure_ultralytics keeps them for detection, so training turns them off here).
    cv2.setNumThreads(0)

    device = device or default_device()
    if resume:
        last = project / name / "weights" / "last.pt"
        if not last.is_file():
            raise InvalidInput(f"nothing to resume: {last} does not exist")
        YOLO(str(last)).train(resume=True)
    else:
        from_yaml = model.endswith((".yaml", ".yml"))
        kwargs: dict[str, Any] = {
            "data": str(data), "epochs": epochs, "imgsz": imgsz, "batch": batch, "workers": workers,
            "device": device, "project": str(project), "name": name, "exist_ok": True, "seed": seed,
            "cache": cache, "patience": patience, "close_mosaic": close_mosaic,
            # AMP's CUDA self-check fetches reference weights from the network, so it stays off
            "amp": False, "plots": True, "pretrained": not from_yaml, "verbose": True,
        }
        kwargs.update(extra or {})
        YOLO(model).train(**kwargs)
    best = project / name / "weights" / "best.pt"
    if not best.is_file():
        raise Unavailable(f"training finished without writing {best}")
    return best
