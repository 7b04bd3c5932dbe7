"""The patrol scheduler: recurring schedules, ad-hoc and re-inspection requests → a dock timetable.

Pure and deterministic (same inputs, same timetable, whatever their order) and explainable:
every entry says why that dock and time, every request left out says why.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection, haversine_m
from missions.areas import check_position, positive_property, to_metric, validate_polygon
from missions.estimate import FlightModel
from missions.planner import PlanOptions, altitude_for_gsd
from missions.types import Dock, DockStatus, PatrolArea, Priority
from missions.weather import ConstantWeather, WeatherLimits, WeatherSource


@dataclass(frozen=True)
class PatrolSchedule:
    """A recurring patrol of one area: an RRULE ("FREQ=DAILY;BYHOUR=9") or 5-field cron ("0 9 * * *").

    The rule reads the wall clock of ``timezone``; a patrol may fly from each occurrence until the
    next one, or for ``window_s`` when given.
    """

    area_id: str
    rule: str
    timezone: str = "UTC"
    window_s: float | None = None
    priority: Priority = Priority.ROUTINE
    id: str | None = None
    #: the rule's DTSTART (an RRULE without BYHOUR repeats this time of day); default local midnight
    starts_at: datetime | None = None
    #: a disabled schedule is kept (with its history) but produces no patrols
    enabled: bool = True


@dataclass(frozen=True)
class PatrolRequest:
    """One patrol to fly: an area, or a point (re-inspection of a ticket, emergency) watched by an orbit."""

    id: str
    area_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    radius_m: float = 60.0
    not_before: datetime | None = None
    #: the flight must have landed by then
    deadline: datetime | None = None
    priority: Priority = Priority.ROUTINE
    source: str = ""


@dataclass(frozen=True)
class Occupancy:
    """Time a dock is already committed (a flight under way, maintenance) and cannot be given away."""

    dock_id: str
    start: datetime
    end: datetime
    label: str = "committed"


@dataclass(frozen=True)
class SortieEstimate:
    """How one area is flown from one dock: sorties and minutes each (from the planner or the model here)."""

    sorties: int
    sortie_s: float


@dataclass(frozen=True)
class SchedulerConfig:
    """Scheduling knobs; ``plan`` supplies overlaps, reserve and speed limits shared with the planner."""

    plan: PlanOptions = field(default_factory=PlanOptions)
    weather_limits: WeatherLimits = field(default_factory=WeatherLimits)
    #: weather is judged per slot of this length
    slot_s: float = 900.0
    #: seconds of later finish worth one second less load on a dock (spreads routine work)
    load_weight: float = 0.1
    #: sorties longer than this are not split further; a patrol needing more is refused
    max_sorties: int = 40


@dataclass(frozen=True)
class TimetableEntry:
    """One sortie on one dock: takeoff ``start``, landing ``end``, dock ``ready_at`` after charging."""

    request_id: str
    area_id: str | None
    dock_id: str
    start: datetime
    end: datetime
    ready_at: datetime
    priority: Priority
    sortie: int
    sorties: int
    reason: str


@dataclass(frozen=True)
class Unscheduled:
    """A request (or one sortie of it) left out, and why."""

    request_id: str
    area_id: str | None
    priority: Priority
    reason: str
    sortie: int = 1
    sorties: int = 1


@dataclass(frozen=True)
class Timetable:
    """The scheduler's answer over [start, end)."""

    start: datetime
    end: datetime
    entries: tuple[TimetableEntry, ...]
    unscheduled: tuple[Unscheduled, ...]

    def for_dock(self, dock_id: str) -> tuple[TimetableEntry, ...]:
        return tuple(e for e in self.entries if e.dock_id == dock_id)


# --- recurrence --------------------------------------------------------------------------------


def _aware(t: datetime, what: str) -> datetime:
    if t.tzinfo is None:
        raise InvalidInput(f"{what} must be timezone-aware (UTC), got {t.isoformat()}")
    return t.astimezone(UTC)


