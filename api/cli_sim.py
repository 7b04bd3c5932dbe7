"""`dockpatrol sim world|render|dataset`: look at the digital twin and make training data from it.

(`dockpatrol sim vehicle` lives in api/cli_flight.py.) Heavy imports happen inside commands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from api.cli_groups import sim_app
from dockpatrol.errors import InvalidInput

DEFAULT_ALTITUDE_M = 80.0


def _parse_at(value: str | None, epoch: datetime, offset: timedelta) -> datetime:
    if value is None:
        return epoch + offset
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--at {value!r} is not an ISO date/time (e.g. 2026-01-05T04:00Z)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _parse_bbox(value: str) -> tuple[float, float, float, float]:
    parts = value.split(",")
    try:
        nums = tuple(float(p) for p in parts)
    except ValueError:
        nums = ()
    if len(nums) != 4:
        raise InvalidInput(f"--ortho {value!r} must be four numbers minlon,minlat,maxlon,maxlat")
    return nums  # type: ignore[return-value]


@sim_app.command("world")
def world_cmd(
    seed: int = typer.Option(0, help="world seed (same seed, same world)"),
    out: Path = typer.Option(Path("world.geojson"), help="GeoJSON file to write"),
    size_m: float = typer.Option(2000.0, help="side of the square district in metres"),
    lon: float = typer.Option(113.15, help="centre longitude"),
    lat: float = typer.Option(23.03, help="centre latitude"),
) -> None:
    """Write the twin's ground truth (every object with class and epoch interval) as GeoJSON."""
    import json

    from sim.world import World

    world = World.generate(seed=seed, center_lon=lon, center_lat=lat, size_m=size_m)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(world.to_geojson(), separators=(",", ":")))
    n_viol = sum(o.is_violation for o in world.objects)
    typer.echo(f"wrote {out}: {len(world.objects)} objects ({n_viol} violations), EPSG:{world.projection.epsg}")


@sim_app.command("render")
def render_cmd(
    seed: int = typer.Option(0, help="world seed"),
    out: Path = typer.Option(Path("frame.jpg"), help="JPEG (or GeoTIFF with --ortho) to write"),
    lon: float | None = typer.Option(None, help="camera longitude (default: the world's first hotspot)"),
    lat: float | None = typer.Option(None, help="camera latitude"),
    alt: float = typer.Option(DEFAULT_ALTITUDE_M, help="altitude above ground, metres"),
    yaw: float = typer.Option(0.0, help="yaw, degrees clockwise from north"),
    pitch: float = typer.Option(-90.0, help="gimbal pitch, degrees (-90 = nadir)"),
    at: str | None = typer.Option(None, help="capture time, ISO 8601 (default: epoch + 4 h, local noon)"),
    width: int = typer.Option(4000, help="image width, px"),
    height: int = typer.Option(3000, help="image height, px"),
    hfov: float = typer.Option(73.7, help="horizontal field of view, degrees"),
    ortho: str | None = typer.Option(None, help="minlon,minlat,maxlon,maxlat: write a GeoTIFF orthophoto instead"),
    gsd: float = typer.Option(0.1, help="orthophoto ground sample distance, metres"),
    frame_seed: int = typer.Option(0, help="seed of camera noise and reported-pose noise"),
    size_m: float = typer.Option(2000.0, help="side of the square district in metres (as for `sim world`)"),
) -> None:
    """Render one drone photo (JPEG with EXIF/XMP) or an orthophoto GeoTIFF of the twin."""
    from dockpatrol.camera import CameraModel, GeoPose
    from sim.camera import render_frame, render_ortho
    from sim.world import DEMO_OFFSET, World

    world = World.generate(seed=seed, size_m=size_m)
    when = _parse_at(at, world.epoch, DEMO_OFFSET)
    if ortho is not None:
        path = render_ortho(world, bbox_lonlat=_parse_bbox(ortho), gsd_m=gsd, at=when, path=out)
        typer.echo(f"wrote {path} (EPSG:{world.projection.epsg}, {gsd} m/px)")
        return
    if alt <= 0:
        raise InvalidInput(f"--alt must be above the ground (> 0 m), got {alt}")
    if (lon is None) != (lat is None):
        raise InvalidInput("give both --lon and --lat, or neither for the default hotspot")
    if lon is None or lat is None:
        hotspots = world.hotspots(at=when)
        if not hotspots:
            raise InvalidInput(f"world seed {seed} has no violations at {when.isoformat()}; pass --lon/--lat")
        lon, lat = hotspots[0]
    camera = CameraModel(width, height, hfov)
    frame = render_frame(world, camera, GeoPose(lon=lon, lat=lat, altitude_m=alt, yaw_deg=yaw, pitch_deg=pitch), when,
                         seed=frame_seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(frame.to_jpeg())
    seen = ", ".join(f"{o.class_name}({o.visible_fraction:.0%})" for o in frame.objects) or "no violations"
    typer.echo(f"wrote {out}: {width}x{height} at {lon:.6f},{lat:.6f} alt {alt} m, {when.isoformat()}; sees {seen}")


@sim_app.command("dataset")
def dataset_cmd(
    out: Path = typer.Option(..., help="directory for images/, labels/, data.yaml, summary.json"),
    frames: int = typer.Option(1000, help="training images"),
    imgsz: int = typer.Option(640, help="image size, px"),
    seed: int = typer.Option(0, help="seed of the training world (validation uses another seed and region)"),
    val_frames: int | None = typer.Option(None, help="validation images (default: frames / 5)"),
    world_size_m: float = typer.Option(2000.0, help="side of each (train / validation) district, metres"),
) -> None:
    """Render a class-balanced YOLO dataset from the twin, with a held-out validation world."""
    import json

    from dockpatrol.taxonomy import CLASS_NAMES
    from sim.dataset import build_dataset

    def progress(split: str, done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            typer.echo(f"  {split}: {done}/{total}", err=True)

    summary = build_dataset(out=out, frames=frames, imgsz=imgsz, seed=seed, val_frames=val_frames,
                            world_size_m=world_size_m, progress=progress)
    typer.echo(f"dataset at {summary.root} (data.yaml: {summary.data_yaml})")
    for split in ("train", "val"):
        s = getattr(summary, split)
        typer.echo(f"{split}: {s.images} images ({s.crops} crops, {s.whole_frames} whole frames), "
                   f"{s.negatives} without labels")
        for name in CLASS_NAMES:
            typer.echo(f"  {name:20s} {s.instances[name]:6d} instances in {s.images_with[name]:5d} images")
    typer.echo(json.dumps({"train": summary.train.instances, "val": summary.val.instances}))


def register(app: typer.Typer) -> None:
    """The sim commands hang off ``api.cli_groups.sim_app``, added to the main app by api/cli.py."""
    del app
