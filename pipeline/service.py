"""The patrol service (``dockpatrol run``): launches the scheduler's patrols at their time, on every dock
at once, and keeps the fleet's state.

Each tick it loads docks, areas, schedules and ad-hoc requests, asks :func:`missions.scheduler.schedule`
for the timetable from now, and launches every due first sortie whose dock is free (an area one battery
cannot cover flies its later sorties on the same dock at the slots the scheduler gave them, once the dock
has charged): weather re-checked
at launch, dock ``flying`` → ``charging`` (until its charge time has passed) → ``ready``, ``offline``
when its vehicle does not answer, ``maintenance`` left alone. Emergency requests go first and pre-empt
a routine flight on the dock they need (it is aborted and returns home). ``dockpatrol abort`` is
honoured on the next tick. A patrol that cannot launch is recorded ``skipped`` with the reason.
Scheduled patrols get mission ids derived from their request, so a restarted service never flies the
same occurrence twice. On start it runs :func:`pipeline.recovery.recover`.

Vehicles: a dock's ``vehicle_url`` is a real autopilot (``udp:``, ``tcp:``, serial), or a scheme a
plugin registered in :data:`VEHICLE_PROVIDERS` (the twin registers ``sim``). The clock is injected:
:class:`WallClock` in production, :class:`SimulatedClock` (sped up, skipping idle time) for the twin.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from dockpatrol.errors import ConfigError, DockpatrolError, InvalidInput
from missions.scheduler import Occupancy, PatrolRequest, SchedulerConfig, Timetable, TimetableEntry, schedule
from missions.types import Dock, DockStatus, Mission, MissionStatus, NoFlyZone, PatrolArea, Priority
from missions.weather import ConstantWeather, Weather, WeatherLimits, WeatherSource
from pipeline.frames import MediaSource
from pipeline.ledger import Ledger
from pipeline.patrol import FolderMedia, PatrolOptions, PatrolRun, VehicleLink, dock_vehicle, run_patrol
from pipeline.recovery import recover
from pipeline.types import JobStatus
from pipeline.vehicles import VEHICLE_PROVIDERS

log = logging.getLogger("dockpatrol.service")


class Clock(Protocol):
    """The service's time: ``now`` and a wait that an idle simulated clock may skip."""

    def now(self) -> datetime: ...

    def wait_until(self, t: datetime, stop: threading.Event, *, idle: bool) -> None: ...

    @property
    def speedup(self) -> float | None: ...


class WallClock:
    """Real time, for real vehicles."""

    speedup: float | None = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait_until(self, t: datetime, stop: threading.Event, *, idle: bool) -> None:
        stop.wait(max(0.0, (t - self.now()).total_seconds()))


class SimulatedClock:
    """Simulated time from ``start``, ``speedup`` simulated seconds per wall second; with nothing flying
    it jumps straight to the next event, so a patrol day takes the time its flights take."""

    def __init__(self, start: datetime, *, speedup: float) -> None:
        if start.tzinfo is None:
            raise ConfigError(f"simulated clock start {start.isoformat()} must be timezone-aware")
        if speedup <= 0:
            raise ConfigError(f"clock speed-up must be positive, got {speedup}")
        self.speedup = speedup
        self._start = start
        self._t0 = time.monotonic()
        self._skipped_s = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speedup + self._skipped_s)

    def wait_until(self, t: datetime, stop: threading.Event, *, idle: bool) -> None:
        ahead_s = (t - self.now()).total_seconds()
        if ahead_s <= 0:
            return
        if idle:
            with self._lock:
                self._skipped_s += ahead_s
            return
        stop.wait(ahead_s / self.speedup)


@dataclass(frozen=True)
class ServiceOptions:
    """How far ahead to schedule, how often to look (simulated or real seconds), the patrol settings."""

    horizon_days: float = 1.0
    tick_s: float = 60.0
    patrol: PatrolOptions = field(default_factory=PatrolOptions)
    weather: WeatherSource = field(default_factory=ConstantWeather)
    weather_limits: WeatherLimits = field(default_factory=WeatherLimits)
    max_parallel: int = 8
    media_root: Path | None = None  # where real docks sync photos: <media_root>/<dock>/<flight>
    #: an occurrence missed by up to this long (a late tick, a restart) is still flown
    lookback_s: float = 3600.0
    #: only these areas (a service per sector of a district); None: every area
    areas: frozenset[str] | None = None
    #: fly the verification patrols that resolved tickets request
    reinspections: bool = True