def time_zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{where}: unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from None


def is_cron(rule: str) -> bool:
    """True for a 5-field cron expression, False for an RRULE."""
    return "=" not in rule and len(rule.split()) == 5


def occurrences(rule: str, *, start: datetime, end: datetime, timezone: str = "UTC",
                dtstart: datetime | None = None, where: str = "schedule") -> list[datetime]:
    """Occurrences of an RRULE or cron rule in [start, end), UTC, plus the first one after ``end``."""
    tz = time_zone(timezone, where)
    start, end = _aware(start, "start"), _aware(end, "end")
    if dtstart is not None:
        dtstart = _aware(dtstart, f"{where} starts_at")
    text = rule.strip()
    out: list[datetime] = []
    if is_cron(text):
        from croniter import croniter

        if not croniter.is_valid(text):
            raise InvalidInput(f"{where}: {rule!r} is not a valid cron expression")
        first = max(start, dtstart) if dtstart else start
        it = croniter(text, first.astimezone(tz) - timedelta(seconds=1))
        while True:
            t = it.get_next(datetime).astimezone(UTC)
            out.append(t)
            if t >= end or len(out) > 100_000:
                break
        return out
    from dateutil.rrule import rrulestr

    body = text[6:] if text.upper().startswith("RRULE:") else text
    if "FREQ=" not in body.upper():
        raise InvalidInput(f"{where}: {rule!r} is neither an RRULE (FREQ=…) nor a 5-field cron expression")
    anchor = (dtstart or start).astimezone(tz)
    if dtstart is None:
        anchor = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        rr = rrulestr(body, dtstart=anchor)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{where}: {rule!r} is not a valid RRULE ({exc})") from None
    try:
        for t in rr.xafter(start.astimezone(tz) - timedelta(seconds=1), count=100_000, inc=True):
            tu = t.astimezone(UTC)
            out.append(tu)
            if tu >= end:
                break
    except TypeError:
        raise InvalidInput(f"{where}: the DTSTART in {rule!r} needs a time zone (e.g. 20250601T010000Z)") from None
    return out


def expand_schedules(schedules: Iterable[PatrolSchedule], *, start: datetime, end: datetime) -> list[PatrolRequest]:
    """One request per occurrence in [start, end), each allowed until the next occurrence or its window."""
    out = []
    for s in schedules:
        if not s.enabled:
            continue
        where = f"schedule for area {s.area_id!r}"
        occ = occurrences(s.rule, start=start, end=end, timezone=s.timezone, dtstart=s.starts_at, where=where)
        for t, nxt in zip(occ, [*occ[1:], None], strict=True):
            if t >= end:
                break
            deadline = nxt if nxt is not None else t + timedelta(days=1)
            if s.window_s is not None:
                deadline = min(deadline, t + timedelta(seconds=s.window_s))
            out.append(PatrolRequest(id=f"{s.id or s.area_id}@{t:%Y-%m-%dT%H:%MZ}", area_id=s.area_id, not_before=t,
                                     deadline=deadline, priority=s.priority, source=s.id or "schedule"))
    return out


def schedules_from_areas(areas: Iterable[PatrolArea], *, timezone: str = "UTC") -> list[PatrolSchedule]:
    """A schedule for every area with a cadence."""
    return [PatrolSchedule(area_id=a.id, rule=a.cadence, timezone=timezone) for a in areas if a.cadence]


# --- flight estimates --------------------------------------------------------------------------


@dataclass(frozen=True)
class _AreaGeo:
    lon: float
    lat: float
    vertices: np.ndarray
    area_m2: float
    long_m: float
    short_m: float
    gsd_cm: float
    _reach: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False, repr=False)

    def reach(self, dock: Dock) -> tuple[float, float]:
        """(distance to the centre, distance to the farthest vertex) from a dock, in metres; cached."""
        got = self._reach.get(dock.id)
        if got is None:
            far = float(haversine_m(dock.lon, dock.lat, self.vertices[:, 0], self.vertices[:, 1]).max())
            got = (haversine_m(dock.lon, dock.lat, self.lon, self.lat), far)
            self._reach[dock.id] = got
        return got


