"""Schedule a week for 8 docks × 200 areas (mixed RRULE/cron cadences, emergencies, re-inspections, a
typhoon mark) and time it; target < 2 s.

Peer, measured in the same run: the same week scheduled from full planner runs (``plan_survey`` for
each area from its two nearest docks) instead of the scheduler's analytic flight model; also prints
how far the model's flight minutes are from the planner's.
Run: .venv/bin/python bench/bench_scheduler.py
"""

from __future__ import annotations

import math
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from dockpatrol.geo import haversine_m
from dockpatrol.taxonomy import Category
from missions.areas import circle_polygon, geojson
from missions.planner import plan_survey
from missions.scheduler import PatrolRequest, PatrolSchedule, Priority, SortieEstimate, schedule
from missions.types import Dock, PatrolArea, target_gsd_cm
from missions.weather import ConstantWeather, MarkedWeather, Weather, WeatherMark

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
RULES = ("FREQ=DAILY;BYHOUR=9", "0 14 * * *", "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=10", "FREQ=DAILY;INTERVAL=2;BYHOUR=8",
         "30 16 * * 1-5")


def fleet(rng: random.Random) -> tuple[list[Dock], list[PatrolArea], list[PatrolSchedule], list[PatrolRequest]]:
    docks = [Dock(id=f"D{k + 1}", name=f"dock {k + 1}", lon=113.11 + 0.028 * (k % 4), lat=23.01 + 0.035 * (k // 4),
                  max_range_m=5000.0) for k in range(8)]
    areas = []
    for k in range(200):
        scen = frozenset({rng.choice(list(Category))})
        lon, lat = 113.10 + rng.random() * 0.11, 23.0 + rng.random() * 0.055
        areas.append(PatrolArea(id=f"A{k:03d}", name=f"area {k}", scenarios=scen, gsd_cm=target_gsd_cm(scen),
                                polygon=geojson(circle_polygon(lon, lat, rng.uniform(50, 180), segments=12))))
    scheds = [PatrolSchedule(area_id=a.id, rule=RULES[k % len(RULES)], timezone="Asia/Shanghai")
              for k, a in enumerate(areas)]
    reqs = [PatrolRequest(id=f"FIRE-{k}", lon=113.10 + rng.random() * 0.1, lat=23.0 + rng.random() * 0.05,
                          not_before=START + timedelta(hours=rng.uniform(0, 160)), priority=Priority.EMERGENCY)
            for k in range(3)]
    for k in range(20):
        t = START + timedelta(hours=rng.uniform(0, 150))
        reqs.append(PatrolRequest(id=f"T-{k}", area_id=rng.choice(areas).id, not_before=t,
                                  deadline=t + timedelta(hours=24), priority=Priority.REINSPECTION))
    return docks, areas, scheds, reqs


def main() -> None:
    rng = random.Random(42)
    docks, areas, scheds, reqs = fleet(rng)
    typhoon = WeatherMark(START + timedelta(days=2), START + timedelta(days=2, hours=10),
                          Weather(wind_m_s=18.0, note="typhoon signal 8"))
    weather = MarkedWeather(ConstantWeather(), (typhoon,))

    def run(estimates: dict[tuple[str, str], SortieEstimate] | None = None):  # type: ignore[no-untyped-def]
        return schedule(docks=docks, areas=areas, schedules=scheds, requests=reqs, start=START, days=7,
                        weather=weather, estimates=estimates)

    walls, cpus = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        table = run()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t_model, c_model = statistics.median(walls), statistics.median(cpus)

    t0, c0 = time.perf_counter(), time.process_time()
    estimates: dict[tuple[str, str], SortieEstimate] = {}
    for a in areas:
        c = a.polygon["coordinates"][0][0]
        for d in sorted(docks, key=lambda d: haversine_m(d.lon, d.lat, c[0], c[1]))[:2]:
            try:
                p = plan_survey(a, dock=d)
            except ValueError:
                continue
            estimates[(a.id, d.id)] = SortieEstimate(p.sorties and len(p.sorties),
                                                     max(s.duration_s for s in p.sorties))
    t_plans = time.perf_counter() - t0
    peer = run(estimates)
    t_peer, c_peer = time.perf_counter() - t0, time.process_time() - c0

    # how far the analytic flight model is from the planner, per scheduled sortie
    errors = []
    for e in table.entries:
        est = estimates.get((e.area_id, e.dock_id)) if e.area_id else None
        if est is not None:
            errors.append(abs((e.end - e.start).total_seconds() - est.sortie_s) / est.sortie_s)
    print(f"week for {len(docks)} docks × {len(areas)} areas, {len(reqs)} ad-hoc requests, one typhoon mark")
    print(f"analytic model: {len(table.entries)} sorties scheduled, {len(table.unscheduled)} not "
          f"(each with a reason), median of 3: {t_model:.2f} s wall, {c_model:.2f} s CPU (target < 2 s)")
    print(f"peer, full planner estimates ({len(estimates)} plans): {len(peer.entries)} sorties scheduled, "
          f"{len(peer.unscheduled)} not, {t_peer:.2f} s wall ({t_plans:.2f} s of it planning), {c_peer:.2f} s CPU")
    print(f"ratio analytic / planner-fed (CPU): {c_model / c_peer:.3f}")
    if errors:
        print(f"model vs planner sortie minutes: median error {statistics.median(errors):.0%}, "
              f"90th percentile {sorted(errors)[math.floor(0.9 * (len(errors) - 1))]:.0%}")


if __name__ == "__main__":
    main()
