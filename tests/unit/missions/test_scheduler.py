"""Scheduler: recurrence, nearest dock with load balancing, occupancy, weather gate, priorities, reasons."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import Category
from missions.scheduler import (
    Occupancy,
    PatrolRequest,
    PatrolSchedule,
    Priority,
    SortieEstimate,
    expand_schedules,
    occurrences,
    requests_from_json,
    schedule,
)
from missions.types import DockStatus, PatrolArea
from missions.weather import (
    ConstantWeather,
    MarkedWeather,
    Weather,
    WeatherLimits,
    WeatherMark,
    marks_from_json,
)
from tests.unit.missions.shapes import dock, rectangle

T0 = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)  # Monday 08:00 in Foshan


def area(area_id: str, east: float, north: float, size: float = 200.0) -> PatrolArea:
    return PatrolArea(id=area_id, name=area_id, polygon=rectangle(east, north, size, size),
                      scenarios=frozenset({Category.CONSTRUCTION}))


def req(rid: str, area_id: str | None = "A1", *, at: timedelta = timedelta(0), deadline: timedelta | None = None,
        priority: Priority = Priority.ROUTINE, **kw: object) -> PatrolRequest:
    return PatrolRequest(id=rid, area_id=area_id, not_before=T0 + at,
                         deadline=None if deadline is None else T0 + deadline, priority=priority, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", ["FREQ=DAILY;BYHOUR=9;BYMINUTE=0", "RRULE:FREQ=DAILY;BYHOUR=9", "0 9 * * *"])
def test_rrule_and_cron_in_local_time(rule: str) -> None:
    got = occurrences(rule, start=T0, end=T0 + timedelta(days=3), timezone="Asia/Shanghai")
    assert got[:3] == [T0 + timedelta(hours=1), T0 + timedelta(days=1, hours=1), T0 + timedelta(days=2, hours=1)]
    assert got[-1] >= T0 + timedelta(days=3)  # the first one after the horizon bounds the last window


def test_rrule_repeats_the_time_of_its_start() -> None:
    starts = datetime(2025, 1, 6, 1, 30, tzinfo=UTC)  # a Monday, 09:30 in Foshan
    got = occurrences("FREQ=WEEKLY;BYDAY=MO,TH", start=T0, end=T0 + timedelta(days=7), dtstart=starts)
    assert got[:2] == [T0 + timedelta(hours=1, minutes=30), T0 + timedelta(days=3, hours=1, minutes=30)]


@pytest.mark.parametrize(("rule", "message"), [
    ("every day at nine", "neither an RRULE"),
    ("61 9 * * *", "not a valid cron expression"),
    ("FREQ=SOMETIMES", "not a valid RRULE"),
])
def test_bad_rules_are_named(rule: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        expand_schedules([PatrolSchedule(area_id="A1", rule=rule)], start=T0, end=T0 + timedelta(days=1))


def test_naive_times_and_unknown_zones_are_refused() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        schedule(docks=[dock()], areas=[], start=datetime(2025, 6, 2), days=1)
    with pytest.raises(InvalidInput, match="unknown time zone 'Mars/Olympus'"):
        occurrences("0 9 * * *", start=T0, end=T0 + timedelta(days=1), timezone="Mars/Olympus")


def test_each_occurrence_may_fly_until_the_next() -> None:
    reqs = expand_schedules([PatrolSchedule(area_id="A1", rule="0 9 * * *", timezone="Asia/Shanghai")], start=T0,
                            end=T0 + timedelta(days=2))
    assert [(r.not_before, r.deadline) for r in reqs] == [
        (T0 + timedelta(hours=1), T0 + timedelta(days=1, hours=1)),
        (T0 + timedelta(days=1, hours=1), T0 + timedelta(days=2, hours=1)),
    ]


def test_a_schedule_carries_its_priority_and_a_disabled_one_flies_nothing() -> None:
    urgent = PatrolSchedule(id="S1", area_id="A1", rule="0 9 * * *", priority=Priority.REINSPECTION)
    paused = PatrolSchedule(id="S2", area_id="A2", rule="0 9 * * *", enabled=False)
    reqs = expand_schedules([urgent, paused], start=T0, end=T0 + timedelta(days=2))
    assert [(r.area_id, r.priority, r.source) for r in reqs] == [("A1", Priority.REINSPECTION, "S1")] * 2


def test_nearest_dock_flies_and_the_dock_charges_between_flights() -> None:
    docks = [dock(0, 0, id="D1"), dock(3000, 0, id="D2")]
    t = schedule(docks=docks, areas=[area("A1", 300, 0)], requests=[req("r1"), req("r2")], start=T0, days=1,
                 config=_no_balance())
    e1, e2 = t.entries
    assert (e1.dock_id, e1.request_id, e1.start) == ("D1", "r1", T0)
    assert e1.reason == "nearest feasible dock (0.3 km)"
    assert e1.ready_at - e1.end == timedelta(seconds=docks[0].charge_s)
    # D1 is charging until ready_at; D2 is farther but done long before that
    assert (e2.dock_id, e2.start) == ("D2", T0) and e2.end < e1.ready_at
    assert e2.reason.startswith("D2 (2.7 km) finishes sooner than the nearest, D1 (0.3 km), free at")
    only_one = schedule(docks=docks[:1], areas=[area("A1", 300, 0)], requests=[req("r1"), req("r2")], start=T0, days=1)
    second = only_one.entries[1]
    assert second.start == only_one.entries[0].ready_at
    assert "waited" in second.reason and "D1 busy with patrol A1 until" in second.reason


def _no_balance():  # type: ignore[no-untyped-def]
    from missions.scheduler import SchedulerConfig

    return SchedulerConfig(load_weight=0.0)


def test_load_spreads_over_equally_near_docks() -> None:
    docks = [dock(-500, 0, id="D1"), dock(500, 0, id="D2")]
    areas = [area(f"A{k}", 0, -300 + 100 * k, 60) for k in range(6)]
    reqs = [req(f"r{k}", f"A{k}") for k in range(6)]
    t = schedule(docks=docks, areas=areas, requests=reqs, start=T0, days=1)
    used = [e.dock_id for e in t.entries]
    assert used.count("D1") == 3 and used.count("D2") == 3


def test_weather_mark_holds_flights_until_it_passes() -> None:
    storm = WeatherMark(T0, T0 + timedelta(hours=3), Weather(wind_m_s=16.0, note="typhoon signal 8"))
    t = schedule(docks=[dock()], areas=[area("A1", 300, 0)], requests=[req("r1")], start=T0, days=1,
                 weather=MarkedWeather(ConstantWeather(), (storm,)))
    [e] = t.entries
    assert e.start == T0 + timedelta(hours=3)
    assert "wind 16 m/s over the 10 m/s limit (typhoon signal 8)" in e.reason and "waited 180 min" in e.reason


def test_weather_closed_for_the_whole_window_leaves_a_reason() -> None:
    rain = ConstantWeather(Weather(rain_mm_h=6.0))
    t = schedule(docks=[dock()], areas=[area("A1", 300, 0)], requests=[req("r1", deadline=timedelta(hours=4))],
                 start=T0, days=1, weather=rain)
    assert not t.entries
    [u] = t.unscheduled
    assert u.reason.startswith("no dock could fly it between 06-02 00:00 UTC and 06-02 04:00 UTC: ")
    assert "rain 6 mm/h over the 1 mm/h limit" in u.reason and "past the deadline" in u.reason


def test_weather_limits_say_which_limit() -> None:
    limits = WeatherLimits()
    assert limits.verdict(Weather(wind_m_s=3.0)) is None
    assert limits.verdict(Weather(gust_m_s=18.0)) == "gusts 18 m/s over the 15 m/s limit"
    assert limits.verdict(Weather(visibility_m=300.0)) == "visibility 300 m under the 1000 m minimum"


def test_marks_override_the_base_only_inside_them() -> None:
    calm = WeatherMark(T0, T0 + timedelta(hours=1), Weather(wind_m_s=2.0))
    source = MarkedWeather(ConstantWeather(Weather(wind_m_s=12.0)), (calm,))
    inside = source.conditions(lon=113.15, lat=23.03, start=T0, end=T0 + timedelta(minutes=30))
    across = source.conditions(lon=113.15, lat=23.03, start=T0, end=T0 + timedelta(hours=2))
    assert inside.wind_m_s == 2.0 and across.wind_m_s == 12.0


def test_emergency_pre_empts_queued_routine_work() -> None:
    lon, lat = dock(200, 200).lon, dock(200, 200).lat
    emergency = PatrolRequest(id="FIRE-1", lon=lon, lat=lat, not_before=T0 + timedelta(minutes=5),
                              priority=Priority.EMERGENCY)
    t = schedule(docks=[dock()], areas=[area("A1", 300, 0)], requests=[req("r1"), emergency], start=T0, days=1)
    fire = next(e for e in t.entries if e.request_id == "FIRE-1")
    routine = next(e for e in t.entries if e.request_id == "r1")
    assert fire.start == T0 + timedelta(minutes=5)
    assert routine.start >= fire.ready_at and "busy with emergency FIRE-1" in routine.reason


def test_reinspection_before_its_deadline_or_a_reason() -> None:
    ok = req("T-1", priority=Priority.REINSPECTION, at=timedelta(hours=1), deadline=timedelta(hours=3))
    late = req("T-2", priority=Priority.REINSPECTION, at=timedelta(hours=1), deadline=timedelta(hours=2))
    busy = Occupancy("D1", T0, T0 + timedelta(hours=2, minutes=30), "flight under way")
    t = schedule(docks=[dock()], areas=[area("A1", 300, 0)], requests=[ok, late], start=T0, days=1, occupied=[busy])
    [e] = t.entries
    assert e.request_id == "T-1" and e.end <= T0 + timedelta(hours=3)
    [u] = t.unscheduled
    assert u.request_id == "T-2" and "D1 busy with flight under way until 06-02 02:30 UTC, past the deadline" in u.reason


def test_unreachable_unknown_and_docks_out_of_service() -> None:
    docks = [dock(id="D1", status=DockStatus.MAINTENANCE), dock(100, 0, id="D2", status=DockStatus.OFFLINE),
             dock(50, 0, id="D3")]
    areas = [area("near", 300, 0), area("far", 12_000, 0)]
    t = schedule(docks=docks, areas=areas, requests=[req("a", "near"), req("b", "far"), req("c", "nowhere"),
                                                    PatrolRequest(id="d")], start=T0, days=1)
    assert [e.dock_id for e in t.entries] == ["D3"]
    reasons = {u.request_id: u.reason for u in t.unscheduled}
    assert reasons["b"].startswith("no dock can reach it: the nearest, D") and "range 5 km" in reasons["b"]
    assert reasons["c"] == "unknown area 'nowhere'"
    assert reasons["d"] == "request names neither an area nor a point"
    only_broken = schedule(docks=docks[:2], areas=areas, requests=[req("a", "near")], start=T0, days=1)
    assert "D1 is maintenance; D2 is offline" in only_broken.unscheduled[0].reason


def test_big_area_is_split_into_sorties_across_docks() -> None:
    docks = [dock(-300, 0, id="D1"), dock(300, 0, id="D2")]
    big = area("big", 0, 600, 1200)
    t = schedule(docks=docks, areas=[big], requests=[req("r1", "big")], start=T0, days=1)
    n = t.entries[0].sorties
    assert n > 1 and len(t.entries) == n and {e.sortie for e in t.entries} == set(range(1, n + 1))
    assert {e.dock_id for e in t.entries} == {"D1", "D2"}


def test_planner_estimates_override_the_model() -> None:
    est = {("A1", "D1"): SortieEstimate(sorties=2, sortie_s=600.0)}
    t = schedule(docks=[dock(id="D1")], areas=[area("A1", 300, 0)], requests=[req("r1")], start=T0, days=1,
                 estimates=est)
    assert [(e.end - e.start).total_seconds() for e in t.entries] == [600.0, 600.0]


def test_schedule_is_deterministic_whatever_the_input_order() -> None:
    rng = random.Random(7)
    docks = [dock(x, y, id=f"D{k}") for k, (x, y) in enumerate([(0, 0), (1500, 0), (0, 1500), (1500, 1500)])]
    areas = [area(f"A{k:02d}", rng.uniform(-300, 1800), rng.uniform(-300, 1800), rng.uniform(80, 300))
             for k in range(30)]
    scheds = [PatrolSchedule(area_id=a.id, rule=["0 9 * * *", "FREQ=DAILY;BYHOUR=14", "0 8 * * 1,4"][k % 3],
                             timezone="Asia/Shanghai") for k, a in enumerate(areas)]
    extra = [req("E", None, priority=Priority.EMERGENCY, at=timedelta(hours=3), lon=docks[1].lon, lat=docks[1].lat)]
    first = schedule(docks=docks, areas=areas, schedules=scheds, requests=extra, start=T0, days=3)
    shuffled = schedule(docks=rng.sample(docks, len(docks)), areas=rng.sample(areas, len(areas)),
                        schedules=rng.sample(scheds, len(scheds)), requests=extra, start=T0, days=3)
    assert first == shuffled
    assert len(first.entries) > 60
    for d in docks:  # a dock never flies while it is flying or charging
        mine = first.for_dock(d.id)
        assert all(a.ready_at <= b.start for a, b in itertools.pairwise(mine))
    assert all(e.reason for e in first.entries) and all(u.reason for u in first.unscheduled)


def test_json_inputs() -> None:
    [r] = requests_from_json([{"id": "T-9", "lon": 113.15, "lat": 23.03, "priority": "reinspection",
                               "deadline": "2025-06-02T10:00+08:00"}])
    assert r.priority == Priority.REINSPECTION and r.deadline == T0 + timedelta(hours=2)
    with pytest.raises(InvalidInput, match="priority 'urgent' is not one of emergency, reinspection, routine"):
        requests_from_json([{"id": "x", "area_id": "A1", "priority": "urgent"}])
    with pytest.raises(InvalidInput, match="needs an area_id or a lon/lat point"):
        requests_from_json([{"id": "x"}])
    [m] = marks_from_json([{"start": "2025-06-02T08:00+08:00", "end": "2025-06-02T12:00+08:00", "rain_mm_h": 8}])
    assert m.start == T0 and m.weather.rain_mm_h == 8.0
    with pytest.raises(InvalidInput, match="needs a time zone"):
        marks_from_json([{"start": "2025-06-02T08:00", "end": "2025-06-02T12:00+08:00"}])
