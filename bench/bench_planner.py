"""Plan a 10 km² survey (construction GSD, two no-fly zones inside) and time it; target < 200 ms.

Peer, measured in the same run: the coverage check done the obvious way, as the union of every
frame's footprint rectangle, against the planner's per-leg swath union (same frames, same answer).
Run: .venv/bin/python bench/bench_planner.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import shapely
from shapely.geometry import shape

from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import Category
from missions.areas import area_m2, circle_polygon, geojson, to_metric
from missions.planner import plan_survey
from missions.safety import frame_footprints, plan_trace
from missions.types import Dock, NoFlyZone, PatrolArea

LON0, LAT0 = 113.15, 23.03
PROJ = LocalProjection.around(LON0, LAT0)
X0, Y0 = (float(v) for v in PROJ.to_metric(LON0, LAT0))


def rect(east: float, north: float, w: float, h: float, rot_deg: float) -> dict:
    a = np.radians(rot_deg)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]) @ r.T + [X0 + east, Y0 + north]
    lon, lat = PROJ.to_lonlat(c[:, 0], c[:, 1])
    ring = [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def timed(fn, repeat: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """Median wall and CPU seconds (CPU time is steadier on a shared machine), and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def main() -> None:
    geom = rect(1900, 1700, 3400, 2950, 20.0)
    area = PatrolArea(id="bench", name="10 km²", polygon=geom, scenarios=frozenset({Category.CONSTRUCTION}))
    lon1, lat1 = PROJ.to_lonlat(X0 + 1500, Y0 + 1200)
    lon2, lat2 = PROJ.to_lonlat(X0 + 2600, Y0 + 2300)
    zones = [NoFlyZone(id="N1", name="hospital", polygon=geojson(circle_polygon(float(lon1), float(lat1), 150))),
             NoFlyZone(id="N2", name="school", polygon=geojson(circle_polygon(float(lon2), float(lat2), 100)))]
    dock = Dock(id="D1", name="bench dock", lon=LON0, lat=LAT0, max_range_m=8000.0)
    plan_survey(area, dock=dock, no_fly=zones)  # warm caches (pyproj transformers)
    t_plan, c_plan, plan = timed(lambda: plan_survey(area, dock=dock, no_fly=zones), 5)

    target = to_metric(shape(geom), PROJ).difference(shapely.union_all([to_metric(shape(z.polygon), PROJ)
                                                                        for z in zones]))
    frames = []
    for s in plan.sorties:  # type: ignore[union-attr]
        across, along = s.camera.footprint_m(s.altitude_m)
        frames += frame_footprints(plan_trace(s, projection=PROJ).triggers, along_m=along, across_m=across)

    def naive() -> float:
        return shapely.union_all(frames).intersection(target).area / target.area

    t_peer, c_peer, naive_cov = timed(naive, 1)
    print(f"area {area_m2(shape(geom)) / 1e6:.2f} km², 2 no-fly zones, GSD {plan.gsd_cm:.2f} cm at "  # type: ignore[union-attr]
          f"{plan.altitude_m:.1f} m")  # type: ignore[union-attr]
    print(f"plan: {len(plan.sorties)} sorties, {plan.frame_count} frames, {plan.length_m / 1000:.1f} km, "  # type: ignore[union-attr]
          f"{plan.duration_s / 3600:.2f} h flying, coverage {plan.coverage_fraction:.4f}")  # type: ignore[union-attr]
    print(f"plan_survey (median of 5, coverage check included): {t_plan * 1000:.0f} ms wall, "
          f"{c_plan * 1000:.0f} ms CPU (target < 200 ms)")
    print(f"peer: per-frame footprint union coverage of the same plan: {t_peer * 1000:.0f} ms wall, "
          f"{c_peer * 1000:.0f} ms CPU, coverage {naive_cov:.4f}")
    print(f"ratio whole planner / peer coverage check alone (CPU): {c_plan / c_peer:.3f}")


if __name__ == "__main__":
    main()
