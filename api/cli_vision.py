"""`dockpatrol` commands of the vision package: ``models list|validate|bundle|quantize``, ``train``, ``eval``,
``detect``, ``import``.

(Twin evaluation, twin training tiles, twin threshold tuning and twin INT8 calibration are ``dockpatrol sim
eval|background-tiles|tune-thresholds|quantize``, in sim/cli.py.)
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli_groups import models_app

DEFAULT_CARD_NAME = "dockpatrol-demo-yolo11n"


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the main app."""
    models_app.command("list")(models_list)
    models_app.command("validate")(models_validate)
    models_app.command("bundle")(models_bundle)
    models_app.command("quantize")(models_quantize)
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("detect")(detect)
    app.command("import")(import_photos)


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def models_list(models_dir: Path | None = typer.Option(None, help="default: DOCKPATROL_MODELS_DIR")) -> None:
    """List model cards: classes, input size, weights present."""
    from rich.console import Console
    from rich.table import Table

    from dockpatrol.errors import InvalidInput
    from vision.registry import card_paths, load_card

    table = Table(title="Detector model cards")
    for col in ("card", "version", "input", "classes", "weights", "synthetic", "mAP50 (held-out)"):
        table.add_column(col)
    for path in card_paths(models_dir):
        try:
            card = load_card(path)
        except InvalidInput as exc:
            table.add_row(path.name, "-", "-", f"[red]invalid: {exc}[/red]", "-", "-", "-")
            continue
        files = "ok" if card.weights_path.is_file() else "missing"
        if card.onnx_path is not None:
            files += " +onnx" if card.onnx_path.is_file() else " (onnx missing)"
        scenarios = ", ".join(sorted(c.value for c in card.categories))
        scale = f"{card.gsd_m * 100:.1f} cm GSD" if card.gsd_m else f"{card.tile_wh[0]} px tiles"
        table.add_row(card.name, card.version, f"{card.input_size_px} px / {scale}",
                      f"{len(card.taxonomy_classes)} ({scenarios})", files,
                      "yes" if card.synthetic_training_data else "no", _fmt(card.metrics.get("map50_mean")))
    Console().print(table)


def models_validate(cards: list[Path] = typer.Argument(None, help="card files (default: every card)"),
                    load: bool = typer.Option(True, help="also read the class names stored in the weights and "
                                                         "compare them with the card's"),
                    models_dir: Path | None = typer.Option(None)) -> None:
    """Validate cards: schema, taxonomy classes, files, digests and (with --load) the weights' classes."""
    from dockpatrol.errors import DockpatrolError, InvalidInput
    from vision.registry import card_paths, check_class_names, check_files, embedded_class_names, load_card

    paths = list(cards or card_paths(models_dir))
    if not paths:
        raise InvalidInput("no model cards to validate")
    failed = 0
    for path in paths:
        try:
            card = load_card(path)
            check_files(card)
            if load:
                for weights in (card.weights_path, card.onnx_path, card.onnx_int8_path):
                    if weights is not None:
                        check_class_names(card, embedded_class_names(weights), weights_name=weights.name)
            typer.echo(f"ok      {path.name}: {card.name} {card.version}, {len(card.classes)} classes")
        except DockpatrolError as exc:
            failed += 1
            typer.echo(f"invalid {path.name}: {exc}", err=True)
    if failed:
        raise InvalidInput(f"{failed} of {len(paths)} model cards are invalid")


