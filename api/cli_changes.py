"""`dockpatrol changes`: two patrols of an area compared (the twin's `dockpatrol sim changes` reuses the writers).

Both write ``changes.geojson`` (every change with kind, class, area, score and evidence keys) and
``changes.png``: the two mosaics side by side with the changes outlined and numbered, and a
table of what each number is, most important first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

#: Outline colours (RGB) by what happened; surface changes by what they look like.
_COLOURS: dict[str, tuple[int, int, int]] = {
    "appeared": (255, 140, 0), "grew": (255, 215, 0), "vanished": (0, 200, 255),
    "bare_soil_increase": (255, 80, 40), "vegetation_loss": (255, 40, 160), "water_colour_change": (40, 120, 255),
    "new_structure": (255, 0, 0), "unclassified": (255, 255, 255),
}
PANEL_PX = 900


def register(app: typer.Typer) -> None:
    """Attach ``dockpatrol changes`` (the twin's ``dockpatrol sim changes`` lives in :mod:`sim.cli`)."""
    app.command("changes")(changes)


def changes(
    area: str = typer.Option(..., help="patrol area id"),
    before: str | None = typer.Option(None, help="earlier flight id (default: the area's previous patrol)"),
    after: str = typer.Option(..., help="later flight id"),
    out: Path = typer.Option(Path("changes"), help="directory for changes.geojson and changes.png"),
) -> None:
    """Compare two patrols of an area (mosaics, surface and object change), record the changes for review."""
    import tempfile

    from dockpatrol.errors import InvalidInput
    from pipeline.compare import compare_flights, mosaic_key
    from storage.platform import database, object_store
    from storage.repositories import changes as change_repo

    outcome = compare_flights(area_id=area, after_flight_id=after, before_flight_id=before)
    for line in outcome.not_compared:
        typer.echo(f"not compared: {line}")
    if outcome.before_flight_id is None:
        raise InvalidInput(f"area {area} has no patrol before flight {after} to compare with")
    with database().unit_of_work() as session:
        recorded = change_repo.of_flights(session=session, before_flight_id=outcome.before_flight_id,
                                          after_flight_id=after)
    events = [r.event for r in recorded]
    ids = [r.id for r in recorded]
    out.mkdir(parents=True, exist_ok=True)
    write_geojson(out / "changes.geojson", events, ids=ids, meta={
        "area_id": area, "before_flight_id": outcome.before_flight_id, "after_flight_id": after,
        "status": outcome.status, "not_compared": list(outcome.not_compared)})
    store = object_store()
    keys = [mosaic_key(outcome.before_flight_id), mosaic_key(after)]
    if all(store.exists(k) for k in keys):
        with tempfile.TemporaryDirectory(prefix="changes-") as tmp:
            paths = []
            for key, name in zip(keys, ("before.tif", "after.tif"), strict=True):
                paths.append(Path(tmp) / name)
                paths[-1].write_bytes(store.get(key))
            png = comparison_png(paths[0], paths[1], events,
                                 titles=(f"BEFORE  {outcome.before_flight_id}", f"AFTER  {after}"))
        (out / "changes.png").write_bytes(png)
        typer.echo(f"wrote {out / 'changes.png'}")
    typer.echo(f"{len(events)} changes ({outcome.status}); wrote {out / 'changes.geojson'}")


def write_geojson(path: Path, events: list[Any], *, ids: list[str], meta: dict[str, Any]) -> None:
    features = []
    for number, (change_id, event) in enumerate(zip(ids, events, strict=True), start=1):
        feature = event.to_geojson()
        feature["id"] = change_id
        feature["properties"]["number"] = number
        features.append(feature)
    path.write_text(json.dumps({"type": "FeatureCollection", "properties": meta, "features": features}, indent=1))


def comparison_png(before: Path, after: Path, events: list[Any], *, titles: tuple[str, str]) -> bytes:
    """Before | after panels of the compared extent, changes outlined and numbered, a table below."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    from shapely.geometry import shape

    from vision.change import analysis_grid
    from vision.mosaic import mosaic_grid_of, read_mosaic

    gb, ga = mosaic_grid_of(before), mosaic_grid_of(after)
    extent = analysis_grid(gb, ga, gsd_m=gb.gsd_m)
    grid_b = extent or gb
    side_m = max(grid_b.bounds_m[2] - grid_b.bounds_m[0], grid_b.bounds_m[3] - grid_b.bounds_m[1])
    grid = analysis_grid(grid_b, grid_b, gsd_m=max(side_m / PANEL_PX, gb.gsd_m)) or grid_b
    panels = [read_mosaic(p, grid=grid) for p in (before, after)]
    font = ImageFont.load_default(size=18)
    small = ImageFont.load_default(size=15)
    gap, header = 12, 34
    w, h = grid.width_px, grid.height_px
    rows = events[:30]
    table_h = 28 + 22 * (len(rows) + 1)
    canvas = Image.new("RGB", (2 * w + 3 * gap, header + h + gap + table_h), (24, 26, 30))
    draw = ImageDraw.Draw(canvas)
    projection = grid.projection
    for k, (panel, title) in enumerate(zip(panels, titles, strict=True)):
        x0 = gap + k * (w + gap)
        rgb = np.where(panel.valid[..., None], panel.rgb, np.uint8(60))
        canvas.paste(Image.fromarray(rgb), (x0, header))
        draw.text((x0, 8), title, fill=(235, 235, 235), font=font)
        for number, event in enumerate(rows, start=1):
            colour = _COLOURS.get(str(event.surface_class or event.kind), (255, 255, 255))
            geom = projection.geometry_to_metric(shape(event.geometry))
            for poly in getattr(geom, "geoms", [geom]):
                xy = np.asarray(poly.exterior.coords)
                px = [(x0 + (x - grid.west_m) / grid.gsd_m, header + (grid.north_m - y) / grid.gsd_m) for x, y in xy]
                draw.line([*px, px[0]], fill=colour, width=3)
            minx, _, _, maxy = geom.bounds
            lx = x0 + (minx - grid.west_m) / grid.gsd_m
            ly = header + (grid.north_m - maxy) / grid.gsd_m - 20
            label = str(number)
            box = draw.textbbox((lx, ly), label, font=small)
            draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(0, 0, 0))
            draw.text((lx, ly), label, fill=colour, font=small)
    y = header + h + gap
    if not rows:
        draw.text((gap, y + 4), "no changes found", fill=(200, 200, 200), font=font)
    else:
        cols = (gap, gap + 40, gap + 170, gap + 400, gap + 560, gap + 660)
        for x, text in zip(cols, ("#", "kind", "what", "category", "area (m2)", "score"), strict=True):
            draw.text((x, y + 4), text, fill=(160, 160, 160), font=small)
        for number, event in enumerate(rows, start=1):
            yy = y + 4 + 22 * number
            colour = _COLOURS.get(str(event.surface_class or event.kind), (255, 255, 255))
            what = str(event.surface_class or event.class_name or "")
            values = (str(number), str(event.kind), what, str(event.category or "-"), f"{event.area_m2:.1f}",
                      f"{event.score:.2f}")
            for x, text in zip(cols, values, strict=True):
                draw.text((x, yy), text, fill=colour if x == cols[0] else (230, 230, 230), font=small)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