def _area_geo(area: PatrolArea) -> _AreaGeo:
    poly = validate_polygon(area.polygon, where=f"area {area.id!r}")
    c = poly.centroid
    m = to_metric(poly, LocalProjection.around(c.x, c.y))
    env = np.asarray(m.oriented_envelope.exterior.coords)
    sides = sorted([float(np.hypot(*(env[1] - env[0]))), float(np.hypot(*(env[2] - env[1])))]) if len(env) >= 4 \
        else [0.0, 0.0]
    return _AreaGeo(c.x, c.y, np.asarray(poly.exterior.coords), float(m.area), sides[1], sides[0], area.gsd_cm)


def _survey_work(geo: _AreaGeo, dock: Dock, config: SchedulerConfig) -> tuple[float, float, float]:
    """(survey seconds over the whole area, altitude, speed) by the same camera rules as the planner."""
    opts = config.plan
    alt, _ = altitude_for_gsd(dock.camera, geo.gsd_cm, ceiling_m=opts.ceiling_m, min_altitude_m=opts.min_altitude_m)
    across, along = dock.camera.footprint_m(alt)
    spacing, trigger = across * (1 - opts.side_overlap), along * (1 - opts.front_overlap)
    speed = min(opts.speed_m_s or dock.cruise_speed_m_s, trigger / max(opts.min_trigger_interval_s, 1e-9))
    lines = max(1, math.ceil(geo.short_m / spacing))
    length = geo.area_m2 / spacing + lines * 2 * opts.turnaround_m + (lines - 1) * spacing
    return length / speed + 2 * lines * opts.flight.turn_s, alt, speed


def _fixed_s(alt: float, model: FlightModel) -> float:
    return model.overhead_s + alt / model.climb_m_s + alt / model.descent_m_s


# --- the timetable -----------------------------------------------------------------------------


@dataclass
class _DockState:
    dock: Dock
    busy: list[tuple[datetime, datetime, str]]
    load_s: float = 0.0

    def insert(self, start: datetime, end: datetime, label: str) -> None:
        bisect.insort(self.busy, (start, end, label))

    def merge_overlaps(self) -> None:
        """Keep busy intervals disjoint (committed ones may overlap), which the slot search relies on."""
        merged: list[tuple[datetime, datetime, str]] = []
        for b in self.busy:
            if merged and b[0] < merged[-1][1]:
                a = merged[-1]
                merged[-1] = (a[0], max(a[1], b[1]), f"{a[2]} + {b[2]}")
            else:
                merged.append(b)
        self.busy = merged


@dataclass(frozen=True, kw_only=True)
class _Job:
    """One sortie to place. Survey time, altitude and speed are None when a given SortieEstimate
    already says how long the sortie takes; the dock's own speed and the ceiling stand in then."""

    request: PatrolRequest
    sortie: int
    sorties: int
    release: datetime
    deadline: datetime
    geo: _AreaGeo
    survey_s: float | None = None
    altitude_m: float | None = None
    speed_m_s: float | None = None

    @property
    def key(self) -> tuple[Priority, datetime, datetime, str, int]:
        """Placement order: most urgent first, then earliest release and deadline; ids break ties."""
        return (self.request.priority, self.release, self.deadline, self.request.id, self.sortie)


@dataclass(frozen=True, kw_only=True)
class _Option:
    """A dock that can fly a job: when it would take off, and how it ranks."""

    score: float
    distance_m: float
    dock_id: str
    start: datetime
    flight_s: float
    delay: str


def _fmt(t: datetime) -> str:
    return f"{t:%m-%d %H:%M} UTC"