def models_bundle(weights: Path = typer.Option(..., help="trained .pt (e.g. runs/<name>/weights/best.pt)"),
                  data: Path = typer.Option(..., help="dataset yaml with val and test splits"),
                  name: str = typer.Option(..., help="card and file name in models/"),
                  version: str = typer.Option("1.0.0"),
                  imgsz: int = typer.Option(640),
                  command: str = typer.Option("", help="training command recorded in the card"),
                  description: str = typer.Option("", help="one paragraph for the card"),
                  synthetic: bool = typer.Option(True, help="trained on the twin's synthetic scenes"),
                  onnx: bool = typer.Option(True, help="also export ONNX for the fast CPU path"),
                  tile_px: int | None = typer.Option(None, help="frame pixels per model input side "
                                                              "(default: the dataset's image size)"),
                  gsd_m: float | None = typer.Option(None, help="ground metres per model-input pixel in training: "
                                                               "frames are then tiled to reach the model at it"),
                  gsd_min_m: float | None = typer.Option(None, help="smallest input GSD seen in training"),
                  gsd_max_m: float | None = typer.Option(None, help="largest input GSD seen in training"),
                  models_dir: Path | None = typer.Option(None)) -> None:
    """Copy weights into models/ with ONNX, per-class thresholds and held-out metrics in a card."""
    from dockpatrol.errors import InvalidInput
    from dockpatrol.settings import get_settings
    from vision.train import bundle

    if (gsd_min_m is None) != (gsd_max_m is None) or (gsd_min_m is not None and gsd_m is None):
        raise InvalidInput("give --gsd-min-m and --gsd-max-m together, and with --gsd-m")
    span = (gsd_min_m, gsd_max_m) if gsd_min_m is not None and gsd_max_m is not None else None
    card = bundle(weights=weights, data=data, models_dir=models_dir or get_settings().models_dir, name=name,
                  version=version, command=command, description=description or _default_description(synthetic),
                  imgsz=imgsz, synthetic=synthetic, onnx=onnx, tile_px=tile_px, gsd_m=gsd_m, gsd_range_m=span)
    typer.echo(f"wrote {card}")


def models_quantize(name: str = typer.Argument(..., help="model card name (its ONNX export is quantised)"),
                    images: Path = typer.Option(..., help="calibrate on these photos (a folder of JPEGs like the "
                                                          "ones the model will see)"),
                    tiles: int = typer.Option(240, help="calibration tiles (on held-out twin tiles 64 lost 1 "
                                                        "in 9 float detections, 240 lost 1 in 36)"),
                    seed: int = typer.Option(0, help="seed of the calibration tiles' placement"),
                    models_dir: Path | None = typer.Option(None)) -> None:
    """Statically quantise a card's ONNX model to INT8 for CPUs and record it in the card (`onnx_int8`)."""
    from pipeline.flight_import import photos_in
    from vision.ingest import ingest_file
    from vision.registry import require_card

    card = require_card(name, models_dir)
    frames = (ingest_file(p).rgb for p in photos_in(images))
    quantize_card(card, frames, tiles=tiles, seed=seed, calibrated_on=f"photos in {images}")


def quantize_card(card: Any, frames: Iterable[Any], *, tiles: int, seed: int, calibrated_on: str) -> None:
    """Quantise ``card``'s ONNX export on tiles cut from ``frames`` (RGB arrays); record the INT8 file in the card.

    Shared by ``models quantize`` (the user's photos) and ``sim quantize`` (twin renders).
    """
    from dockpatrol.errors import InvalidInput
    from vision.registry import file_sha256, update_card
    from vision.slicing import model_tiles
    from vision.ultralytics_adapter import quantize_onnx_int8

    if card.onnx_path is None or not card.onnx_path.is_file():
        raise InvalidInput(f"model card {card.name!r} has no ONNX export to quantise")
    side = card.input_size_px
    stack = model_tiles(frames, input_wh=(side, side), slice_wh=card.tile_wh, count=tiles, seed=seed)
    out = quantize_onnx_int8(card.onnx_path, card.onnx_path.with_suffix(".int8.onnx"), calibration_tiles=stack)

    def record(raw: dict) -> None:
        entries = list(raw.items())
        at = next((i + 1 for i, (k, _) in enumerate(entries) if k == "onnx"), len(entries))
        entries.insert(at, ("onnx_int8", out.name))  # next to the float export, where a reader looks
        raw.clear()
        raw.update(dict(entries))
        raw.setdefault("sha256", {})[out.name] = file_sha256(out)
        raw.setdefault("training", {})["int8_calibration"] = f"{len(stack)} tiles of {calibrated_on}"

    update_card(card.card_path, record)
    typer.echo(f"wrote {out} ({out.stat().st_size // 1024} KiB) from {len(stack)} calibration tiles; "
               f"recorded in {card.card_path.name}")