@dataclass
class ServiceReport:
    """What a run of the service did."""

    launched: list[str] = field(default_factory=list)
    completed: list[PatrolRun] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def mission_id_for(entry: TimetableEntry) -> str:
    """A scheduled occurrence's mission id: the same request and sortie always give the same id."""
    if entry.request_id.startswith("M-"):
        return entry.request_id  # an ad-hoc request is its own mission
    return "M-" + hashlib.sha1(f"{entry.request_id}#{entry.sortie}".encode()).hexdigest()[:12]


def vehicle_for(dock: Dock, flight_id: str, *, speedup: float | None,
                media_root: Path) -> tuple[VehicleLink, MediaSource]:
    """The vehicle link and photo source of one flight of ``dock``."""
    scheme = dock.vehicle_url.strip().lower().partition(":")[0]
    provider = VEHICLE_PROVIDERS.get(scheme)
    if provider is not None:
        return provider(dock, flight_id, speedup)
    if scheme == "sim":
        raise ConfigError(f"dock {dock.id}'s vehicle is the built-in simulator ({dock.vehicle_url}); "
                          "it needs the digital twin (the sim package), not installed here")
    return dock_vehicle, FolderMedia(media_root / dock.id / flight_id)


@dataclass
class _Active:
    mission_id: str
    dock_id: str
    priority: Priority
    end: datetime
    abort: threading.Event
    future: Future[Any]