class _WeatherGate:
    """Weather verdicts per dock and slot, asked of the source once each."""

    def __init__(self, source: WeatherSource, limits: WeatherLimits, origin: datetime, slot_s: float) -> None:
        self.source, self.limits, self.origin, self.slot_s = source, limits, origin, slot_s
        self._cache: dict[tuple[str, int], str | None] = {}

    def slot(self, t: datetime) -> int:
        return math.floor((t - self.origin).total_seconds() / self.slot_s)

    def slot_end(self, k: int) -> datetime:
        return self.origin + timedelta(seconds=(k + 1) * self.slot_s)

    def verdict(self, dock: Dock, k: int) -> str | None:
        key = (dock.id, k)
        if key not in self._cache:
            s = self.origin + timedelta(seconds=k * self.slot_s)
            w = self.source.conditions(lon=dock.lon, lat=dock.lat, start=s, end=s + timedelta(seconds=self.slot_s))
            self._cache[key] = self.limits.verdict(w)
        return self._cache[key]

    def first_bad(self, dock: Dock, start: datetime, end: datetime) -> tuple[int, str] | None:
        for k in range(self.slot(start), self.slot(end - timedelta(microseconds=1)) + 1):
            why = self.verdict(dock, k)
            if why:
                return k, why
        return None


def _earliest(
    st: _DockState, *, release: datetime, deadline: datetime, horizon_end: datetime, flight_s: float,
    gate: _WeatherGate,
) -> tuple[datetime | None, str]:
    """Earliest takeoff on this dock, or None and why not; the second value says what delayed it."""
    dock = st.dock
    fly = timedelta(seconds=flight_s)
    occupy = timedelta(seconds=flight_s + dock.charge_s)
    t = release
    why: tuple[str, str, datetime] | None = None
    busy = st.busy

    def delay() -> str:
        if why is None:
            return ""
        kind, what, until = why
        if kind == "busy":
            return f"{dock.id} busy with {what} until {_fmt(until)}"
        return f"weather at {dock.id}: {what} until {_fmt(until)}"

    for _ in range(10_000):
        if t + fly > deadline or t >= horizon_end:
            return None, delay()
        i = bisect.bisect_left(busy, (t,)) - 1
        clash = None
        for j in range(max(i, 0), len(busy)):
            b0, b1, label = busy[j]
            if b0 >= t + occupy:
                break
            if b1 > t:
                clash = (b1, label)
                break
        if clash:
            t, why = clash[0], ("busy", clash[1], clash[0])
            continue
        bad = gate.first_bad(dock, t, t + fly)
        if bad:
            t = gate.slot_end(bad[0])
            why = ("weather", bad[1], t)
            continue
        return t, delay()
    return None, delay()