def _default_description(synthetic: bool) -> str:
    if synthetic:
        return ("Demo detector trained from scratch on synthetic scenes rendered by the dockpatrol digital twin. "
                "It has never seen a real photo; use it to try the platform, not to issue tickets.")
    return "Detector trained on the operator's own labelled imagery."


def train(data: Path = typer.Option(..., help="YOLO dataset yaml (e.g. from `dockpatrol sim dataset`)"),
          model: str = typer.Option("yolo11n.yaml", help="model yaml (from scratch) or .pt to fine-tune"),
          epochs: int = typer.Option(30),
          time_hours: float | None = typer.Option(None, help="train for this many hours instead; the epoch "
                                                           "count and LR schedule are re-fitted each epoch"),
          imgsz: int = typer.Option(640),
          batch: int = typer.Option(16),
          workers: int = typer.Option(2),
          device: str | None = typer.Option(None, help="cpu, cuda, 0 … (default: cuda when present)"),
          project: Path = typer.Option(Path("runs"), help="where runs are written"),
          name: str = typer.Option("train"),
          seed: int = typer.Option(0),
          cache: str = typer.Option("ram", help="ram, disk or none"),
          close_mosaic: int = typer.Option(5, help="last epochs without mosaic augmentation"),
          warmup_epochs: float = typer.Option(3.0, help="learning-rate warm-up (use less when fine-tuning)"),
          patience: int = typer.Option(50),
          resume: bool = typer.Option(False, help="resume project/name from its last.pt"),
          bundle_as: str | None = typer.Option(None, "--bundle", help="afterwards, bundle into models/ as NAME"),
          version: str = typer.Option("1.0.0", help="card version when bundling")) -> None:
    """Train a detector (ultralytics) and optionally bundle it into models/ with a measured card."""
    from vision.train import bundle
    from vision.train import train as run_training

    result = run_training(data=data, model=model, epochs=epochs, imgsz=imgsz, batch=batch, workers=workers,
                          project=project, name=name, device=device, seed=seed,
                          cache=False if cache == "none" else cache, close_mosaic=close_mosaic, patience=patience,
                          resume=resume,
                          extra={"warmup_epochs": warmup_epochs, **({"time": time_hours} if time_hours else {})})
    typer.echo(f"trained in {result.seconds / 60:.1f} min: {result.best_weights}")
    if bundle_as:
        from dockpatrol.settings import get_settings

        command = "dockpatrol " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        card = bundle(weights=result.best_weights, data=data, models_dir=get_settings().models_dir, name=bundle_as,
                      version=version, command=command, description=_default_description(True), imgsz=imgsz,
                      training={"epochs": epochs, "imgsz": imgsz, "batch": batch, "model": model,
                                "wall_time_min": round(result.seconds / 60, 1), "device": device or "auto"})
        typer.echo(f"wrote {card}")