class PatrolService:
    """Runs the schedule until ``until`` (or until stopped); see the module docstring."""

    def __init__(self, *, clock: Clock, ledger: Ledger, options: ServiceOptions = ServiceOptions(),
                 echo: Callable[[str], None] = log.info, stop: threading.Event | None = None) -> None:
        self.clock = clock
        self.ledger = ledger
        self.options = options
        self.echo = echo
        self.stop = stop or threading.Event()
        self.report = ServiceReport()
        self._active: dict[str, _Active] = {}
        self._ready_at: dict[str, datetime] = {}
        #: later sorties of patrols whose first sortie has launched, by mission id
        self._later_sorties: dict[str, TimetableEntry] = {}
        self._pool = ThreadPoolExecutor(max_workers=options.max_parallel, thread_name_prefix="patrol")
        self._lock = threading.Lock()
        self._no_fly: tuple[NoFlyZone, ...] = ()
        self._outbox: Any = None

    # -- the loop --------------------------------------------------------------------------------------

    def run(self, *, until: datetime | None = None) -> ServiceReport:
        """Recover, then launch patrols until ``until`` (simulated or real time) and their flights end."""
        recover(ledger=self.ledger, echo=self.echo)
        try:
            while not self.stop.is_set():
                now = self.clock.now()
                self._reap()
                if until is not None and now >= until and not self._active:
                    break
                next_start = self.tick(now, accept_new=until is None or now < until)
                wake = now + timedelta(seconds=self.options.tick_s)
                if next_start is not None:
                    wake = min(wake, max(next_start, now))
                if until is not None:
                    wake = min(wake, max(until, now))
                idle = not self._active
                if idle and next_start is None and until is not None:
                    wake = max(until, now)
                self.clock.wait_until(wake, self.stop, idle=idle)
                self._wait_for_any(timeout_s=0.0 if idle else 0.5)
        finally:
            for active in list(self._active.values()):
                active.future.result()
            self._reap()
            self._pool.shutdown(wait=True)
        return self.report

    def _wait_for_any(self, *, timeout_s: float) -> None:
        futures = [a.future for a in self._active.values()]
        if futures and timeout_s > 0:
            from concurrent.futures import FIRST_COMPLETED, wait

            wait(futures, timeout=timeout_s, return_when=FIRST_COMPLETED)

    def _reap(self) -> None:
        for mission_id, active in list(self._active.items()):
            if active.future.done():
                del self._active[mission_id]
                exc = active.future.exception()
                if exc is not None:
                    self.report.failed[mission_id] = str(exc)

    def tick(self, now: datetime, *, accept_new: bool = True) -> datetime | None:
        """One look at the world: aborts, dock states, the timetable, launches. Returns the next start."""
        from storage.platform import database
        from storage.repositories import areas, docks, flights, schedules

        with database().unit_of_work() as session:
            fleet = docks.list_all(session=session)
            area_list = [a for a in areas.list_all(session=session)
                         if self.options.areas is None or a.id in self.options.areas]
            self._no_fly = tuple(areas.list_no_fly(session=session))
            plans = schedules.list_all(session=session)
            planned = [m for m in flights.requested_missions(session=session)
                       if self.options.areas is None or m.area_id in self.options.areas]
            aborts = flights.abort_requests(session=session)
        self._handle_aborts(aborts)
        self._deliver_outbox()
        fleet = self._refresh_docks(fleet, now)
        requests = [PatrolRequest(id=m.id, area_id=m.area_id, not_before=m.scheduled_for, priority=m.priority,
                                  source="ad-hoc") for m in planned if m.area_id is not None]
        if self.options.reinspections:
            for request in _reinspection_requests():
                area = reinspection_area(request)
                area_list.append(area)
                requests.append(replace(request, area_id=area.id, lon=None, lat=None))
        emergency = any(r.priority is Priority.EMERGENCY for r in requests)
        occupied = [Occupancy(a.dock_id, now, max(a.end, now + timedelta(seconds=1)), "flying")
                    for a in self._active.values() if not (emergency and a.priority is Priority.ROUTINE)]
        occupied += [Occupancy(d, now, t, "charging") for d, t in self._ready_at.items() if t > now]
        occupied += [Occupancy(e.dock_id, max(e.start, now), max(e.ready_at, now + timedelta(seconds=1)),
                               f"sortie {e.sortie}/{e.sorties}") for e in self._later_sorties.values()
                     if not (emergency and e.priority is Priority.ROUTINE)]
        if not fleet or not area_list:
            return None
        # looking back a little keeps an occurrence due a moment before this tick (or before a restart)
        timetable = schedule(docks=fleet, areas=area_list, schedules=plans, requests=requests,
                             start=now - timedelta(seconds=self.options.lookback_s),
                             days=self.options.horizon_days, weather=self.options.weather, occupied=occupied,
                             config=SchedulerConfig(plan=self.options.patrol.plan_options(),
                                                    weather_limits=self.options.weather_limits))
        area_by_id = {a.id: a for a in area_list}
        dock_by_id = {d.id: d for d in fleet}
        launched = self._launched(timetable.entries)
        next_start = self._fly_later_sorties(now, area_by_id=area_by_id, dock_by_id=dock_by_id, accept_new=accept_new)
        for entry in timetable.entries:
            mission_id = mission_id_for(entry)
            if entry.sortie != 1 or mission_id in launched or mission_id in self._active:
                continue
            if entry.start > now:
                next_start = entry.start if next_start is None else min(next_start, entry.start)
                continue
            if not accept_new:
                continue
            busy = next((a for a in self._active.values() if a.dock_id == entry.dock_id), None)
            if busy is not None:
                if entry.priority is Priority.EMERGENCY and busy.priority is Priority.ROUTINE and not busy.abort.is_set():
                    self.echo(f"{entry.dock_id}: routine patrol {busy.mission_id} pre-empted by emergency {mission_id}")
                    busy.abort.set()
                continue
            area = area_by_id.get(entry.area_id or "")
            if area is None:
                continue
            if area.id.startswith(REINSPECTION_PREFIX):
                _store_area(area)  # a verification patrol's area exists for as long as its records
            if self._launch(entry, mission_id, area, dock_by_id[entry.dock_id], now) and entry.sorties > 1:
                self._queue_later_sorties(entry, timetable)
        return next_start

    def _queue_later_sorties(self, first: TimetableEntry, timetable: Timetable) -> None:
        """Sortie 1 of a split patrol has launched: keep the scheduler's slots for the others."""
        for entry in timetable.entries:
            if entry.request_id == first.request_id and entry.sortie > 1:
                self._later_sorties[mission_id_for(entry)] = entry
        for left in timetable.unscheduled:
            if left.request_id == first.request_id and left.sortie > 1:
                self.echo(f"{first.area_id}: sortie {left.sortie}/{left.sorties} not scheduled: {left.reason}")

    def _fly_later_sorties(self, now: datetime, *, area_by_id: dict[str, PatrolArea], dock_by_id: dict[str, Dock],
                           accept_new: bool) -> datetime | None:
        """Launch each later sortie once its slot has come and its dock is back and charged; the next such time."""
        upcoming = None
        for mission_id, entry in sorted(self._later_sorties.items(), key=lambda kv: (kv[1].start, kv[0])):
            due = max(entry.start, self._ready_at.get(entry.dock_id, entry.start))
            if due > now:
                upcoming = due if upcoming is None else min(upcoming, due)
                continue
            if not accept_new or any(a.dock_id == entry.dock_id for a in self._active.values()):
                continue
            del self._later_sorties[mission_id]
            area, dock = area_by_id.get(entry.area_id or ""), dock_by_id.get(entry.dock_id)
            if area is None or dock is None:
                self._skip(entry, mission_id, "its area or dock was removed after its first sortie flew", now)
                continue
            self._launch(entry, mission_id, area, dock, now)
        return upcoming

    def _deliver_outbox(self) -> None:
        """One outbox delivery pass per tick, in the background, when the tickets pipeline is installed."""
        from pipeline.runner import JOBS, _load_jobs

        _load_jobs()
        if OUTBOX_JOB not in JOBS or (self._outbox is not None and self._outbox.status() in
                                       (JobStatus.QUEUED, JobStatus.RUNNING)):
            return
        self._outbox = self.ledger.runner.submit(OUTBOX_JOB)

    def _launched(self, entries: tuple[TimetableEntry, ...]) -> set[str]:
        from storage.platform import database
        from storage.repositories import flights

        ids = {mission_id_for(e) for e in entries}
        with database().unit_of_work() as session:
            return {i for i in ids if (m := flights.get_mission(session=session, mission_id=i)) is not None
                    and m.status is not MissionStatus.PLANNED}

    # -- docks -------------------------------------------------------------------------------------------

    def _refresh_docks(self, fleet: list[Dock], now: datetime) -> list[Dock]:
        """Charging docks whose time has come are ready again; the fleet as the scheduler should see it."""
        from storage.platform import database
        from storage.repositories import docks

        out = []
        for dock in fleet:
            ready_at = self._ready_at.get(dock.id)
            if dock.status is DockStatus.CHARGING and (ready_at is None or ready_at <= now):
                with database().unit_of_work() as session:
                    dock = docks.set_status(session=session, dock_id=dock.id, status=DockStatus.READY,
                                            reason=f"charged at {now:%Y-%m-%d %H:%M}Z")
                self._ready_at.pop(dock.id, None)
            # a flying or charging dock is planned around by occupancy; to the scheduler it is a dock
            out.append(replace(dock, status=DockStatus.READY)
                       if dock.status in (DockStatus.FLYING, DockStatus.CHARGING) else dock)
        return out

    def _set_dock(self, dock_id: str, status: DockStatus, reason: str, heartbeat_at: datetime | None = None) -> None:
        from storage.platform import database
        from storage.repositories import docks

        with database().unit_of_work() as session:
            docks.set_status(session=session, dock_id=dock_id, status=status, reason=reason, heartbeat_at=heartbeat_at)

    # -- missions ----------------------------------------------------------------------------------------

    def _record(self, mission: Mission) -> None:
        from storage.platform import database
        from storage.repositories import flights

        with database().unit_of_work() as session:
            flights.save_mission(session=session, mission=mission)

    def _skip(self, entry: TimetableEntry, mission_id: str, reason: str, at: datetime) -> None:
        self._record(Mission(id=mission_id, status=MissionStatus.SKIPPED, area_id=entry.area_id, dock_id=entry.dock_id,
                             scheduled_for=at, priority=entry.priority, reason=reason))
        self.report.skipped[mission_id] = reason
        self.echo(f"{entry.dock_id}: patrol {mission_id} of {entry.area_id} not launched: {reason}")

    def _handle_aborts(self, mission_ids: list[str]) -> None:
        from storage.platform import database
        from storage.repositories import flights

        for mission_id in mission_ids:
            active = self._active.get(mission_id)
            if active is not None:
                if not active.abort.is_set():
                    self.echo(f"{active.dock_id}: abort of {mission_id} requested; the vehicle returns to the dock")
                    active.abort.set()
                continue
            with database().unit_of_work() as session:
                mission = flights.require_mission(session=session, mission_id=mission_id)
                if mission.status is MissionStatus.PLANNED:
                    flights.save_mission(session=session, mission=replace(
                        mission, status=MissionStatus.SKIPPED, reason="aborted by an operator before launch"))

    def _launch(self, entry: TimetableEntry, mission_id: str, area: PatrolArea, dock: Dock, now: datetime) -> bool:
        """Take off, or record why not; True when the vehicle was sent."""
        if dock.status in (DockStatus.MAINTENANCE, DockStatus.OFFLINE):
            self._skip(entry, mission_id, f"dock {dock.id} is {dock.status}", now)
            return False
        duration_s = (entry.end - entry.start).total_seconds()
        weather = self.options.weather.conditions(lon=dock.lon, lat=dock.lat, start=now,
                                                  end=now + timedelta(seconds=duration_s))
        verdict = self.options.weather_limits.verdict(weather)
        if verdict is not None:
            self._skip(entry, mission_id, f"weather at launch: {verdict}", now)
            return False
        from pipeline.jobs import new_id

        flight_id = new_id("F")
        try:
            vehicle, media = vehicle_for(dock, flight_id, speedup=self.clock.speedup,
                                         media_root=self.options.media_root or _default_media_root())
        except DockpatrolError as exc:
            self._skip(entry, mission_id, str(exc), now)
            return False
        abort = threading.Event()
        self._set_dock(dock.id, DockStatus.FLYING, f"flying {mission_id} ({area.id})")
        self.echo(f"{now:%H:%M}Z {dock.id}: launching {mission_id} over {area.id} {area.name} "
                  f"(priority {entry.priority.name.lower()}; {entry.reason})")
        future = self._pool.submit(self._fly, entry, mission_id, flight_id, area, dock, now, vehicle, media, abort)
        self._active[mission_id] = _Active(mission_id, dock.id, entry.priority, now + timedelta(seconds=duration_s),
                                           abort, future)
        self.report.launched.append(mission_id)
        return True

    def _fly(self, entry: TimetableEntry, mission_id: str, flight_id: str, area: PatrolArea, dock: Dock,
             at: datetime, vehicle: VehicleLink, media: MediaSource, abort: threading.Event) -> PatrolRun | None:
        heard = {"at": None}

        def on_event(ev: Any) -> None:
            if heard["at"] is None:
                heard["at"] = self.clock.now()
                self._set_dock(dock.id, DockStatus.FLYING, f"flying {mission_id} ({area.id})", heartbeat_at=heard["at"])

        try:
            run = run_patrol(area=area, dock=dock, at=at, media=media, vehicle=vehicle, no_fly=self._no_fly,
                             options=replace(self.options.patrol, camera=dock.camera), flight_id=flight_id,
                             mission_id=mission_id, priority=entry.priority, abort=abort, on_event=on_event,
                             ledger=self.ledger, echo=self.echo, sortie=entry.sortie)
        except InvalidInput as exc:  # the patrol cannot be planned or flown as asked: nothing took off
            self._set_dock(dock.id, DockStatus.READY, f"last patrol refused: {exc}")
            self._skip(entry, mission_id, f"cannot be flown: {exc}", at)
            raise
        except Exception as exc:
            offline = heard["at"] is None
            self._set_dock(dock.id, DockStatus.OFFLINE if offline else DockStatus.READY,
                           f"vehicle did not answer: {exc}" if offline else f"last patrol failed: {exc}")
            self.echo(f"{dock.id}: patrol {mission_id} failed: {exc}")
            raise
        ready_at = self.clock.now() + timedelta(seconds=dock.charge_s)
        self._ready_at[dock.id] = ready_at
        self._set_dock(dock.id, DockStatus.CHARGING, f"charging until {ready_at:%Y-%m-%d %H:%M}Z")
        with self._lock:
            self.report.completed.append(run)
        return run


