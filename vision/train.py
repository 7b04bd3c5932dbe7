"""Training a detector on a YOLO-format dataset and bundling it into ``models/`` with a measured card.

`train` wraps ultralytics (through the adapter); `bundle` copies the best weights, exports ONNX,
picks per-class thresholds on the validation split, measures the held-out split and writes the card.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import CATEGORY_OF
from vision.registry import MAX_WEIGHTS_BYTES, file_sha256, load_card, parse_gsd

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Per-class thresholds are the F1-optimal confidence on the validation split, kept in this band.
THRESHOLD_RANGE = (0.1, 0.8)


@dataclass(frozen=True)
class DatasetInfo:
    """A YOLO dataset yaml, resolved: its class names and image count per split."""

    yaml_path: Path
    root: Path
    names: tuple[str, ...]
    images: dict[str, int]
    description: str = ""

    @property
    def unknown_classes(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in CATEGORY_OF)


def _split_dir(root: Path, entry: Any) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    return [(root / str(e)).resolve() for e in entries if e]


def _count_images(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        if p.is_dir():
            n += sum(1 for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file() and p.suffix == ".txt":  # a list of image paths
            n += sum(1 for line in p.read_text().splitlines() if line.strip())
    return n


def inspect_dataset(data: Path) -> DatasetInfo:
    """Read and check a dataset yaml: names present, train and val splits non-empty."""
    data = Path(data)
    if not data.is_file():
        raise InvalidInput(f"dataset yaml {data} does not exist")
    try:
        raw = yaml.safe_load(data.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"dataset yaml {data} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or "names" not in raw:
        raise InvalidInput(f"dataset yaml {data} needs 'names' and 'train'/'val' entries")
    names_raw = raw["names"]
    names = tuple(str(names_raw[k]) for k in sorted(names_raw)) if isinstance(names_raw, dict) else tuple(
        str(n) for n in names_raw)
    root = Path(raw.get("path") or data.parent)
    root = root if root.is_absolute() else (data.parent / root).resolve()
    images = {split: _count_images(_split_dir(root, raw.get(split))) for split in ("train", "val", "test")}
    for split in ("train", "val"):
        if images[split] == 0:
            raise InvalidInput(f"dataset {data}: split {split!r} has no images under {root}")
    return DatasetInfo(data.resolve(), root, names, images, str(raw.get("description", "")))


@dataclass(frozen=True)
class TrainResult:
    best_weights: Path
    run_dir: Path
    seconds: float


def train(*, data: Path, model: str = "yolo11n.yaml", epochs: int = 30, imgsz: int = 640, batch: int = 16,
          workers: int = 2, project: Path = Path("runs"), name: str = "train", device: str | None = None,
          seed: int = 0, cache: str | bool = "ram", patience: int = 50, close_mosaic: int = 5,
          resume: bool = False, extra: dict[str, Any] | None = None) -> TrainResult:
    """Train (from a model yaml: from scratch) and return the best checkpoint of the run."""
    from vision.ultralytics_adapter import train_yolo

    info = inspect_dataset(data)
    if imgsz % 32:
        raise InvalidInput(f"imgsz must be a multiple of 32, got {imgsz}")
    if epochs < 1:
        raise InvalidInput(f"epochs must be at least 1, got {epochs}")
    started = time.perf_counter()
    best = train_yolo(data=info.yaml_path, model=model, epochs=epochs, imgsz=imgsz, batch=batch, workers=workers,
                      project=Path(project).resolve(), name=name, device=device, seed=seed, cache=cache,
                      patience=patience, close_mosaic=close_mosaic, resume=resume, extra=extra)
    return TrainResult(best, best.parent.parent, time.perf_counter() - started)


def run_summary(weights: Path) -> dict[str, Any]:
    """Epochs, wall time and settings of the ultralytics run that wrote ``weights`` (runs/<name>/weights/x.pt)."""
    import csv

    run = Path(weights).resolve().parent.parent
    out: dict[str, Any] = {}
    try:
        args = yaml.safe_load((run / "args.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        args = {}
    for key in ("model", "imgsz", "batch", "optimizer", "close_mosaic", "seed", "device", "time"):
        if args.get(key) is not None:
            out[key] = args[key]
    try:
        with (run / "results.csv").open(newline="") as f:
            rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]
    except OSError:
        rows = []
    if rows:
        out["epochs_trained"] = int(float(rows[-1]["epoch"]))
        out["wall_time_min"] = round(float(rows[-1]["time"]) / 60, 1)
        best = max(rows, key=lambda r: float(r.get("metrics/mAP50(B)", 0) or 0))
        out["best_val_map50"] = round(float(best.get("metrics/mAP50(B)", 0) or 0), 3)
    return out


def _dataset_image_size(info: DatasetInfo) -> int | None:
    """Image size recorded by `dockpatrol sim dataset` in summary.json next to the yaml, if any."""
    import json

    summary = info.yaml_path.parent / "summary.json"
    try:
        value = json.loads(summary.read_text()).get("imgsz")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _clamp_threshold(value: float) -> float:
    lo, hi = THRESHOLD_RANGE
    return 0.25 if math.isnan(value) else round(min(hi, max(lo, value)), 3)


def bundle(*, weights: Path, data: Path, models_dir: Path, name: str, version: str, command: str,
           description: str, imgsz: int = 640, test_split: str = "test", val_split: str = "val",
           synthetic: bool = True, onnx: bool = True, training: dict[str, Any] | None = None,
           tile_px: int | None = None, gsd_m: float | None = None,
           gsd_range_m: tuple[float, float] | None = None) -> Path:
    """Copy trained weights into ``models_dir`` with ONNX export, thresholds and measured metrics in a card.

    ``tile_px`` is the frame pixels one model input covered in training (the dataset's image size
    when trained at a smaller ``imgsz``); by default it is read from the dataset's summary.json.
    ``gsd_m`` (ground metres per input pixel in training) and its ``gsd_range_m`` make the card GSD-aware.
    """
    from vision.ultralytics_adapter import export_onnx, validate_yolo, weights_class_names

    info = inspect_dataset(data)
    weights = Path(weights)
    if not weights.is_file():
        raise InvalidInput(f"weights {weights} do not exist")
    if weights.stat().st_size > MAX_WEIGHTS_BYTES:
        raise InvalidInput(f"weights {weights} are larger than {MAX_WEIGHTS_BYTES} bytes")
    if info.images.get(test_split, 0) == 0:
        raise InvalidInput(f"dataset {data} has no {test_split!r} split to measure the card's metrics on")
    if tile_px is None:
        tile_px = _dataset_image_size(info) or imgsz
    # refused before anything is copied, so a bad call leaves no half-made card behind
    parse_gsd({"gsd_m": gsd_m, "gsd_range_m": list(gsd_range_m) if gsd_range_m else None}, f"bundle {name}")
    models_dir.mkdir(parents=True, exist_ok=True)
    pt = models_dir / f"{name}.pt"
    shutil.copyfile(weights, pt)
    names = weights_class_names(pt)
    if tuple(names[i] for i in sorted(names)) != info.names:
        raise InvalidInput(f"weights classes {list(names.values())} differ from dataset classes {list(info.names)}")
    onnx_path = None
    if onnx:
        exported = export_onnx(pt, imgsz=imgsz)
        onnx_path = models_dir / f"{name}.onnx"
        if exported.resolve() != onnx_path.resolve():
            shutil.move(str(exported), onnx_path)
    scratch = models_dir / f".{name}-val"
    val = {m.class_name: m for m in validate_yolo(pt, data=info.yaml_path, split=val_split, imgsz=imgsz,
                                                   project=scratch)}
    test = validate_yolo(pt, data=info.yaml_path, split=test_split, imgsz=imgsz, project=scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    classes = []
    for i, cls_name in enumerate(info.names):
        taxonomy = cls_name if cls_name in CATEGORY_OF else None
        thr = _clamp_threshold(val[cls_name].best_f1_confidence) if cls_name in val else 0.25
        classes.append({"id": i, "name": cls_name, "taxonomy": taxonomy, "threshold": thr})
    per_class = {m.class_name: {"map50": round(m.map50, 3), "map50_95": round(m.map50_95, 3),
                                "precision": round(m.precision, 3), "recall": round(m.recall, 3),
                                "instances": m.instances, "images": m.images} for m in test}
    measured = [m for m in test if m.instances > 0]
    card: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": description,
        "synthetic_training_data": synthetic,
        "weights": pt.name,
        **({"onnx": onnx_path.name} if onnx_path else {}),
        "sha256": {pt.name: file_sha256(pt), **({onnx_path.name: file_sha256(onnx_path)} if onnx_path else {})},
        "input_size_px": imgsz,
        **({"tile_px": tile_px} if tile_px != imgsz else {}),
        **({"gsd_m": gsd_m} if gsd_m is not None else {}),
        **({"gsd_range_m": list(gsd_range_m)} if gsd_m is not None and gsd_range_m is not None else {}),
        "classes": classes,
        "training": {
            "data": info.description or str(info.yaml_path),
            "images": info.images,
            "command": command,
            **run_summary(weights),
            **(training or {}),
        },
        "metrics": {
            "split": f"{test_split} ({info.images[test_split]} images) of {info.yaml_path.name}, per tile at "
                     f"{imgsz} px, ultralytics validator; P/R at the confidence maximising mean F1",
            "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "map50_mean": round(sum(m.map50 for m in measured) / max(1, len(measured)), 3),
            "per_class": per_class,
            "thresholds": f"per class: F1-optimal confidence on the {val_split} split, clamped to "
                          f"{THRESHOLD_RANGE[0]}..{THRESHOLD_RANGE[1]}",
        },
    }
    card_path = models_dir / f"{name}.yaml"
    header = ("# Model card (dockpatrol). Weights trained on SYNTHETIC scenes rendered by the digital twin;\n"
              "# expect lower accuracy on real imagery. Metrics below were measured, not estimated.\n")
    card_path.write_text(header + yaml.safe_dump(card, sort_keys=False, allow_unicode=True), encoding="utf-8")
    load_card(card_path)  # the card we wrote must pass our own validation
    return card_path
