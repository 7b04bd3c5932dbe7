"""p95 of the console's list requests end to end over HTTP (auth, JSON, problem handling), target < 100 ms.

1. GET /api/tickets with the map's bbox (plus status and department filters, a page of 100) over
   100,000 tickets, filled and queried exactly as bench_tickets.py does for the repository.
2. GET /api/findings with the map's bbox over 100,000 findings.
3. GET /api/docks, /api/areas, /api/grids as the console loads them.

Peer, measured in the same run: the same ticket and findings pages read in-process straight from
the repository (no HTTP, no auth, no JSON); the ratio is what the API adds. Backends: SQLite (a
file) and PostgreSQL+PostGIS when DOCKPATROL_BENCH_PG_URL is set (that database is emptied first:
use a scratch database).

Run: PYTHONPATH=. .venv/bin/python bench/bench_api.py [--rows 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

LON0, LAT0, SPAN_DEG = 113.10, 23.00, 0.12  # a ~12 km square district
VIEW_DEG = 0.02  # a map view of ~2 km across at street zoom


def _fresh_pg(url: str) -> str:
    """Empty the bench database (its public schema is dropped: never point this at real data)."""
    from storage.db import make_engine, wipe_postgis_schema

    admin = make_engine(url)
    wipe_postgis_schema(admin)
    admin.dispose()
    return url


def seed(rows: int) -> None:
    """The demo district plus ``rows`` findings spread over it, inserted in batches."""
    from sqlalchemy import insert

    from api import context
    from api.demo_district import seed as seed_district
    from storage.geometry import bbox_of
    from storage.tables import FindingRow

    db = context.database()
    with db.unit_of_work() as session:
        seed_district(session)
    rng = random.Random(7)
    now = datetime.now(UTC)
    classes = [("steel_shed", "construction"), ("garbage_dump", "pollution"), ("smoke", "fire")]
    batch: list[dict[str, Any]] = []
    for i in range(rows):
        lon, lat = LON0 + rng.random() * SPAN_DEG, LAT0 + rng.random() * SPAN_DEG
        d = 0.0001 + rng.random() * 0.0002
        geometry = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d],
                                                        [lon, lat]]]}
        min_lon, min_lat, max_lon, max_lat = bbox_of(geometry)
        cls, cat = classes[i % 3]
        batch.append({"id": f"B{i:07d}", "class_name": cls, "category": cat, "score": 0.5 + rng.random() / 2,
                      "seen_at": now - timedelta(minutes=i), "status": "new", "geometry": geometry,
                      "min_lon": min_lon, "min_lat": min_lat, "max_lon": max_lon, "max_lat": max_lat,
                      "created_at": now, "updated_at": now, "area_m2": 400.0, "model": "bench"})
        if len(batch) == 5000 or i == rows - 1:
            with db.unit_of_work() as session:
                session.execute(insert(FindingRow), batch)
            batch = []
    if db.dialect == "postgresql":
        from sqlalchemy import text

        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE findings"))


def _bench_tickets() -> Any:
    """bench_tickets.py's fill and query generator (one definition of the district's 100k tickets)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_tickets", Path(__file__).with_name("bench_tickets.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def views(n: int) -> list[str]:
    rng = random.Random(11)
    out = []
    for _ in range(n):
        lon = LON0 + rng.random() * (SPAN_DEG - VIEW_DEG)
        lat = LAT0 + rng.random() * (SPAN_DEG - VIEW_DEG)
        out.append(f"{lon:.5f},{lat:.5f},{lon + VIEW_DEG:.5f},{lat + VIEW_DEG:.5f}")
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else values[0]