OUTBOX_JOB = "outbox.deliver"
#: areas the service makes for verification patrols: a rectangle around the ticket's place
REINSPECTION_PREFIX = "R-"
REINSPECTION_MIN_SIDE_M = 200.0
REINSPECTION_ASPECT = 0.75


def _reinspection_requests() -> list[PatrolRequest]:
    """Verification patrols that resolved tickets owe (none when the tickets pipeline is not installed)."""
    try:
        from pipeline.tickets import pending_reinspections
    except ModuleNotFoundError:
        return []
    from storage.platform import database

    with database().unit_of_work() as session:
        return pending_reinspections(session=session)


def reinspection_area(request: PatrolRequest) -> PatrolArea:
    """The area a verification patrol surveys: a rectangle around the ticket's place, every scenario."""
    from dockpatrol.geo import LocalProjection
    from dockpatrol.taxonomy import Category

    if request.lon is None or request.lat is None:
        raise ConfigError(f"re-inspection request {request.id} has no place")
    proj = LocalProjection.around(request.lon, request.lat)
    x, y = (float(v) for v in proj.to_metric(request.lon, request.lat))
    half_w = max(2 * request.radius_m, REINSPECTION_MIN_SIDE_M) / 2
    half_h = half_w * REINSPECTION_ASPECT  # the camera's 4:3 footprint covers it in whole lines
    lons, lats = proj.to_lonlat([x - half_w, x + half_w, x + half_w, x - half_w, x - half_w],
                                [y - half_h, y - half_h, y + half_h, y + half_h, y - half_h])
    polygon = {"type": "Polygon", "coordinates": [[[round(float(a), 7), round(float(b), 7)]
                                                   for a, b in zip(lons, lats, strict=True)]]}
    return PatrolArea(id=f"{REINSPECTION_PREFIX}{request.id}"[:64], name=f"re-inspection {request.source}",
                      polygon=polygon, scenarios=frozenset(Category), gsd_cm=3.0)


