"""Mosaic tiles per second served over HTTP from a patrol COG (GET /api/tiles/…, signed template).

A synthetic patrol mosaic (RGB, JPEG-compressed COG with an internal mask and overviews, the
format ``vision.mosaic`` writes) is stored as flight F1's mosaic of area A1; a real uvicorn server
(one worker, subprocess) on 127.0.0.1 serves it; the bench requests every web-mercator tile
covering the mosaic at one zoom level, in shuffled order, up to ``--requests``, first from one
client and then from ``--clients`` concurrent clients.

Peer, measured in the same run: rio-tiler reading and rendering the same tiles in-process (no HTTP,
no signature, no database lookup); the ratio is what serving over the API keeps of it.

Run: PYTHONPATH=. .venv/bin/python bench/bench_tiles.py [--side-m 400] [--gsd-cm 5] [--zoom 19] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

EPSG = 32649
WEST_M, NORTH_M = 700_000.0, 2_548_000.0


def write_cog(path: Path, *, side_px: int, gsd_m: float) -> None:
    """A textured RGB mosaic with a no-data corner, as a JPEG COG with an internal mask."""
    import rasterio
    from affine import Affine
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:side_px, 0:side_px]
    rgb = np.stack([(xx * 7 + yy * 3) % 256, (xx * 2 + yy * 5) % 256, rng.integers(0, 256, (side_px, side_px))])
    mask = np.where(xx + yy > side_px // 3, 255, 0).astype(np.uint8)  # the patrol did not cover one corner
    raw = path.with_suffix(".raw.tif")
    with rasterio.open(raw, "w", driver="GTiff", width=side_px, height=side_px, count=3, dtype="uint8",
                       crs=f"EPSG:{EPSG}", transform=Affine(gsd_m, 0, WEST_M, 0, -gsd_m, NORTH_M),
                       tiled=True) as dst:
        dst.write(rgb.astype(np.uint8))
        dst.write_mask(mask)
    cog_translate(raw, path, cog_profiles.get("jpeg"), add_mask=True, quiet=True, overview_resampling="average",
                  config={"GDAL_TIFF_INTERNAL_MASK": True})
    raw.unlink()


def seed(cog: Path) -> None:
    from shapely.geometry import box, mapping

    from api import context
    from flight.types import Flight, FlightStatus
    from missions.types import Mission, PatrolArea
    from storage.repositories import areas, flights

    key = "flights/F1/mosaic.tif"
    context.object_store().put(key, cog.read_bytes(), content_type="image/tiff")
    with context.database().unit_of_work() as session:
        areas.upsert(session=session, area=PatrolArea(id="A1", name="Bench", polygon=mapping(box(112.9, 23.0, 113.0, 23.1)),
                                                      scenarios=frozenset()))
        flights.save_mission(session=session, mission=Mission(id="M1", area_id="A1"))
        flights.save_flight(session=session, flight=Flight(id="F1", mission_id="M1", status=FlightStatus.LANDED,
                                                           summary={"mosaic": {"key": key}}))


def tiles_over(cog: Path, zoom: int) -> list[tuple[int, int, int]]:
    from rio_tiler.io import Reader

    with Reader(str(cog)) as r:
        minx, miny, maxx, maxy = r.get_geographic_bounds(r.tms.rasterio_geographic_crs)
        return [(t.x, t.y, t.z) for t in r.tms.tiles(minx, miny, maxx, maxy, [zoom])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side-m", type=float, default=400.0, help="mosaic side in metres")
    ap.add_argument("--gsd-cm", type=float, default=5.0)
    ap.add_argument("--zoom", type=int, default=19)
    ap.add_argument("--requests", type=int, default=300, help="tiles requested per measurement (bounded)")
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    os.environ["DOCKPATROL_DATA_DIR"] = str(data_dir)
    for name in ("DOCKPATROL_DATABASE_URL", "DOCKPATROL_S3_ENDPOINT"):
        os.environ.pop(name, None)
    side_px = round(args.side_m / (args.gsd_cm / 100))
    cog = data_dir / "mosaic.tif"
    t0 = time.perf_counter()
    write_cog(cog, side_px=side_px, gsd_m=args.gsd_cm / 100)
    print(f"mosaic: {side_px}×{side_px} px at {args.gsd_cm} cm ({cog.stat().st_size / 1e6:.1f} MB JPEG COG), "
          f"written in {time.perf_counter() - t0:.1f} s")
    seed(cog)
    tiles = tiles_over(cog, args.zoom)
    random.Random(1).shuffle(tiles)
    tiles = (tiles * (1 + args.requests // max(1, len(tiles))))[: args.requests]
    print(f"zoom {args.zoom}: {len(set(tiles))} distinct tiles over the mosaic, {len(tiles)} requests")

    # Peer: rio-tiler in-process on the same file, same tiles, same PNG rendering.
    from api.routers.tiles import render_tile

    for x, y, z in tiles[:5]:
        render_tile(cog, x=x, y=y, z=z)  # warm GDAL's caches as the server's first requests do
    t0 = time.perf_counter()
    for x, y, z in tiles:
        render_tile(cog, x=x, y=y, z=z)
    peer_tps = len(tiles) / (time.perf_counter() - t0)

    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
                               "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning"],
                              env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=30) as c:
            while True:
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the API server did not come up")
                time.sleep(0.2)
        template = _template(base)
        urls = [template.format(z=z, x=x, y=y) for x, y, z in tiles]
        with httpx.Client(base_url=base, timeout=30) as c:
            for u in urls[:5]:
                c.get(u).raise_for_status()
            t0 = time.perf_counter()
            sizes = 0
            for u in urls:
                r = c.get(u)
                r.raise_for_status()
                sizes += len(r.content)
            one_tps = len(urls) / (time.perf_counter() - t0)

        def fetch(chunk: list[str]) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                for u in chunk:
                    c.get(u).raise_for_status()

        chunks = [urls[i:: args.clients] for i in range(args.clients)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(fetch, chunks))
        many_tps = len(urls) / (time.perf_counter() - t0)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"peer  rio-tiler in-process (Reader.tile + render PNG): {peer_tps:7.1f} tiles/s")
    print(f"HTTP  1 client  GET /api/tiles (uvicorn, 1 worker):   {one_tps:7.1f} tiles/s "
          f"(mean PNG {sizes / len(urls) / 1e3:.0f} kB)  ratio vs peer {one_tps / peer_tps:.2f}")
    print(f"HTTP  {args.clients} clients concurrently:                       {many_tps:7.1f} tiles/s  "
          f"ratio vs peer {many_tps / peer_tps:.2f}")


def _template(base: str) -> str:
    """A signed tile template from GET /api/mosaics, signed in as a fresh admin."""
    from api import context
    from api.auth import hash_password
    from dockpatrol.identity import Role
    from storage.repositories import users

    with context.database().unit_of_work() as session:
        users.create_user(session=session, username="bench", password_hash=hash_password("bench-password-123"),
                          roles=frozenset({Role.ADMIN}), department=None)
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.post("/api/auth/token", data={"username": "bench", "password": "bench-password-123"})
        r.raise_for_status()
        listed = c.get("/api/mosaics", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        listed.raise_for_status()
        return str(listed.json()[0]["tile_url"])


if __name__ == "__main__":
    main()
