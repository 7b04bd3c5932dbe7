"""The CLI as a user runs it: every OS-level failure is one line naming the path, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AREA = '{"type":"Polygon","coordinates":[[[113.1,23.0],[113.101,23.0],[113.101,23.001],[113.1,23.001],[113.1,23.0]]]}'


def run_cli(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    import numpy as np
    import rasterio

    (tmp_path / "area.geojson").write_text(AREA)
    (tmp_path / "deep.geojson").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-file").write_text("not a directory")
    local = rasterio.crs.CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],'
                                      'AXIS["Northing",NORTH]]')
    with rasterio.open(tmp_path / "local.tif", "w", driver="GTiff", width=32, height=32, count=3, dtype="uint8",
                       crs=local, transform=rasterio.Affine(1, 0, 0, 0, -1, 32)) as ds:
        ds.write(np.zeros((3, 32, 32), np.uint8))
    return tmp_path


PLAN = ["plan", "--dock", "113.1,23.0"]
PROBES = [
    ("missing input file", [*PLAN, "--area", "missing.geojson", "-o", "p.json"], "missing.geojson", {}),
    ("missing image", ["detect", "missing.jpg"], "missing.jpg", {}),
    ("directory as input", [*PLAN, "--area", "a-dir", "-o", "p.json"], "a-dir", {}),
    ("directory as image", ["detect", "a-dir"], "a-dir", {}),
    ("directory as output", [*PLAN, "--area", "area.geojson", "-o", "a-dir"], "a-dir", {}),
    ("directory as world output", ["sim", "world", "--out", "a-dir"], "a-dir", {}),
    ("/dev/zero as area", [*PLAN, "--area", "/dev/zero", "-o", "p.json"], "/dev/zero", {}),
    ("/dev/zero as image", ["detect", "/dev/zero"], "/dev/zero", {}),
    ("unwritable output", [*PLAN, "--area", "area.geojson", "-o", "/proc/p.json"], "/proc/p.json", {}),
    ("unwritable world output", ["sim", "world", "--out", "/proc/w.geojson"], "/proc/w.geojson", {}),
    ("GeoTIFF in a local CS", ["detect", "local.tif"], "local coordinate system", {}),
    ("100k-deep GeoJSON", [*PLAN, "--area", "deep.geojson", "-o", "p.json"], "nests too deeply", {}),
    ("NaN heading", [*PLAN, "--area", "area.geojson", "--heading-deg", "nan", "-o", "p.json"], "--heading-deg", {}),
    ("port out of range", ["serve", "--port", "70000"], "65535", {}),
    ("data dir is a file", ["db", "upgrade"], "a-file", {"DOCKPATROL_DATA_DIR": "a-file"}),
]


@pytest.mark.parametrize("what,args,named,env", PROBES, ids=[p[0] for p in PROBES])
def test_probe_fails_in_one_line(inputs: Path, what: str, args: list[str], named: str, env: dict[str, str]) -> None:
    env = {k: str(inputs / v) for k, v in env.items()}
    out = run_cli(args, cwd=inputs, env=env)
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0, what
    assert "Traceback" not in out.stderr and len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith("error: ") and named in lines[0], lines[0]
