"""Ticket list and dedup at district scale.

1. The console's ticket list (bbox + status + department, newest 100) over 100,000 tickets, p50/p95
   on SQLite and, with ``--pg URL``, PostgreSQL+PostGIS (each query's best of two runs); peer: the
   same queries with the ticket indexes dropped (what a schema without them does).
2. Dedup of 10,000 new findings against 100,000 open tickets with ``TicketIndex`` (per-class
   STRtree in UTM metres); peer: a linear scan (shapely distance to every same-class ticket),
   timed on a sample and scaled linearly.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_tickets.py [--pg postgresql+psycopg://…] [--tickets 100000]

The PostgreSQL database given is wiped (schema public dropped and recreated).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import Engine, insert, text

from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import CATEGORY_OF, DEPARTMENT_OF, Category
from storage.db import make_engine, session_factory, wipe_postgis_schema
from storage.migrate import upgrade
from storage.repositories import tickets as repo
from storage.tables import TicketRow
from tickets.dedup import TicketIndex, TicketRef
from tickets.types import TicketStatus

LON0, LAT0 = 113.15, 23.03
HALF_M = 2000.0  # the district is 4 km × 4 km
CLASSES = list(CATEGORY_OF)
STATUSES = [s for s in TicketStatus]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PEER_QUERIES = 30
PROJ = LocalProjection.around(LON0, LAT0)
X0, Y0 = (float(v) for v in PROJ.to_metric(LON0, LAT0))


def squares_lonlat(xy: np.ndarray, size_m: float) -> np.ndarray:
    boxes = shapely.box(xy[:, 0] - size_m / 2, xy[:, 1] - size_m / 2, xy[:, 0] + size_m / 2, xy[:, 1] + size_m / 2)
    return PROJ.geometry_to_lonlat(boxes)


def random_xy(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([X0 + rng.uniform(-HALF_M, HALF_M, n), Y0 + rng.uniform(-HALF_M, HALF_M, n)])


def fill(engine: Engine, n: int, seed: int = 1) -> float:
    rng = np.random.default_rng(seed)
    geoms = squares_lonlat(random_xy(rng, n), 4.0)
    bounds = shapely.bounds(geoms)
    classes = rng.choice(CLASSES, n)
    status_p = np.array([0.15, 0.2, 0.1, 0.1, 0.05, 0.05, 0.25, 0.05, 0.05])
    statuses = rng.choice([str(s) for s in STATUSES], n, p=status_p / status_p.sum())
    rows = []
    for i in range(n):
        geom = shapely.geometry.mapping(geoms[i])
        cls = str(classes[i])
        rows.append({"id": f"TK-{i:07d}", "number": f"GC-B-{i:07d}", "category": str(CATEGORY_OF[cls]),
                     "class_name": cls, "department": str(DEPARTMENT_OF[Category(CATEGORY_OF[cls])]),
                     "status": str(statuses[i]), "priority": 50, "evidence": [], "routing": {},
                     "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in geom["coordinates"][0]]]},
                     "min_lon": bounds[i, 0], "min_lat": bounds[i, 1], "max_lon": bounds[i, 2],
                     "max_lat": bounds[i, 3], "created_at": T0 + timedelta(seconds=i), "updated_at": T0,
                     "version": 1, "score": 0.8, "reopen_count": 0, "sightings": 1})
    start = time.perf_counter()
    with engine.begin() as conn:
        for k in range(0, n, 5000):
            conn.execute(insert(TicketRow), rows[k:k + 5000])
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE tickets"))
    return time.perf_counter() - start


def queries(n: int, seed: int = 2) -> list[tuple[tuple[float, float, float, float], list[TicketStatus], list[str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x, y = X0 + rng.uniform(-HALF_M, HALF_M), Y0 + rng.uniform(-HALF_M, HALF_M)
        half = rng.choice([100.0, 250.0, 500.0])
        lon0, lat0 = PROJ.to_lonlat(x - half, y - half)
        lon1, lat1 = PROJ.to_lonlat(x + half, y + half)
        statuses = rng.sample([TicketStatus.NEW, TicketStatus.DISPATCHED, TicketStatus.ACCEPTED,
                               TicketStatus.IN_PROGRESS], rng.choice([1, 2]))
        out.append(((float(lon0), float(lat0), float(lon1), float(lat1)), statuses,
                    [rng.choice(["enforcement", "environmental", "fire_emergency"])]))
    return out


def time_list(engine: Engine, qs: list, rounds: int = 2) -> tuple[float, float, list[int]]:
    """p50/p95 over queries of each query's best of ``rounds`` runs (a shared machine's hiccups filtered)."""
    sessions = session_factory(engine)
    best = [float("inf")] * len(qs)
    found: list[int] = []
    with sessions() as session:
        repo.list_tickets(session=session, bbox=qs[0][0], statuses=qs[0][1], departments=qs[0][2])  # warm-up
        for r in range(rounds):
            for i, (bbox, statuses, departments) in enumerate(qs):
                t = time.perf_counter()
                n = len(repo.list_tickets(session=session, bbox=bbox, statuses=statuses, departments=departments,
                                          limit=100))
                best[i] = min(best[i], (time.perf_counter() - t) * 1000)
                if r == 0:
                    found.append(n)
    times = sorted(best)
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], found


def drop_ticket_indexes(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in ("ix_tickets_department_status_bbox", "ix_tickets_bbox", "ix_tickets_geometry_gist"):
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE tickets"))


def bench_list(label: str, engine: Engine, n: int, n_queries: int) -> None:
    upgrade(engine)
    load_s = fill(engine, n)
    qs = queries(n_queries)
    p50, p95, found = time_list(engine, qs)
    drop_ticket_indexes(engine)
    peer_qs = qs[:PEER_QUERIES]  # the unindexed peer is slow: a subset keeps the run bounded
    q50, q95, found_peer = time_list(engine, peer_qs)
    if found[:PEER_QUERIES] != found_peer:
        raise SystemExit(f"{label}: indexed and unindexed lists disagree")
    print(f"list {label:<10} {n:,} tickets (loaded in {load_s:.1f} s), {n_queries} queries, "
          f"{sum(found) / n_queries:.1f} rows/query: p50 {p50:.2f} ms, p95 {p95:.2f} ms (target < 50 ms) | peer "
          f"'no ticket indexes' ({len(peer_qs)} queries): p50 {q50:.2f} ms, p95 {q95:.2f} ms → {q95 / p95:.1f}× "
          f"slower at p95")


def bench_dedup(n_tickets: int, n_findings: int, sample: int) -> None:
    rng = np.random.default_rng(3)
    geoms = squares_lonlat(random_xy(rng, n_tickets), 4.0)
    classes = rng.choice(CLASSES, n_tickets)
    refs = [TicketRef(id=f"T{i}", class_name=str(classes[i]), status=TicketStatus.DISPATCHED, geometry=geoms[i])
            for i in range(n_tickets)]
    # half the findings re-see an existing ticket (within a metre or two), half are new
    pick = rng.integers(0, n_tickets, n_findings // 2)
    seen_again = shapely.centroid(PROJ.geometry_to_metric(geoms[pick]))
    again_xy = shapely.get_coordinates(seen_again) + rng.normal(0, 1.0, (len(pick), 2))
    fresh_xy = random_xy(rng, n_findings - len(pick))
    f_geoms = squares_lonlat(np.vstack([again_xy, fresh_xy]), 3.0)
    f_classes = [str(c) for c in np.concatenate([classes[pick], rng.choice(CLASSES, n_findings - len(pick))])]
    radius = lambda cls: 10.0  # noqa: E731

    start = time.perf_counter()
    index = TicketIndex(refs, projection=PROJ)
    built = time.perf_counter() - start
    matches = index.match(f_classes, list(f_geoms), radius)
    total = time.perf_counter() - start
    sightings = sum(m.ticket_id is not None for m in matches)

    # Peer: for each finding, the distance to every ticket of its class (one vectorised GEOS call each).
    metric = PROJ.geometry_to_metric(geoms)
    by_class = {c: np.flatnonzero(classes == c) for c in CLASSES}
    f_metric = PROJ.geometry_to_metric(f_geoms)
    idx = rng.choice(n_findings, sample, replace=False)
    start = time.perf_counter()
    agree = 0
    for i in idx.tolist():
        members = by_class[f_classes[i]]
        d = shapely.distance(f_metric[i], metric[members])
        j = int(np.argmin(d))
        hit = f"T{members[j]}" if d[j] <= 10.0 else None
        agree += hit == matches[i].ticket_id or (hit is not None and matches[i].ticket_id is not None)
    naive_s = (time.perf_counter() - start) * n_findings / sample
    print(f"dedup {n_findings:,} findings vs {n_tickets:,} open tickets: {total:.2f} s (index build {built:.2f} s; "
          f"{sightings:,} matched an open ticket; target < 2 s) | peer 'linear scan' (shapely distance to every "
          f"same-class ticket, {sample} findings timed, scaled): {naive_s:.1f} s → {naive_s / total:.0f}× slower; "
          f"agreement on the sample {agree}/{sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg", help="PostgreSQL URL (its public schema is wiped)")
    args = parser.parse_args()
    bench_dedup(args.tickets, args.findings, sample=500)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        bench_list("SQLite", engine, args.tickets, args.queries)
        engine.dispose()
    if args.pg:
        engine = make_engine(args.pg)
        wipe_postgis_schema(engine)
        bench_list("PostgreSQL", engine, args.tickets, args.queries)
        engine.dispose()


if __name__ == "__main__":
    main()