def _store_area(area: PatrolArea) -> None:
    from storage.platform import database
    from storage.repositories import areas

    with database().unit_of_work() as session:
        areas.upsert(session=session, area=area)


def _default_media_root() -> Path:
    from dockpatrol.settings import get_settings

    return get_settings().data_dir / "media"


def request_patrol(*, area_id: str, at: datetime, priority: Priority = Priority.EMERGENCY) -> Mission:
    """An ad-hoc patrol for the service to fly as soon as a dock can (emergencies pre-empt routine flights)."""
    from pipeline.jobs import new_id
    from storage.platform import database
    from storage.repositories import areas, flights

    with database().unit_of_work() as session:
        areas.require(session=session, area_id=area_id)
        mission = Mission(id=new_id("M"), kind="patrol", status=MissionStatus.PLANNED, area_id=area_id,
                          scheduled_for=at, priority=priority, reason=f"requested ({priority.name.lower()})")
        return flights.save_mission(session=session, mission=mission)


def request_launch(*, mission_id: str, at: datetime) -> Mission:
    """Ask the service to fly a planned mission (the API's launch): it becomes a request due at ``at``."""
    from dockpatrol.errors import Conflict
    from storage.platform import database
    from storage.repositories import flights

    with database().unit_of_work() as session:
        mission = flights.require_mission(session=session, mission_id=mission_id)
        if mission.status is not MissionStatus.PLANNED or mission.scheduled_for is not None:
            state = "already requested" if mission.status is MissionStatus.PLANNED else str(mission.status)
            raise Conflict(f"mission {mission_id!r} is {state}; only a planned mission not yet requested can be "
                           "launched")
        return flights.save_mission(session=session, mission=replace(mission, scheduled_for=at,
                                                                     reason="launch requested"))


def request_abort(*, mission_id: str, at: datetime | None = None) -> Mission:
    """Ask the service to abort a mission: a flying vehicle returns to its dock, a planned one is skipped."""
    from storage.platform import database
    from storage.repositories import flights

    with database().unit_of_work() as session:
        return flights.request_abort(session=session, mission_id=mission_id, at=at or datetime.now(UTC))


__all__ = ["VEHICLE_PROVIDERS", "Clock", "PatrolService", "ServiceOptions", "ServiceReport", "SimulatedClock",
           "WallClock", "Weather", "mission_id_for", "request_abort", "request_launch", "request_patrol", "vehicle_for"]