def schedule(
    *, docks: Sequence[Dock], areas: Sequence[PatrolArea], schedules: Sequence[PatrolSchedule] = (),
    requests: Sequence[PatrolRequest] = (), start: datetime, days: float = 7.0,
    weather: WeatherSource | None = None, occupied: Sequence[Occupancy] = (),
    estimates: Mapping[tuple[str, str], SortieEstimate] | None = None, config: SchedulerConfig = SchedulerConfig(),
) -> Timetable:
    """Timetable for ``days`` from ``start``: each sortie on the dock that finishes it soonest (nearest wins
    ties; load spreads routine work), never overlapping a dock's flights and charging, only in
    flyable weather, emergencies first; unscheduled requests carry the reason."""
    start = _aware(start, "start")
    if not 0 < days <= 62:
        raise InvalidInput(f"days must be within 0..62, got {days}")
    end = start + timedelta(days=days)
    source = weather or ConstantWeather()
    gate = _WeatherGate(source, config.weather_limits, start, config.slot_s)
    area_by_id = {a.id: a for a in sorted(areas, key=lambda a: a.id)}
    docks = sorted(docks, key=lambda d: d.id)
    if not docks:
        raise InvalidInput("no docks to schedule on")
    states = {d.id: _DockState(d, []) for d in docks}
    for d in docks:
        if d.status == DockStatus.CHARGING:
            states[d.id].insert(start, start + timedelta(seconds=d.charge_s), "charging")
    for o in sorted(occupied, key=lambda o: (o.dock_id, o.start, o.end, o.label)):
        if o.dock_id in states:
            states[o.dock_id].insert(_aware(o.start, "occupancy start"), _aware(o.end, "occupancy end"), o.label)
    for st in states.values():
        st.merge_overlaps()
    all_requests = sorted([*expand_schedules(schedules, start=start, end=end), *requests], key=lambda r: r.id)
    geos: dict[str, _AreaGeo] = {}
    unscheduled: list[Unscheduled] = []
    jobs: list[_Job] = []
    for req in all_requests:
        release = _aware(req.not_before, f"request {req.id} not_before") if req.not_before else start
        release = max(release, start)
        deadline = _aware(req.deadline, f"request {req.id} deadline") if req.deadline else end + timedelta(days=1)
        if req.area_id is not None:
            area = area_by_id.get(req.area_id)
            if area is None:
                unscheduled.append(Unscheduled(req.id, req.area_id, req.priority, f"unknown area {req.area_id!r}"))
                continue
            if area.id not in geos:
                geos[area.id] = _area_geo(area)
            jobs.extend(_area_jobs(req, geos[area.id], docks, release, deadline, config, estimates, unscheduled))
        elif req.lon is not None and req.lat is not None:
            jobs.append(_point_job(req, docks, release, deadline, config))
        else:
            unscheduled.append(Unscheduled(req.id, None, req.priority, "request names neither an area nor a point"))
    entries: list[TimetableEntry] = []
    for job in sorted(jobs, key=lambda j: j.key):
        placed = _place(job, states, docks, gate, end, config, estimates)
        if isinstance(placed, TimetableEntry):
            entries.append(placed)
        else:
            unscheduled.append(placed)
    entries.sort(key=lambda e: (e.start, e.dock_id, e.request_id, e.sortie))
    unscheduled.sort(key=lambda u: (u.priority, u.request_id, u.sortie))
    return Timetable(start=start, end=end, entries=tuple(entries), unscheduled=tuple(unscheduled))


def _area_jobs(
    req: PatrolRequest, geo: _AreaGeo, docks: Sequence[Dock], release: datetime, deadline: datetime,
    config: SchedulerConfig, estimates: Mapping[tuple[str, str], SortieEstimate] | None,
    unscheduled: list[Unscheduled],
) -> list[_Job]:
    """Split an area request into sorties sized for the nearest dock that can reach it."""
    area_id = req.area_id
    assert area_id is not None
    ranked = sorted(docks, key=lambda d: (geo.reach(d)[0], d.id))
    for d in ranked:
        if estimates is not None:
            est = estimates.get((area_id, d.id))
            if est is None:
                continue
            return [_Job(request=req, sortie=k, sorties=est.sorties, release=release, deadline=deadline, geo=geo)
                    for k in range(1, est.sorties + 1)]
        if geo.reach(d)[1] > d.max_range_m:
            continue
        try:
            survey_s, alt, speed = _survey_work(geo, d, config)
        except InvalidInput as exc:
            unscheduled.append(Unscheduled(req.id, area_id, req.priority, str(exc)))
            return []
        transit_s = 2 * haversine_m(d.lon, d.lat, geo.lon, geo.lat) / speed
        avail = d.endurance_s * (1 - config.plan.reserve_fraction) - _fixed_s(alt, config.plan.flight) - transit_s
        if avail < 60:
            continue
        n = math.ceil(survey_s / avail)
        if n > config.max_sorties:
            unscheduled.append(Unscheduled(req.id, area_id, req.priority,
                                           f"needs {n} sorties from the nearest dock {d.id}, more than the "
                                           f"{config.max_sorties} one patrol may take"))
            return []
        return [_Job(request=req, sortie=k, sorties=n, release=release, deadline=deadline, geo=geo,
                     survey_s=survey_s / n, altitude_m=alt, speed_m_s=speed)
                for k in range(1, n + 1)]
    near = ranked[0]
    unscheduled.append(Unscheduled(
        req.id, area_id, req.priority,
        f"no dock can reach it: the nearest, {near.id}, is {geo.reach(near)[0] / 1000:.1f} km away and its "
        f"farthest corner {geo.reach(near)[1] / 1000:.1f} km (range "
        f"{near.max_range_m / 1000:g} km)"))
    return []


