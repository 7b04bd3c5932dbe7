"""`dockpatrol import` on a folder of overlapping twin photos: one object per thing, GeoJSON and tickets out,
rerun is a no-op."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select

from api.cli import main
from dockpatrol.camera import CameraModel, GeoPose

#: The mission camera's optics at half resolution: 4.5 cm GSD at 60 m, the demo model's own input scale.
CAM = CameraModel(4000, 3000, 73.7).scaled(2000)
STEP_M = 30.0  # a third of the 90 m footprint: every point near the middle is in two or three photos


@pytest.fixture(scope="module")
def twin_world():
    world_mod = pytest.importorskip("sim.world")
    return world_mod.World.generate(seed=101, size_m=600.0)


def render_strip(world, folder: Path) -> list:
    """Three photos 30 m apart, east-west, over the twin's busiest spot: neighbours overlap by two thirds."""
    from sim.camera import render_frame
    from sim.world import DEMO_OFFSET

    at = world.epoch + DEMO_OFFSET
    lon, lat = world.hotspots(at=at)[0]
    x, y = world.projection.to_metric(lon, lat)
    frames = []
    folder.mkdir(parents=True, exist_ok=True)
    for i, dx in enumerate((-STEP_M, 0.0, STEP_M)):
        flon, flat = world.projection.to_lonlat(float(x) + dx, float(y))
        frame = render_frame(world, CAM, GeoPose(lon=float(flon), lat=float(flat), altitude_m=60.0), at, seed=i,
                             pose_noise=False)
        (folder / f"DJI_{i:04d}.JPG").write_bytes(frame.to_jpeg())
        frames.append(frame)
    return frames


def test_import_groups_sightings_across_frames_and_resumes(twin_world, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "flight-0815"
    frames = render_strip(twin_world, folder)
    out = tmp_path / "findings.geojson"

    assert main(["import", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 photos; stored 3 now, ingested 3, analysed 3" in printed
    assert "camera geometry from: xmp_stated 3" in printed

    doc = json.loads(out.read_text())
    features = doc["features"]
    assert doc["type"] == "FeatureCollection" and features
    for f in features:
        assert set(f["properties"]) >= {"class", "category", "score", "frames", "evidence"}
        assert f["properties"]["evidence"] and all(k.startswith("flights/") for k in f["properties"]["evidence"])

    from storage.platform import database, object_store
    from storage.tables import FindingRow

    with database().unit_of_work() as s:
        findings = s.scalar(select(func.count()).select_from(FindingRow))
    assert findings > len(features)  # overlapping frames saw things twice; the import merged them
    assert any(len(f["properties"]["frames"]) >= 2 for f in features)

    # one object per thing: no true object of the twin is matched by two objects of its class
    projection = twin_world.projection
    truths = {v.object_id for fr in frames for v in fr.objects}
    matched: dict[str, int] = {}
    for f in features:
        poly = projection.geometry_to_metric(shapely.geometry.shape(f["geometry"]))
        for oid in truths:
            obj = twin_world.require(oid)
            if obj.kind == f["properties"]["class"] and obj.polygon.buffer(3.0).intersects(poly):
                matched[oid] = matched.get(oid, 0) + 1
    assert matched, "the demo detector found none of the twin's objects in view"
    assert max(matched.values()) == 1, matched
    # and no two objects of one class sit within the merge radius of each other
    for a in range(len(features)):
        for b in range(a + 1, len(features)):
            fa, fb = features[a], features[b]
            if fa["properties"]["class"] == fb["properties"]["class"]:
                pa = projection.geometry_to_metric(shapely.geometry.shape(fa["geometry"]))
                pb = projection.geometry_to_metric(shapely.geometry.shape(fb["geometry"]))
                assert pa.distance(pb) > 0.0

    # a rerun finds everything done: nothing stored, ingested or analysed, the same objects
    keys_before = sorted(o.key for o in object_store().list("flights/"))
    assert main(["import", str(folder), "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert "stored 0 now, ingested 0, analysed 0 (nothing to do)" in again
    assert json.loads(out.read_text()) == doc
    with database().unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(FindingRow)) == findings
    assert sorted(o.key for o in object_store().list("flights/")) == keys_before
    assert np.isfinite([f["properties"]["score"] for f in features]).all()

    # multi-view agreement: every object knows how many frames covered it; requiring agreement keeps
    # only those seen by two frames or by the only frame that covered them
    for f in features:
        p = f["properties"]
        assert p["confirmed"] == (len(p["frames"]) >= min(2, max(1, p["covered_by"])))
    strict = tmp_path / "confirmed.geojson"
    assert main(["import", str(folder), "--out", str(strict), "--require-agreement"]) == 0
    assert "analysed 0" in capsys.readouterr().out
    kept = json.loads(strict.read_text())["features"]
    assert all(f["properties"]["confirmed"] for f in kept)
    assert len(kept) == sum(f["properties"]["confirmed"] for f in features)


def _ticketing_rows() -> dict[str, int]:
    from storage.platform import database
    from storage.tables import ReviewItemRow, SightingRow, TicketRow

    with database().unit_of_work() as s:
        return {name: s.scalar(select(func.count()).select_from(row)) or 0
                for name, row in (("tickets", TicketRow), ("sightings", SightingRow), ("review", ReviewItemRow))}


def test_import_tickets_its_objects_once(twin_world, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.flight_import import import_flight
    from pipeline.tickets import candidate_key
    from storage.platform import database
    from storage.tables import ReviewItemRow, TicketRow

    folder = tmp_path / "flight-0816"
    render_strip(twin_world, folder)

    # GeoJSON only: the objects are found, nothing reaches ticketing
    assert main(["import", str(folder), "--no-tickets"]) == 0
    assert "tickets: not routed" in capsys.readouterr().out
    assert _ticketing_rows() == {"tickets": 0, "sightings": 0, "review": 0}

    # the same flight imported with routing: every object becomes a ticket, a sighting or a review item
    assert main(["import", str(folder)]) == 0
    printed = capsys.readouterr().out
    rerun = import_flight(folder)  # to read the report's objects and their routing
    objects = rerun.objects
    assert objects and not rerun.did_work
    rows = _ticketing_rows()
    assert rows["tickets"] + rows["review"] > 0
    opened = rows["tickets"]
    assert f"tickets: {opened} new tickets" in printed and f"{rows['review']} to review" in printed
    keys = {candidate_key(rerun.flight_id, o.finding_ids) for o in objects}
    with database().unit_of_work() as s:
        ticketed = set(s.scalars(select(TicketRow.source_key)))
        queued = set(s.scalars(select(ReviewItemRow.candidate_key)))
    assert ticketed | queued <= keys and not ticketed & queued
    # each object went one way: a ticket (its first sighting), a review item, or a sighting of a ticket
    assert len(ticketed) + len(queued) + (rows["sightings"] - rows["tickets"]) == len(objects)

    # reruns (the report above and the CLI) add no ticket, sighting or review item: every object is known
    assert rerun.tickets is not None
    assert (rerun.tickets.created, rerun.tickets.sightings, rerun.tickets.review) == ((), (), ())
    assert rerun.tickets.already_known == len(objects)
    assert main(["import", str(folder)]) == 0
    assert f"0 new tickets (0 recurrences), 0 sightings of open tickets, 0 to review, {len(objects)} already known" \
        in capsys.readouterr().out
    assert _ticketing_rows() == rows
