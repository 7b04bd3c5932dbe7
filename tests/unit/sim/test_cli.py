"""`dockpatrol sim world|render|dataset` from the command line, including bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from api.cli import main


def test_world_writes_geojson(tmp_path: Path) -> None:
    out = tmp_path / "w.geojson"
    assert main(["sim", "world", "--seed", "3", "--size-m", "500", "--out", str(out)]) == 0
    fc = json.loads(out.read_text())
    assert fc["type"] == "FeatureCollection" and fc["features"]
    assert {"class", "appears_at", "removed_at"} <= set(fc["features"][0]["properties"])


def test_render_writes_a_drone_jpeg_and_an_ortho(tmp_path: Path) -> None:
    import rasterio

    jpg = tmp_path / "f.jpg"
    assert main(["sim", "render", "--seed", "3", "--size-m", "600", "--out", str(jpg),
                 "--width", "640", "--height", "480", "--alt", "70"]) == 0
    img = Image.open(io.BytesIO(jpg.read_bytes()))
    assert img.size == (640, 480) and 0x8825 in img.getexif()
    tif = tmp_path / "o.tif"
    assert main(["sim", "render", "--seed", "3", "--size-m", "600", "--out", str(tif),
                 "--ortho", "113.149,23.029,113.151,23.031", "--gsd", "0.5"]) == 0
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 32649 and ds.transform.a == 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ortho", "113.1,23.0,113.2"], "four numbers"),
        (["--ortho", "a,b,c,d"], "four numbers"),
        (["--alt", "0"], "--alt"),
        (["--at", "yesterday"], "ISO"),
        (["--lon", "113.15"], "both --lon and --lat"),
    ],
)
def test_render_bad_input_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                            message: str) -> None:
    code = main(["sim", "render", "--seed", "1", "--size-m", "300", "--out", str(tmp_path / "x.jpg"), *args])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_dataset_command_prints_instances_per_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert main(["sim", "dataset", "--out", str(out), "--frames", "3", "--val-frames", "1", "--imgsz", "256",
                 "--seed", "4", "--world-size-m", "500"]) == 0
    printed = capsys.readouterr().out
    assert "steel_shed" in printed and (out / "data.yaml").exists() and (out / "summary.json").exists()


def test_sim_changes_writes_scored_geojson_and_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "changes"
    assert main(["sim", "changes", "--seed", "4", "--size-m", "120", "--appear", "2", "--vanish", "1", "--grow", "0",
                 "--out", str(out)]) == 0
    fc = json.loads((out / "changes.geojson").read_text())
    assert fc["properties"]["synthetic"] is True and fc["properties"]["illumination_only"] is False
    assert [f["properties"]["number"] for f in fc["features"]] == list(range(1, len(fc["features"]) + 1))
    with Image.open(out / "changes.png") as png:
        assert png.width > 2 * 100
    assert "recall" in capsys.readouterr().out


def test_tune_thresholds_scores_every_class_without_touching_the_card(capsys: pytest.CaptureFixture[str]) -> None:
    from vision.registry import require_card

    card = require_card("dockpatrol-demo-yolo11n")
    before = card.card_path.read_bytes()
    assert main(["sim", "tune-thresholds", card.name, "--seed", "5001", "--seed", "5002", "--frames", "1"]) == 0
    printed = capsys.readouterr().out
    assert "twin worlds 5001, 5002" in printed
    assert all(c.taxonomy in printed for c in card.classes if c.taxonomy)
    assert card.card_path.read_bytes() == before