def _point_job(req: PatrolRequest, docks: Sequence[Dock], release: datetime, deadline: datetime,
               config: SchedulerConfig) -> _Job:
    """One orbit of radius_m around a point, at the ceiling (fire and re-inspection views)."""
    assert req.lon is not None and req.lat is not None
    speed = config.plan.speed_m_s or min(d.cruise_speed_m_s for d in docks)
    orbit_s = 2 * math.pi * req.radius_m / speed + 24 * config.plan.flight.turn_s / 4
    point = _AreaGeo(req.lon, req.lat, np.array([[req.lon, req.lat]]), 0.0, 0.0, 0.0, 0.0)
    return _Job(request=req, sortie=1, sorties=1, release=release, deadline=deadline, geo=point, survey_s=orbit_s,
                altitude_m=config.plan.ceiling_m, speed_m_s=speed)


def _place(
    job: _Job, states: dict[str, _DockState], docks: Sequence[Dock], gate: _WeatherGate, horizon_end: datetime,
    config: SchedulerConfig, estimates: Mapping[tuple[str, str], SortieEstimate] | None,
) -> TimetableEntry | Unscheduled:
    req = job.request
    options: list[_Option] = []
    refusals: list[str] = []
    for d in docks:
        if d.status in (DockStatus.MAINTENANCE, DockStatus.OFFLINE):
            refusals.append(f"{d.id} is {d.status.value}")
            continue
        dist, far = job.geo.reach(d)
        far = max(far, dist)
        if far > d.max_range_m:
            refusals.append(f"{d.id} out of range ({far / 1000:.1f} km > {d.max_range_m / 1000:g} km)")
            continue
        if estimates is not None and req.area_id is not None:
            est = estimates.get((req.area_id, d.id))
            if est is None:
                refusals.append(f"{d.id} has no plan for it")
                continue
            flight_s = est.sortie_s
        else:
            speed = job.speed_m_s if job.speed_m_s is not None else d.cruise_speed_m_s
            alt = job.altitude_m if job.altitude_m is not None else config.plan.ceiling_m
            flight_s = _fixed_s(alt, config.plan.flight) + 2 * dist / speed + (job.survey_s or 0.0)
        usable = d.endurance_s * (1 - config.plan.reserve_fraction)
        if flight_s > usable:
            refusals.append(f"{d.id} too far for one battery ({flight_s / 60:.0f} min > {usable / 60:.0f} min)")
            continue
        st = states[d.id]
        t, delay = _earliest(st, release=job.release, deadline=job.deadline, horizon_end=horizon_end,
                             flight_s=flight_s, gate=gate)
        if t is None:
            refusals.append(f"{delay}, past the deadline" if delay else
                            f"{d.id}'s {flight_s / 60:.0f} min flight does not fit in the window")
            continue
        finish = (t - job.release).total_seconds() + flight_s
        score = finish + config.load_weight * st.load_s
        options.append(_Option(score=score, distance_m=dist, dock_id=d.id, start=t, flight_s=flight_s, delay=delay))
    label = f"{req.area_id or req.id}" + (f" sortie {job.sortie}/{job.sorties}" if job.sorties > 1 else "")
    if not options:
        window = f"between {_fmt(job.release)} and {_fmt(min(job.deadline, horizon_end))}"
        return Unscheduled(req.id, req.area_id, req.priority, f"no dock could fly it {window}: " + "; ".join(refusals),
                           job.sortie, job.sorties)
    best = min(options, key=lambda o: (o.score, o.distance_m, o.dock_id))
    dist, dock_id, t, flight_s, delay = best.distance_m, best.dock_id, best.start, best.flight_s, best.delay
    nearest = min(options, key=lambda o: (o.distance_m, o.dock_id))
    if nearest.dock_id == dock_id:
        why = f"nearest feasible dock ({dist / 1000:.1f} km)"
    elif nearest.start > t:
        why = (f"{dock_id} ({dist / 1000:.1f} km) finishes sooner than the nearest, {nearest.dock_id} "
               f"({nearest.distance_m / 1000:.1f} km), free at {_fmt(nearest.start)}")
    else:
        extra_min = (states[nearest.dock_id].load_s - states[dock_id].load_s) / 60
        why = (f"{dock_id} ({dist / 1000:.1f} km) spreads load: the nearest, {nearest.dock_id} "
               f"({nearest.distance_m / 1000:.1f} km), already has {extra_min:.0f} min more flying and charging "
               "booked")
    if t > job.release and delay:
        why += f"; waited {(t - job.release).total_seconds() / 60:.0f} min: {delay}"
    st = states[dock_id]
    fly_end = t + timedelta(seconds=flight_s)
    ready = fly_end + timedelta(seconds=st.dock.charge_s)
    kind = {Priority.EMERGENCY: "emergency", Priority.REINSPECTION: "re-inspection"}.get(req.priority, "patrol")
    st.insert(t, ready, f"{kind} {label}")
    st.load_s += flight_s + st.dock.charge_s
    return TimetableEntry(req.id, req.area_id, dock_id, t, fly_end, ready, req.priority, job.sortie, job.sorties, why)