def _print_report(report, as_json: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Findings vs ground truth ({report.frames} frames, "
                        f"{report.seconds_per_frame:.1f} s/frame detection)")
    table.add_column("class")
    table.add_column("truths")
    for key in report.scores:
        for col in ("findings", "dup", "P", "R"):
            table.add_column(f"{col} ({key})")
    by_key = {key: {s.class_name: s for s in scores} for key, scores in report.scores.items()}
    for name in next(iter(by_key.values())):
        if not any(v[name].truths or v[name].findings for v in by_key.values()):
            continue
        row = [name, str(next(iter(by_key.values()))[name].truths)]
        for scores in by_key.values():
            s = scores[name]
            row += [str(s.findings), str(s.duplicates), _fmt(s.precision), _fmt(s.recall)]
        table.add_row(*row)
    row = ["all", str(sum(s.truths for s in next(iter(report.scores.values()))))]
    for scores in report.scores.values():
        tp, found = sum(s.true_positives for s in scores), sum(s.findings for s in scores)
        truths = sum(s.truths for s in scores)
        row += [str(found), str(sum(s.duplicates for s in scores)), _fmt(tp / found if found else math.nan),
                _fmt(tp / truths if truths else math.nan)]
    table.add_row(*row, style="bold")
    console = Console(soft_wrap=True, width=max(160, Console().width))
    console.print(table)
    console.print("dup: false positives that re-find an already matched object (tickets/ dedup merges them)",
                  markup=False)
    for title, stats in (("finding centroid error (matched findings)", report.finding_error),
                         ("pixel→ground error of true outlines, flat ground", report.georef_error)):
        for key, st in stats.items():
            console.print(f"{title} [{key}]: n={st.n} median {_fmt(st.median_m)} m, p90 {_fmt(st.p90_m)} m, "
                          f"max {_fmt(st.max_m)} m", markup=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False)
    if as_json is not None:
        as_json.write_text(json.dumps(report.to_dict(), indent=2))


#: Options every evaluation command takes (``dockpatrol eval`` here, ``dockpatrol sim eval`` in sim/cli.py).
EvalModel = Annotated[str, typer.Option(help="model card name")]
EvalBackend = Annotated[str, typer.Option(help="auto, torch, onnx or onnx-int8")]
EvalRadius = Annotated[float, typer.Option(help="match radius between centroids, metres")]
EvalFullFrame = Annotated[bool, typer.Option(help="add a full-frame pass to the tiles")]
EvalJson = Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")]
EvalRecord = Annotated[bool, typer.Option(help="store the results in the model card's metrics")]
EvalObjects = Annotated[bool, typer.Option(help="score the objects a patrol reports (a frame's findings of one class "
                                                "close together grouped, the surest view kept), not every finding")]


def load_for_eval(model: str, backend: str) -> tuple[Any, Any]:
    """The model card and its detector, for an evaluation command."""
    from vision.registry import require_card
    from vision.ultralytics_adapter import Backend, load_detector

    card = require_card(model)
    return card, load_detector(card, backend=Backend(backend))


def report_evaluation(report: Any, *, card: Any, json_out: Path | None, record_as: str | None) -> None:
    """Print an evaluation report, optionally write it as JSON and record it in the model card."""
    _print_report(report, json_out)
    if record_as is None:
        return
    from datetime import UTC, datetime

    from vision.registry import record_metrics

    result = json.loads(json.dumps(report.to_dict(), default=str).replace("NaN", "null"))
    result["command"] = "dockpatrol " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result["measured_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    record_metrics(card.card_path, record_as, result)
    typer.echo(f"recorded in {card.card_path}")


def evaluate(images: Path = typer.Option(..., help="folder of georeferenced JPEGs"),
             truth: Path = typer.Option(..., help="GeoJSON FeatureCollection with a 'class' property"),
             dock_altitude: float | None = typer.Option(None, help="dock elevation (m AMSL) for JPEGs without "
                                                                   "relative altitude"),
             model: EvalModel = DEFAULT_CARD_NAME, backend: EvalBackend = "auto", radius: EvalRadius = 3.0,
             full_frame: EvalFullFrame = True, json_out: EvalJson = None, record: EvalRecord = False) -> None:
    """Per-class precision/recall of georeferenced findings and georeference error on your own imagery."""
    from vision.evaluate import evaluate_images

    card, detector = load_for_eval(model, backend)
    report = evaluate_images(detector, images=images, truth=truth, model=f"{card.name}@{card.version}",
                             radius_m=radius, dock_altitude_m=dock_altitude, full_frame=full_frame)
    report_evaluation(report, card=card, json_out=json_out, record_as="georeferenced_images_eval" if record else None)


def detect(image: Path = typer.Argument(..., help="a drone JPEG (EXIF GPS + DJI XMP) or a GeoTIFF ortho"),
           model: str = typer.Option("dockpatrol-demo-yolo11n", help="model card name"),
           out: Path | None = typer.Option(None, help="write findings as GeoJSON here"),
           crops: Path | None = typer.Option(None, help="write evidence crops (JPEG) into this folder"),
           dock_altitude: float | None = typer.Option(None, help="dock altitude (m ASL) if the JPEG lacks "
                                                                 "relative altitude")) -> None:
    """Run the detector on one image and print its georeferenced findings."""
    from datetime import UTC, datetime

    from api.cli_checks import require_earth_crs, require_regular_file
    from vision.analyse import analyse_frame
    from vision.georef import FrameGeoref, evidence_crop
    from vision.ingest import FrameOptions, IngestedImage, ingest_file
    from vision.registry import require_card
    from vision.ultralytics_adapter import load_detector

    require_earth_crs(require_regular_file(image, what="image"))
    item = ingest_file(image, options=FrameOptions(require_pose=True, dock_altitude_m=dock_altitude))
    card = require_card(model)
    detector = load_detector(card)
    if isinstance(item, IngestedImage) and item.pose is not None:
        georef = FrameGeoref.for_pose(item.camera.camera, item.pose)
        seen_at = item.meta.captured_at or datetime.now(UTC)
    else:
        georef = item.georef
        seen_at = datetime.now(UTC)
    _, findings = analyse_frame(item.rgb, detector=detector, georef=georef, seen_at=seen_at,
                                frame_id=image.name, model=f"{card.name}@{card.version}")
    for i, f in enumerate(findings):
        typer.echo(f"{f.class_name:20s} {f.score:.2f}  lon {f.centroid_lon:.6f} lat {f.centroid_lat:.6f}  "
                   f"{f.area_m2:7.1f} m²  box {[round(v) for v in f.box_xyxy_px]}")
        if crops is not None:
            crops.mkdir(parents=True, exist_ok=True)
            (crops / f"{image.stem}-{i:03d}-{f.class_name}.jpg").write_bytes(evidence_crop(item.rgb, f.box_xyxy_px))
    typer.echo(f"{len(findings)} findings")
    if out is not None:
        out.write_text(json.dumps({"type": "FeatureCollection", "features": [f.to_geojson() for f in findings]},
                                  indent=1))


def import_photos(folder: Path = typer.Argument(..., help="a folder of one flight's JPEG photos"),
                  dock: str | None = typer.Option(None, help="dock id: its elevation places photos with GPS "
                                                             "altitude only; its camera fills in missing optics"),
                  area: str | None = typer.Option(None, help="patrol area id: its scenarios pick what to report "
                                                             "(default: every category)"),
                  model: str = typer.Option("dockpatrol-demo-yolo11n", help="model card name"),
                  out: Path | None = typer.Option(None, help="write the objects as GeoJSON here"),
                  dock_camera: bool = typer.Option(False, help="use the dock's configured camera even where the "
                                                               "photos' tags state other optics"),
                  radius: float = typer.Option(3.0, help="sightings of one class closer than this are one object, "
                                                         "metres (smoke, stains and bare soil use more)"),
                  require_agreement: bool = typer.Option(False, help="drop objects that only one of the frames "
                                                                     "covering them saw (multi-view agreement)"),
                  tickets: bool = typer.Option(True, "--tickets/--no-tickets",
                                               help="hand the objects to ticket routing (tickets, sightings of "
                                                    "open tickets, review queue); --no-tickets: GeoJSON only")
                  ) -> None:
    """Import a flight's photos: store raw, ingest, detect, group sightings into objects, ticket them, write GeoJSON.

    Rerunning on the same folder resumes: stored photos and analysed frames are skipped, and objects already
    ticketed or queued for review are not ticketed again.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.flight_import import import_flight

    with Progress(TextColumn("{task.description:8s}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)

        report = import_flight(folder, dock_id=dock, area_id=area, card_name=model, out=out,
                               dock_camera_override=dock_camera, merge_radius_m=radius,
                               require_agreement=require_agreement, progress=progress, tickets=tickets)
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"findings GeoJSON: {out or ''}{' and ' if out else ''}object store {report.geojson_key}")