def run_backend(name: str, rows: int, requests: int) -> None:
    from api import context
    from api.app import create_app
    from api.auth import hash_password
    from api.local_server import serving
    from dockpatrol.identity import Role
    from dockpatrol.settings import reset_settings_cache
    from storage.repositories import queries, users
    from storage.repositories import tickets as tickets_repo

    reset_settings_cache()
    context.reset()
    t0 = time.perf_counter()
    seed(rows)
    tickets_bench = _bench_tickets()
    tickets_bench.fill(context.database().engine, rows)
    ticket_queries = tickets_bench.queries(requests)
    with context.database().unit_of_work() as session:
        users.create_user(session=session, username="bench", password_hash=hash_password("bench-password"),
                          roles=frozenset({Role.OPS_CENTRE}))  # sees every department, as the centre's map does
    seeded_s = time.perf_counter() - t0
    try:
        with serving(create_app()) as base, httpx.Client(base_url=base, timeout=60) as client:
            token = client.post("/api/auth/token", data={"username": "bench", "password": "bench-password"})
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            ticket_ms, ticket_peer_ms, ticket_found = [], [], []
            for bbox, statuses, departments in ticket_queries:
                params = {"bbox": ",".join(f"{v:.6f}" for v in bbox), "status": ",".join(statuses),
                          "department": departments[0], "limit": 100}
                start = time.perf_counter()
                r = client.get("/api/tickets", params=params)
                ticket_ms.append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
                ticket_found.append(len(r.json()["items"]))
                start = time.perf_counter()
                with context.database().unit_of_work() as session:
                    tickets_repo.list_tickets(session=session, statuses=statuses, departments=departments,
                                              bbox=bbox, limit=101)
                ticket_peer_ms.append((time.perf_counter() - start) * 1000)
            boxes = views(requests)
            for box in boxes[:10]:  # warm caches and connection pools
                client.get("/api/findings", params={"bbox": box, "limit": 100}).raise_for_status()
            http_ms, found = [], []
            for box in boxes:
                start = time.perf_counter()
                r = client.get("/api/findings", params={"bbox": box, "limit": 100})
                http_ms.append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
                found.append(len(r.json()["items"]))
            peer_ms = []
            for box in boxes:
                start = time.perf_counter()
                with context.database().unit_of_work() as session:
                    queries.findings(session=session, bbox=tuple(float(v) for v in box.split(",")), limit=100)
                peer_ms.append((time.perf_counter() - start) * 1000)
            lists = {}
            for path in ("/api/docks", "/api/areas", "/api/grids"):
                ms = []
                for _ in range(max(20, requests // 4)):
                    start = time.perf_counter()
                    client.get(path).raise_for_status()
                    ms.append((time.perf_counter() - start) * 1000)
                lists[path] = p(ms, 95)
    finally:
        context.reset()
    http95, peer95 = p(http_ms, 95), p(peer_ms, 95)
    t95, tpeer95 = p(ticket_ms, 95), p(ticket_peer_ms, 95)
    print(f"[{name}] {rows:,} tickets and {rows:,} findings seeded in {seeded_s:.1f} s")
    print(f"[{name}] GET /api/tickets?bbox&status&department  p50 {statistics.median(ticket_ms):6.1f} ms  "
          f"p95 {t95:6.1f} ms  (target < 100 ms: {'met' if t95 < 100 else 'MISSED'}; median "
          f"{statistics.median(ticket_found):.0f} tickets on the page)")
    print(f"[{name}] peer: repository list_tickets in-process  p95 {tpeer95:6.1f} ms  -> API/peer ratio "
          f"{t95 / tpeer95:.2f}x")
    print(f"[{name}] {requests} map views of "
          f"{VIEW_DEG * 111:.1f} km, median {statistics.median(found):.0f} findings on the page")
    print(f"[{name}] GET /api/findings?bbox  p50 {statistics.median(http_ms):6.1f} ms  p95 {http95:6.1f} ms  "
          f"(target < 100 ms: {'met' if http95 < 100 else 'MISSED'})")
    print(f"[{name}] peer: repository query in-process  p95 {peer95:6.1f} ms  -> API/peer ratio "
          f"{http95 / peer95:.2f}x")
    for path, ms in lists.items():
        print(f"[{name}] GET {path:12s} p95 {ms:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockpatrol-bench-api-") as tmp:
        os.environ["DOCKPATROL_DATA_DIR"] = str(Path(tmp))
        os.environ.pop("DOCKPATROL_DATABASE_URL", None)
        run_backend("sqlite", args.rows, args.requests)
        pg = os.environ.get("DOCKPATROL_BENCH_PG_URL")
        if pg:
            os.environ["DOCKPATROL_DATABASE_URL"] = _fresh_pg(pg)
            run_backend("postgresql", args.rows, args.requests)
        else:
            print("[postgresql] skipped: set DOCKPATROL_BENCH_PG_URL to a PostgreSQL+PostGIS database")


if __name__ == "__main__":
    main()