# --- JSON inputs -------------------------------------------------------------------------------


def parse_time(value: object, *, where: str) -> datetime:
    """An ISO 8601 time with a zone (``2025-06-02T09:00+08:00`` or ``…Z``) as UTC."""
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: expected an ISO 8601 time string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{where}: {value!r} is not an ISO 8601 time") from None
    return _aware(t, where)


def parse_priority(value: object, *, where: str) -> Priority:
    """A priority by name (emergency, reinspection, routine)."""
    try:
        return Priority[str(value).strip().upper().replace("-", "")]
    except KeyError:
        names = ", ".join(p.name.lower() for p in Priority)
        raise InvalidInput(f"{where}: priority {value!r} is not one of {names}") from None


def requests_from_json(doc: object) -> list[PatrolRequest]:
    """Requests from a JSON list of objects (id, area_id or lon/lat, priority, not_before, deadline)."""
    raws = doc.get("requests") if isinstance(doc, Mapping) else doc
    if not isinstance(raws, list):
        raise InvalidInput("requests must be a JSON list (or {\"requests\": [...]})")
    out = []
    for i, raw in enumerate(raws, start=1):
        if not isinstance(raw, Mapping) or not raw.get("id"):
            raise InvalidInput(f"request #{i}: needs an object with an 'id'")
        where = f"request {raw['id']!r}"
        lon, lat = raw.get("lon"), raw.get("lat")
        if raw.get("area_id") is None and (lon is None or lat is None):
            raise InvalidInput(f"{where}: needs an area_id or a lon/lat point")
        if lon is not None and lat is not None:
            lon, lat = check_position([lon, lat], where=where)
        out.append(PatrolRequest(
            id=str(raw["id"]), area_id=None if raw.get("area_id") is None else str(raw["area_id"]), lon=lon, lat=lat,
            radius_m=positive_property(raw, "radius_m", where=where) or 60.0,
            not_before=parse_time(raw["not_before"], where=f"{where} not_before") if raw.get("not_before") else None,
            deadline=parse_time(raw["deadline"], where=f"{where} deadline") if raw.get("deadline") else None,
            priority=parse_priority(raw.get("priority", "routine"), where=where), source=str(raw.get("source", "")),
        ))
    return out
