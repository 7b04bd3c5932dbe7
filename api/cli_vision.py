"""`dockpatrol` commands of the vision package: ``models list|validate|bundle``, ``train``, ``eval``, ``detect``,
``import``."""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path

import typer

from api.cli_groups import models_app


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the main app."""
    models_app.command("list")(models_list)
    models_app.command("validate")(models_validate)
    models_app.command("bundle")(models_bundle)
    models_app.command("background-tiles")(models_background_tiles)
    models_app.command("quantize")(models_quantize)
    models_app.command("tune-thresholds")(models_tune_thresholds)
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
                  models_dir: Path | None = typer.Option(None)) -> None:
    """Copy weights into models/ with ONNX, per-class thresholds and held-out metrics in a card."""
    from dockpatrol.settings import get_settings
    from vision.train import bundle

    card = bundle(weights=weights, data=data, models_dir=models_dir or get_settings().models_dir, name=name,
                  version=version, command=command, description=description or _default_description(synthetic),
                  imgsz=imgsz, synthetic=synthetic, onnx=onnx, tile_px=tile_px)
    typer.echo(f"wrote {card}")


def models_background_tiles(out: Path = typer.Option(..., help="dataset folder (images/train, labels/train)"),
                            images: int = typer.Option(1000, help="tiles to render"),
                            seed: int = typer.Option(0, help="twin world seed (use the training world's)"),
                            imgsz: int = typer.Option(640, help="tile size, px at mission GSD")) -> None:
    """Render uniformly placed twin tiles (mostly background) to add to a training set as hard negatives."""
    from vision.train import render_background_tiles

    counts = render_background_tiles(out=out, images=images, seed=seed, imgsz=imgsz)
    typer.echo(f"wrote {counts['images']} tiles to {out} ({counts['with_labels']} with labels, "
               f"{counts['skipped']} views skipped)")


def models_quantize(name: str = typer.Argument(..., help="model card name (its ONNX export is quantised)"),
                    images: Path | None = typer.Option(None, help="calibrate on these photos (a folder of JPEGs "
                                                                  "like the ones the model will see)"),
                    twin_seed: int = typer.Option(0, help="without --images: calibrate on renders of this twin "
                                                          "world (use the training world's seed)"),
                    tiles: int = typer.Option(240, help="calibration tiles (on held-out twin tiles 64 lost 1 "
                                                        "in 9 float detections, 240 lost 1 in 36)"),
                    models_dir: Path | None = typer.Option(None)) -> None:
    """Statically quantise a card's ONNX model to INT8 for CPUs and record it in the card (`onnx_int8`)."""
    from dockpatrol.errors import InvalidInput
    from vision.registry import file_sha256, require_card, update_card
    from vision.slicing import model_tiles
    from vision.ultralytics_adapter import quantize_onnx_int8

    card = require_card(name, models_dir)
    if card.onnx_path is None or not card.onnx_path.is_file():
        raise InvalidInput(f"model card {card.name!r} has no ONNX export to quantise")
    side = card.input_size_px
    frames = _calibration_frames(images, twin_seed=twin_seed, count=max(2, tiles // 40))
    stack = model_tiles(frames, input_wh=(side, side), slice_wh=card.tile_wh, count=tiles, seed=twin_seed)
    out = quantize_onnx_int8(card.onnx_path, card.onnx_path.with_suffix(".int8.onnx"), calibration_tiles=stack)

    def record(raw: dict) -> None:
        entries = list(raw.items())
        at = next((i + 1 for i, (k, _) in enumerate(entries) if k == "onnx"), len(entries))
        entries.insert(at, ("onnx_int8", out.name))  # next to the float export, where a reader looks
        raw.clear()
        raw.update(dict(entries))
        raw.setdefault("sha256", {})[out.name] = file_sha256(out)
        raw.setdefault("training", {})["int8_calibration"] = (
            f"{len(stack)} tiles of {'photos in ' + str(images) if images else f'twin world {twin_seed}'}")

    update_card(card.card_path, record)
    typer.echo(f"wrote {out} ({out.stat().st_size // 1024} KiB) from {len(stack)} calibration tiles; "
               f"recorded in {card.card_path.name}")


def models_tune_thresholds(name: str = typer.Argument(..., help="model card name"),
                           seed: int = typer.Option(7919, help="validation twin world (not the training world "
                                                               "nor the one you evaluate on)"),
                           frames: int = typer.Option(30, help="validation frames to render"),
                           radius: float = typer.Option(3.0, help="match radius between centroids, metres"),
                           min_recall: float = typer.Option(0.8, help="keep at least this share of the truths "
                                                                      "each class finds at the lowest threshold"),
                           record: bool = typer.Option(False, help="write the thresholds into the card")) -> None:
    """Choose per-class confidence thresholds (best F1) on georeferenced findings over validation twin frames."""
    import dataclasses
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from dockpatrol.camera import CameraModel
    from sim.camera import render_frame
    from sim.world import World
    from vision.analyse import analyse_frame
    from vision.evaluate import MIN_VISIBLE_FRACTION, TruthItem, match_frame, twin_views
    from vision.georef import FrameGeoref
    from vision.registry import require_card, update_card
    from vision.thresholds import MIN_THRESHOLD, choose_threshold
    from vision.ultralytics_adapter import load_detector

    card = require_card(name)
    floor = dataclasses.replace(card, classes=tuple(dataclasses.replace(c, threshold=MIN_THRESHOLD)
                                                    for c in card.classes))
    detector = load_detector(floor)
    world = World.generate(seed=seed)
    camera = CameraModel()
    seen = []
    for i, view in enumerate(twin_views(world, frames=frames, seed=seed, camera=camera)):
        frame = render_frame(world, camera, view.pose, view.at, seed=seed * 1000 + i, pose_noise=False)
        georef = FrameGeoref.for_pose(camera, frame.true_pose, projection=world.projection)
        _, found = analyse_frame(frame.rgb, detector=detector, georef=georef, seen_at=view.at)
        truths = [TruthItem(v.object_id, v.class_name, world.require(v.object_id).polygon,
                            v.visible_fraction >= MIN_VISIBLE_FRACTION) for v in frame.objects]
        seen.append((found, truths))
        typer.echo(f"\rvalidation frame {i + 1}/{frames}", nl=False, err=True)
    typer.echo("", err=True)

    def outcome_for(class_name: str):
        def outcome(threshold: float) -> tuple[int, int, int]:
            tp = fp = n = 0
            for found, truths in seen:
                mine = [t for t in truths if t.class_name == class_name]
                o = match_frame([f for f in found if f.class_name == class_name and f.score >= threshold], mine,
                                projection=world.projection, radius_m=radius)
                tp += o.tp_by_class.get(class_name, 0)
                fp += o.fp_by_class.get(class_name, 0)
                n += o.tp_by_class.get(class_name, 0) + o.fn_by_class.get(class_name, 0)
            return tp, fp, n
        return outcome

    choices = {c.taxonomy: choose_threshold(c.taxonomy, current=c.threshold, outcome=outcome_for(c.taxonomy),
                                            min_recall=min_recall)
               for c in card.classes if c.taxonomy is not None}
    table = Table(title=f"Per-class thresholds on {frames} validation frames of twin world {seed}")
    for col in ("class", "was", "now", "truths", "TP", "FP", "P", "R"):
        table.add_column(col)
    for c in card.classes:
        ch = choices.get(c.taxonomy or "")
        if ch is not None:
            table.add_row(ch.class_name, f"{c.threshold:.3f}", f"{ch.threshold:.3f}", str(ch.truths),
                          str(ch.true_positives), str(ch.false_positives), _fmt(ch.precision), _fmt(ch.recall))
    Console(width=120).print(table)
    if record:
        def write(raw: dict) -> None:
            for item in raw["classes"]:
                if item.get("taxonomy") in choices:
                    item["threshold"] = choices[item["taxonomy"]].threshold
            raw.setdefault("metrics", {})["thresholds"] = (
                f"per class: best F1 of georeferenced findings keeping {min_recall:.0%} of the reachable recall, "
                f"on {frames} twin frames of validation world {seed} (`dockpatrol models tune-thresholds {name} "
                f"--seed {seed} --frames {frames} --min-recall {min_recall} --record`, "
                f"{datetime.now(UTC).date().isoformat()})")

        update_card(card.card_path, write)
        typer.echo(f"recorded in {card.card_path}")


def _calibration_frames(images: Path | None, *, twin_seed: int, count: int):
    """RGB frames to cut calibration tiles from: the user's photos, or renders of the twin."""
    if images is not None:
        from pipeline.flight_import import photos_in
        from vision.ingest import ingest_file

        return (ingest_file(p).rgb for p in photos_in(images))
    from dockpatrol.camera import CameraModel
    from sim.camera import render_frame
    from sim.world import World
    from vision.evaluate import twin_views

    world = World.generate(seed=twin_seed, size_m=800.0)
    cam = CameraModel(4000, 3000, 73.7)
    views = twin_views(world, frames=count, seed=twin_seed, camera=cam)
    return (render_frame(world, cam, v.pose, v.at, seed=i, pose_noise=False).rgb for i, v in enumerate(views))


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


def evaluate(seed: int = typer.Option(101, help="twin world seed (keep it out of the training seeds)"),
             frames: int = typer.Option(8, help="twin frames to render"),
             altitude: float = typer.Option(60.0, help="metres above ground"),
             images: Path | None = typer.Option(None, help="folder of georeferenced JPEGs instead of the twin"),
             truth: Path | None = typer.Option(None, help="GeoJSON truth for --images"),
             dock_altitude: float | None = typer.Option(None, help="dock altitude (m ASL) for JPEGs without "
                                                                   "relative altitude"),
             model: str = typer.Option("dockpatrol-demo-yolo11n", help="model card name"),
             backend: str = typer.Option("auto", help="auto, torch, onnx or onnx-int8"),
             radius: float = typer.Option(3.0, help="match radius between centroids, metres"),
             full_frame: bool = typer.Option(True, help="add a full-frame pass to the tiles"),
             json_out: Path | None = typer.Option(None, "--json", help="also write the report as JSON"),
             record: bool = typer.Option(False, help="store the results in the model card's metrics")) -> None:
    """Per-class precision/recall of georeferenced findings and georeference error, on twin frames or your own."""
    from dockpatrol.errors import InvalidInput
    from vision.evaluate import evaluate_images, evaluate_twin
    from vision.registry import require_card
    from vision.ultralytics_adapter import Backend, load_detector

    card = require_card(model)
    detector = load_detector(card, backend=Backend(backend))
    label = f"{card.name}@{card.version}"
    if images is not None:
        if truth is None:
            raise InvalidInput("--images needs --truth (a GeoJSON FeatureCollection with a 'class' property)")
        report = evaluate_images(detector, images=images, truth=truth, model=label, radius_m=radius,
                                 dock_altitude_m=dock_altitude, full_frame=full_frame)
    else:
        report = evaluate_twin(detector, seed=seed, frames=frames, model=label, altitude_m=altitude,
                               radius_m=radius, full_frame=full_frame)
    _print_report(report, json_out)
    if record:
        from datetime import UTC, datetime

        from vision.registry import record_metrics

        result = json.loads(json.dumps(report.to_dict(), default=str).replace("NaN", "null"))
        result["command"] = "dockpatrol " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        result["measured_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
        key = "georeferenced_images_eval" if images is not None else "georeferenced_twin_eval"
        record_metrics(card.card_path, key, result)
        typer.echo(f"recorded in {card.card_path}")


def detect(image: Path = typer.Argument(..., help="a drone JPEG (EXIF GPS + DJI XMP) or a GeoTIFF ortho"),
           model: str = typer.Option("dockpatrol-demo-yolo11n", help="model card name"),
           out: Path | None = typer.Option(None, help="write findings as GeoJSON here"),
           crops: Path | None = typer.Option(None, help="write evidence crops (JPEG) into this folder"),
           dock_altitude: float | None = typer.Option(None, help="dock altitude (m ASL) if the JPEG lacks "
                                                                 "relative altitude")) -> None:
    """Run the detector on one image and print its georeferenced findings."""
    from datetime import UTC, datetime

    from vision.analyse import analyse_frame
    from vision.georef import FrameGeoref, evidence_crop
    from vision.ingest import FrameOptions, IngestedImage, ingest_file
    from vision.registry import require_card
    from vision.ultralytics_adapter import load_detector

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
                                                                     "covering them saw (multi-view agreement)")
                  ) -> None:
    """Import a flight's photos: store raw, ingest, detect, group sightings into objects, write GeoJSON.

    Rerunning on the same folder resumes: stored photos and analysed frames are skipped.
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
                               require_agreement=require_agreement, progress=progress)
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"findings GeoJSON: {out or ''}{' and ' if out else ''}object store {report.geojson_key}")
