"""The demo's patrol day: the patrol service flies several docks at once over the twin, on a simulated
clock, and the day is scored against the twin's truth and written up as one offline report.

Each demo area is a hotspot of the twin with a daily schedule; :class:`pipeline.service.PatrolService`
launches them at their time on their docks (simulated ArduCopters over MAVLink), photos are stored and
analysed while the vehicles fly, and the summary is read back from the database, so a second run of
the same day flies nothing again and reports the same day. The same areas are first patrolled at an
earlier epoch of the twin, so each of the day's patrols is compared with it (``area.compare``, run by
reconcile as after any patrol) and its changes wait in the review queue.
"""

from __future__ import annotations

import base64
import html
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.demo_district import District
from dockpatrol.geo import LocalProjection, haversine_m
from dockpatrol.taxonomy import LABELS_ZH
from pipeline.patrol import PatrolOptions, PatrolRun, sightings_of_flight
from pipeline.report import TruthCheck
from sim.demo import (
    HOTSPOT_AREA_ID,
    HOTSPOT_SIZE_M,
    SPEEDUP,
    DemoPatrol,
    area_around,
    demo_world,
    install_twin_vehicles,
    score_against_twin,
)
from sim.world import DEMO_OFFSET, World

#: areas of the demo day after the first (A00); the district's own areas are A01…A12
EXTRA_AREA_IDS = ("A90", "A91", "A92")
#: hotspots closer than this would share a dock's sky; the demo spreads them over the district
MIN_SEPARATION_M = 450.0
QUICK_SIZE_M = (200.0, 150.0)
#: the demo areas' earlier patrol: the same twin this long before the day, when some of the day's violations
#: were not there yet and others not yet removed, so the day's patrols are compared with it (``area.compare``)
PREVIOUS_EPOCH = timedelta(days=60)
#: before/after pairs the report shows, most important first
REPORT_CHANGES = 6


@dataclass(frozen=True)
class DayPatrol:
    """One patrol of the day as stored, with its twin score."""

    patrol: DemoPatrol
    mission_id: str
    status: str
    reason: str
    run: PatrolRun | None
    truth: TruthCheck | None
    georef_errors_m: tuple[float, ...]
    pipeline: dict[str, Any]


def demo_patrols(world: World, district: District, *, count: int, size_m: tuple[float, float]) -> list[DemoPatrol]:
    """``count`` hotspots of the twin, spread apart, each flown by its own nearest dock."""
    picked: list[DemoPatrol] = []
    free = list(district.docks)
    for lon, lat in world.hotspots(limit=40):
        if len(picked) == count:
            break
        if any(haversine_m(lon, lat, *_centre(p)) < MIN_SEPARATION_M for p in picked):
            continue
        area_id = HOTSPOT_AREA_ID if not picked else EXTRA_AREA_IDS[len(picked) - 1]
        patrol = area_around(lon, lat, district, area_id=area_id, size_m=size_m, docks=tuple(free))
        free = [d for d in free if d.id != patrol.dock.id]
        picked.append(patrol)
    return picked


def _centre(p: DemoPatrol) -> tuple[float, float]:
    ring = p.area.polygon["coordinates"][0][:-1]
    return (sum(x for x, _ in ring) / len(ring), sum(y for _, y in ring) / len(ring))


def run_patrol_day(console: Console, district: District, *, again: bool, quick: bool) -> Path:
    """Fly (or, when already flown, just report) the demo day; returns the report's path."""
    from dataclasses import replace

    from dockpatrol.settings import get_settings
    from missions.scheduler import PatrolSchedule
    from missions.types import Priority
    from storage.platform import database
    from storage.repositories import areas, docks, schedules

    install_twin_vehicles()
    t0 = time.perf_counter()
    console.print("building the digital twin (seed 0, 2 km square)…")
    world = demo_world()
    size_m = QUICK_SIZE_M if quick else HOTSPOT_SIZE_M
    patrols = demo_patrols(world, district, count=2 if quick else 3, size_m=size_m)
    day = _demo_day(world, patrols, again=again)
    start = world.epoch + DEMO_OFFSET + timedelta(days=day)
    earlier = world.epoch + DEMO_OFFSET - PREVIOUS_EPOCH
    with database().unit_of_work() as session:
        for p in patrols:
            areas.upsert(session=session, area=p.area)
            # each hotspot's dock patrols it; the area's schedule names the time, the scheduler the dock
            docks.upsert(session=session, dock=replace(p.dock))
            schedules.upsert(session=session, schedule=PatrolSchedule(
                id=f"S-{p.area.id}", area_id=p.area.id, rule="FREQ=DAILY", starts_at=earlier,
                priority=Priority.ROUTINE))
    area_ids = frozenset(p.area.id for p in patrols)
    console.print(f"previous epoch {earlier:%Y-%m-%d}: the same areas patrolled {PREVIOUS_EPOCH.days} days "
                  "before the day (the twin then: some violations not there yet, others not yet removed)")
    run_settled(patrol_service(console, at=earlier, areas=area_ids), until=earlier + timedelta(hours=1))
    console.print(f"patrol day {start:%Y-%m-%d}: {len(patrols)} docks fly at once from "
                  f"{start:%H:%M}Z (simulated clock ×{SPEEDUP:g}): "
                  + ", ".join(f"{p.dock.id}→{p.area.id}" for p in patrols))
    service = patrol_service(console, at=start, areas=area_ids)
    receiver = WebhookReceiver()
    receiver.subscribe()
    try:
        with _progress(console, [p.area.id for p in patrols]):
            run_settled(service, until=start + timedelta(hours=1))
        results = [_score(world, p, start) for p in patrols]
        _print_day(console, results)
        _print_changes(console, day_changes(results))
        flush_outbox()
        console.print(f"city operations centre webhook ({receiver.url}): {receiver.count()} ticket events received")
        resolved = department_resolves(at=start + timedelta(hours=6), limit=3 if quick else 6)
        console.print(f"departments resolved {len(resolved)} tickets; each asks for a verification patrol"
                      + (f": {', '.join(resolved)}" if resolved else ""))
        next_day = start + timedelta(days=1)
        console.print(f"re-inspection day {next_day:%Y-%m-%d}: verification patrols close fixed tickets and "
                      "reopen the ones still there")
        verified = run_settled(patrol_service(console, at=next_day, areas=frozenset()),
                               until=next_day + timedelta(hours=2))
        flush_outbox()
        outcomes = verification_outcomes()
        console.print(f"verification patrols: {len(verified.completed)} flown; tickets closed "
                      f"{outcomes.get('closed', 0)}, reopened {outcomes.get('reopened', 0)}, still to verify "
                      f"{outcomes.get('verifying', 0)}; webhook events received {receiver.count()}")
        _print_tickets(console)
        latency = day_latency(results)
        if latency:
            console.print(f"capture→ticket latency: median {latency['median']:.1f} s, max {latency['max']:.1f} s "
                          f"over {latency['n']} ticketed frames (photo in hand→ticket median "
                          f"{latency['photo_median']:.1f} s)")
    finally:
        receiver.close()
    reports = get_settings().data_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"patrol-day-{start:%Y-%m-%d}.html"
    text = render_day(results, world=world, at=start)
    path.write_text(text, encoding="utf-8")
    (reports / "demo-patrol.html").write_text(text, encoding="utf-8")
    console.print(f"report: {path.resolve()}  ({time.perf_counter() - t0:.0f} s for the patrol day)")
    return path


def patrol_service(console: Console, *, at: datetime, areas: frozenset[str]) -> Any:
    """The patrol service on a simulated clock starting a minute before ``at``, flying ``areas`` (none:
    only requested patrols, such as verifications)."""
    from pipeline.ledger import Ledger
    from pipeline.runner import InProcessRunner
    from pipeline.service import PatrolService, ServiceOptions, SimulatedClock

    return PatrolService(
        clock=SimulatedClock(at - timedelta(minutes=1), speedup=SPEEDUP),
        ledger=Ledger(runner=InProcessRunner(workers=2)),
        options=ServiceOptions(horizon_days=0.25, tick_s=30.0, patrol=PatrolOptions(), areas=areas, lookback_s=0.0),
        echo=lambda line: console.print(f"  {line}"))


def run_settled(service: Any, *, until: datetime, deadline_s: float = 600.0) -> Any:
    """Run the service until ``until``, wait until the jobs its patrols left (reconcile, ticketing,
    area.compare) have finished and stop its job runner, so the outbox flush and the summary that follow
    see a settled day."""
    from storage.platform import database
    from storage.repositories import jobs

    report = service.run(until=until)
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        with database().unit_of_work() as session:
            if not jobs.unfinished(session=session):
                break
        time.sleep(0.2)  # polls the jobs table; the demo's own pacing, not a test's synchronisation
    # The service's last outbox pass runs in the background on the job runner: let it finish, or it holds
    # leases the demo's own flush then skips, and delivers after the receiver has closed.
    service.ledger.runner.shutdown()
    return report


def _demo_day(world: World, patrols: list[DemoPatrol], *, again: bool) -> int:
    """Day 0 unless ``again``: then the first day whose demo patrols have not flown yet."""
    from storage.platform import database
    from storage.repositories import flights

    if not again:
        return 0
    from missions.types import MissionStatus

    with database().unit_of_work() as session:
        flown = [m for status in MissionStatus for m in flights.missions_with_status(session=session, status=status)
                 if m.area_id == patrols[0].area.id and m.scheduled_for is not None]
    days = {(m.scheduled_for - (world.epoch + DEMO_OFFSET)).days for m in flown}
    return max(days, default=-1) + 1


class _progress:
    """Rich progress bars, one per patrol, fed from the database (photos analysed of photos planned)."""

    def __init__(self, console: Console, area_ids: list[str]) -> None:
        self.area_ids = area_ids
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _progress:
        self.progress.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self._update()
        self.progress.stop()

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self._update()

    def _update(self) -> None:
        from storage.platform import database
        from storage.repositories import flights

        with database().unit_of_work() as session:
            for status in ("flying", "analysing", "completed", "failed"):
                for m in flights.missions_with_status(session=session, status=status):
                    if m.area_id not in self.area_ids:
                        continue
                    fl = flights.flights_of_mission(session=session, mission_id=m.id)
                    if not fl:
                        continue
                    frames = flights.frames_of_flight(session=session, flight_id=fl[-1].id)
                    done = sum(1 for f in frames if str(f.status) != "stored")
                    total = max(int(m.plan.get("frame_count", 0)), len(frames), 1)
                    label = f"{m.dock_id} {m.area_id} {status:9s}"
                    if m.id not in self.tasks:
                        self.tasks[m.id] = self.progress.add_task(label, total=total)
                    self.progress.update(self.tasks[m.id], description=label, total=total, completed=done)


def _score(world: World, patrol: DemoPatrol, at: datetime) -> DayPatrol:
    """The patrol of ``patrol.area`` on this day, read back from the database and scored against the twin."""
    import shapely

    from pipeline.service import mission_id_for
    from storage.platform import database
    from storage.repositories import flights

    radius_m = PatrolOptions().match_radius_m
    from missions.scheduler import TimetableEntry
    from missions.types import Priority

    request_id = f"S-{patrol.area.id}@{at:%Y-%m-%dT%H:%MZ}"
    mission_id = mission_id_for(TimetableEntry(request_id, patrol.area.id, patrol.dock.id, at, at, at,
                                               Priority.ROUTINE, 1, 1, ""))
    with database().unit_of_work() as session:
        mission = flights.get_mission(session=session, mission_id=mission_id)
        flown = flights.flights_of_mission(session=session, mission_id=mission_id) if mission else []
        frames = flights.frames_of_flight(session=session, flight_id=flown[-1].id) if flown else []
    if mission is None or not flown:
        return DayPatrol(patrol, mission_id, "not flown", mission.reason if mission else "", None, None, (), {})
    flight = flown[-1]
    sightings, footprints = sightings_of_flight(flight.id, radius_m=radius_m)
    run = PatrolRun(mission_id=mission.id, flight_id=flight.id, area_id=patrol.area.id, dock_id=patrol.dock.id,
                    flight_summary=str(flight.summary.get("text", flight.result)), ok=flight.status == "landed",
                    altitude_m=float(mission.plan.get("altitude_m", 0.0)), gsd_cm=float(mission.plan.get("gsd_cm", 0.0)),
                    photos=len(frames), frames=dict(Counter(str(f.status) for f in frames)),
                    sightings=tuple(sightings), footprints=tuple(shapely.geometry.mapping(f) for f in footprints),
                    pipeline=dict(flight.summary.get("pipeline") or {}))
    truth = score_against_twin(run, world=world, area=patrol.area, at=at, radius_m=radius_m)
    projection = LocalProjection(world.projection.epsg)
    objects = world.by_id if hasattr(world, "by_id") else {o.id: o for o in world.objects}
    errors = []
    for s in run.sightings:
        match = truth.match_of(s)
        if match is not None:
            c = objects[match].polygon.centroid
            lon, lat = projection.to_lonlat(c.x, c.y)
            errors.append(haversine_m(s.lon, s.lat, float(lon), float(lat)))
    return DayPatrol(patrol, mission.id, str(mission.status), mission.reason, run, truth, tuple(errors), run.pipeline)


def _print_day(console: Console, day: list[DayPatrol]) -> None:
    table = Table(title="Patrol day")
    for column in ("dock", "area", "mission", "status", "photos", "objects", "true", "missed", "capture→finding s"):
        table.add_column(column)
    for d in day:
        lat = (d.pipeline.get("capture_to_finding_s") or {}) if d.pipeline else {}
        table.add_row(d.patrol.dock.id, d.patrol.area.id, d.mission_id, d.status, str(d.run.photos if d.run else 0),
                      str(len(d.run.sightings) if d.run else 0),
                      str(sum(1 for s in d.run.sightings if d.truth and d.truth.match_of(s)) if d.run else 0),
                      str(len(d.truth.missed) if d.truth else 0),
                      f"{lat.get('median', '-')} (max {lat.get('max', '-')})" if lat else "-")
    console.print(table)
    classes = Counter(s.class_name for d in day if d.run for s in d.run.sightings)
    per_class = Table(title="Objects found per class")
    for column in ("class", "objects"):
        per_class.add_column(column)
    for name, n in sorted(classes.items(), key=lambda kv: -kv[1]):
        per_class.add_row(f"{LABELS_ZH[name]} {name}", str(n))
    console.print(per_class)
    stats = day_stats(day)
    console.print(f"against the twin's truth: precision {stats['precision']:.2f}, recall {stats['recall']:.2f} "
                  f"({stats['true']} true of {stats['found']} objects, {stats['in_view']} twin violations in view); "
                  f"georeference error median {stats['georef_median_m']:.1f} m, max {stats['georef_max_m']:.1f} m")


def _print_tickets(console: Console) -> None:
    tickets = ticket_counts()
    table = Table(title="Tickets per department and status")
    for column in ("department", "status", "tickets"):
        table.add_column(column)
    for (dept, status), n in sorted(tickets.items()):
        table.add_row(dept, status, str(n))
    console.print(table if tickets else "tickets: none")


def day_changes(day: list[DayPatrol]) -> list[Any]:
    """The changes ``area.compare`` recorded for the day's patrols (each against its area's previous one),
    most important first."""
    from storage.platform import database
    from storage.repositories import changes

    found = []
    with database().unit_of_work() as session:
        for d in day:
            if d.run is None:
                continue
            recorded, _ = changes.query(session=session, flight_id=d.run.flight_id, limit=1000)
            found += [c for c in recorded if c.after_flight_id == d.run.flight_id]
    return sorted(found, key=lambda c: (-c.review_weight, c.id))


def changes_in_review(recorded: list[Any]) -> int:
    """How many of ``recorded`` wait in the review queue as change items (pending or deferred)."""
    from pipeline.compare import review_item_id
    from storage.platform import database
    from storage.repositories import tickets
    from tickets.types import ReviewKind, ReviewStatus

    with database().unit_of_work() as session:
        waiting = {r.id for r in tickets.list_reviews(session=session,
                                                      statuses=(ReviewStatus.PENDING, ReviewStatus.DEFERRED))
                   if r.kind is ReviewKind.CHANGE}
    return sum(1 for c in recorded if review_item_id(c.id) in waiting)


def _change_what(change: Any) -> str:
    e = change.event
    return str(e.class_name or e.surface_class or "")


def _print_changes(console: Console, recorded: list[Any]) -> None:
    if not recorded:
        console.print("changes against the previous epoch: none recorded")
        return
    console.print(f"changes against the previous epoch: {len(recorded)} recorded by area.compare, "
                  f"{changes_in_review(recorded)} in the review queue")
    table = Table(title="Changes against the previous epoch")
    for column in ("kind", "class", "changes", "m²"):
        table.add_column(column)
    groups = Counter((str(c.event.kind), _change_what(c)) for c in recorded)
    for (kind, what), n in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
        area_m2 = sum(c.event.area_m2 for c in recorded if (str(c.event.kind), _change_what(c)) == (kind, what))
        table.add_row(kind, what or "-", str(n), f"{area_m2:.0f}")
    console.print(table)


def day_latency(day: list[DayPatrol]) -> dict[str, float] | None:
    """Capture→ticket latency over the day's flights (medians of their per-flight medians, worst max)."""
    per = [d.pipeline.get("capture_to_ticket_s") for d in day if d.pipeline]
    photo = [d.pipeline.get("photo_to_ticket_s") for d in day if d.pipeline]
    per = [p for p in per if p]
    photo = [p for p in photo if p]
    if not per:
        return None
    return {"median": statistics.median(p["median"] for p in per), "max": max(p["max"] for p in per),
            "n": sum(p["n"] for p in per),
            "photo_median": statistics.median(p["median"] for p in photo) if photo else float("nan")}


class WebhookReceiver:
    """The city operations centre's end of the webhook: a local HTTP server that counts what arrives."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received: list[bytes] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dockpatrol"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def subscribe(self) -> None:
        from storage.platform import database
        from storage.repositories import tickets
        from tickets.delivery import Subscription, SubscriptionKind

        with database().unit_of_work() as session:
            tickets.save_subscription(session=session, subscription=Subscription(
                id="demo-city-ops", kind=SubscriptionKind.WEBHOOK, url=self.url, secret="demo-webhook-secret"))

    def count(self) -> int:
        return len(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def flush_outbox(deadline_s: float = 120.0) -> None:
    """Deliver everything the outbox holds, retries included. The patrol service delivers every tick and
    waits out each retry's back-off; the demo's day is over, so each pass looks an hour further ahead
    instead of waiting (a delivery that timed out on a busy machine is sent again at once)."""
    from datetime import UTC

    from pipeline.outbox import deliver_once, make_client
    from storage.platform import database

    stop = time.monotonic() + deadline_s
    ahead = timedelta(0)
    with make_client() as client:
        while time.monotonic() < stop:
            report = deliver_once(sessions=database().sessions, client=client,
                                  now=lambda ahead=ahead: datetime.now(UTC) + ahead)
            if not report.attempted:
                return
            ahead += timedelta(hours=1)


def department_resolves(*, at: datetime, limit: int) -> list[str]:
    """A simulated department at work: every other dispatched ticket (by number, at most ``limit``) is
    accepted, worked and resolved by the department's field team, which requests its verification
    patrol. Idempotent: a second run finds the chosen tickets no longer dispatched."""
    from pipeline.tickets import transition
    from storage.platform import database
    from storage.repositories import tickets
    from tickets.types import Action, Actor, Role, TicketStatus

    done = []
    with database().unit_of_work() as session:
        # the day's tickets (opened before the department's working hours), every other one, the same set on a rerun
        todays = sorted((t for t in tickets.all_tickets(session=session) if t.created_at < at), key=lambda t: t.number)
        chosen = [t for i, t in enumerate(todays) if i % 2 == 0][:limit]
        for t in chosen:
            if t.status is not TicketStatus.DISPATCHED:
                continue
            field = Actor(id=f"{t.department}.field", roles=frozenset({Role.FIELD}), department=t.department)
            for step, minutes in ((Action.ACCEPT, 0), (Action.START, 30), (Action.RESOLVE, 120)):
                transition(session=session, ref=t.id, action=step, actor=field, at=at + timedelta(minutes=minutes),
                           note="demo department")
            done.append(t.number)
    return done


def verification_outcomes() -> dict[str, int]:
    """Tickets a verification patrol decided: closed, reopened, or still waiting for one."""
    from storage.platform import database
    from storage.repositories import tickets
    from tickets.types import TicketStatus

    with database().unit_of_work() as session:
        closed = len(tickets.in_status(session=session, status=TicketStatus.CLOSED))
        verifying = len(tickets.in_status(session=session, status=TicketStatus.VERIFYING))
        reopened = sum(1 for t in tickets.all_tickets(session=session) if t.reopen_count > 0)
    return {"closed": closed, "reopened": reopened, "verifying": verifying}


def day_stats(day: list[DayPatrol]) -> dict[str, float]:
    found = sum(len(d.run.sightings) for d in day if d.run)
    true = sum(1 for d in day if d.run and d.truth for s in d.run.sightings if d.truth.match_of(s))
    in_view = sum(len(d.truth.points) for d in day if d.truth)
    missed = sum(len(d.truth.missed) for d in day if d.truth)
    errors = sorted(e for d in day for e in d.georef_errors_m)
    return {"found": found, "true": true, "in_view": in_view, "precision": true / found if found else 0.0,
            "recall": (in_view - missed) / in_view if in_view else 0.0,
            "georef_median_m": statistics.median(errors) if errors else float("nan"),
            "georef_max_m": errors[-1] if errors else float("nan")}


def ticket_counts() -> dict[tuple[str, str], int]:
    """Tickets per (department, status), whatever raised them."""
    from sqlalchemy import func, select

    from storage.platform import database
    from storage.tables import TicketRow

    with database().unit_of_work() as session:
        rows = session.execute(select(TicketRow.department, TicketRow.status, func.count())
                               .group_by(TicketRow.department, TicketRow.status)).all()
    return {(str(d), str(s)): int(n) for d, s, n in rows}


def bar_chart(title: str, counts: Counter[str], *, width_px: int = 420) -> str:
    """A horizontal bar chart as inline SVG."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if not items:
        return f"<h3>{html.escape(title)}</h3><p>none</p>"
    top = max(n for _, n in items)
    row_px, label_px = 20, 190
    bars = "".join(
        f'<text x="0" y="{i * row_px + 14}" font-size="12">{html.escape(name)}</text>'
        f'<rect x="{label_px}" y="{i * row_px + 3}" height="14" width="{(width_px - label_px - 30) * n / top:.1f}" '
        f'fill="#4dabf7"/><text x="{label_px + (width_px - label_px - 30) * n / top + 4:.1f}" y="{i * row_px + 14}" '
        f'font-size="12">{n}</text>' for i, (name, n) in enumerate(items))
    return (f'<h3>{html.escape(title)}</h3><svg width="{width_px}" height="{len(items) * row_px + 4}" '
            f'xmlns="http://www.w3.org/2000/svg">{bars}</svg>')


def overview_svg(day: list[DayPatrol], *, size_px: int = 520) -> str:
    """The district at a glance: docks, the day's areas and flown routes, and every ticket by status."""
    from shapely.geometry import shape

    from missions.types import NAV_COMMANDS
    from storage.platform import database
    from storage.repositories import docks, flights, tickets

    with database().unit_of_work() as session:
        fleet = docks.list_all(session=session)
        every = tickets.all_tickets(session=session)
        routes = []
        for status in ("completed", "failed", "analysing"):
            for m in flights.missions_with_status(session=session, status=status):
                pts = [(i["lon"], i["lat"]) for i in m.plan.get("items", [])
                       if i.get("command") in NAV_COMMANDS and (i.get("lon") or i.get("lat"))]
                if len(pts) > 1:
                    routes.append(pts)
    lons = [d.lon for d in fleet] + [p[0] for r in routes for p in r]
    lats = [d.lat for d in fleet] + [p[1] for r in routes for p in r]
    for d in day:
        minx, miny, maxx, maxy = shape(d.patrol.area.polygon).bounds
        lons += [minx, maxx]
        lats += [miny, maxy]
    if not lons:
        return ""
    minx, maxx, miny, maxy = min(lons), max(lons), min(lats), max(lats)
    span = max(maxx - minx, maxy - miny) or 1e-6

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (lon - minx) / span * size_px, (maxy - lat) / span * size_px

    parts = [f'<svg viewBox="-15 -15 {size_px + 30} {size_px + 30}" width="{size_px}" '
             'xmlns="http://www.w3.org/2000/svg"><rect x="-15" y="-15" width="100%" height="100%" fill="#f4f1ea"/>']
    for d in day:
        ring = shape(d.patrol.area.polygon).exterior.coords
        parts.append('<path d="M' + " L".join("{:.1f},{:.1f}".format(*xy(x, y)) for x, y in ring)
                     + ' Z" fill="#74c0fc" fill-opacity="0.25" stroke="#1c7ed6" stroke-width="1.5"/>')
    for r in routes:
        parts.append('<polyline points="' + " ".join("{:.1f},{:.1f}".format(*xy(x, y)) for x, y in r)
                     + '" fill="none" stroke="#495057" stroke-width="0.8" stroke-opacity="0.6"/>')
    colour = {"closed": "#2b8a3e", "reopened": "#f08c00"}
    for t in every:
        c = shape(t.geometry).centroid
        x, y = xy(c.x, c.y)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour.get(str(t.status), "#c92a2a")}">'
                     f"<title>{html.escape(t.number)} {html.escape(t.class_name)} {html.escape(str(t.status))}"
                     "</title></circle>")
    for dk in fleet:
        x, y = xy(dk.lon, dk.lat)
        parts.append(f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="#212529"/>'
                     f'<text x="{x + 7:.1f}" y="{y + 4:.1f}" font-size="11">{html.escape(dk.id)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def changes_html(recorded: list[Any], *, store: Any) -> str:
    """The changes against the previous epoch: counts per kind, then before/after crops of the top ones."""
    if not recorded:
        return "<h3>Changes since the previous patrol</h3><p>none recorded</p>"

    def crop(key: str | None, label: str) -> str:
        if not key or not store.exists(key):
            return f"<div class=\"note\">{label}: no image</div>"
        data = base64.b64encode(store.get(key)).decode()
        return f'<figure><img src="data:image/jpeg;base64,{data}" alt="{label}"><figcaption>{label}</figcaption></figure>'

    # pairs first: an object that appeared has only its detection's crop, a surface change has both sides
    paired = [c for c in recorded if c.event.before_key and c.event.after_key]
    shown = (paired + [c for c in recorded if c not in paired])[:REPORT_CHANGES]
    cards = "".join(
        f"<tr><td>{html.escape(str(c.event.kind))}</td><td>{html.escape(_change_what(c) or '-')}</td>"
        f"<td>{c.event.area_m2:.0f} m²</td><td>{c.event.score:.2f}</td><td>{html.escape(c.area_id or '')}</td>"
        f"<td>{crop(c.event.before_key, 'before')}</td><td>{crop(c.event.after_key, 'after')}</td></tr>"
        for c in shown)
    return (bar_chart("Changes since the previous patrol", Counter(str(c.event.kind) for c in recorded))
            + f"<p>{len(recorded)} changes, {changes_in_review(recorded)} in the review queue; the top "
            f"{len(shown)} with before/after crops first:</p><table><tr><th>kind</th><th>class</th><th>area</th>"
            f"<th>score</th><th>patrol area</th><th>before</th><th>after</th></tr>{cards}</table>")


def render_day(day: list[DayPatrol], *, world: World, at: datetime) -> str:
    """One offline HTML document: the day's summary, then each patrol's report (map, evidence, truth)."""
    from pipeline.report import render_report
    from storage.platform import object_store

    store = object_store()
    sections, style = [], ""
    for d in day:
        if d.run is None:
            sections.append(f"<h2>{html.escape(d.patrol.area.id)}: {html.escape(d.status)}</h2>"
                            f"<p>{html.escape(d.reason)}</p>")
            continue
        evidence = {s.evidence_key: store.get(s.evidence_key) for s in d.run.sightings if s.evidence_key}
        page = render_report(d.run, area_name=d.patrol.area.name, area_geojson=d.patrol.area.polygon,
                             footprints=d.run.footprints, evidence=evidence, at=at, model=PatrolOptions().card_name,
                             truth=d.truth)
        style = style or page[page.index("<style>"):page.index("</style>") + len("</style>")]
        sections.append(page[page.index("<body>") + len("<body>"):page.index("</body>")])
    stats = day_stats(day)
    rows = "".join(
        f"<tr><td>{html.escape(d.patrol.dock.id)}</td><td>{html.escape(d.patrol.area.id)}</td>"
        f"<td>{html.escape(d.status)}</td><td>{d.run.photos if d.run else 0}</td>"
        f"<td>{len(d.run.sightings) if d.run else 0}</td>"
        f"<td>{html.escape(str((d.pipeline.get('capture_to_finding_s') or {}).get('median', '-')))}</td></tr>"
        for d in day)
    recorded = day_changes(day)
    tickets = "".join(f"<li>{html.escape(dept)} / {html.escape(status)}: {n}</li>"
                      for (dept, status), n in sorted(ticket_counts().items())) or "<li>none</li>"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>巡查日报 Patrol day {at:%Y-%m-%d}</title>{style}</head><body>
<h1>巡查日报 Patrol day {at:%Y-%m-%d} — {len(day)} docks at once</h1>
<div><span class="kpi">precision <b>{stats['precision']:.2f}</b> · recall <b>{stats['recall']:.2f}</b></span>
<span class="kpi">georeference error median <b>{stats['georef_median_m']:.1f} m</b></span>
<span class="kpi">twin world seed {world.seed if hasattr(world, 'seed') else 0}</span></div>
<div class="grid"><div>{overview_svg(day)}<div class="note">Squares: docks · blue: patrol areas · lines: the
flown routes · dots: tickets (red open, green closed, orange reopened).</div></div>
<div>{bar_chart("Objects found per class", Counter(s.class_name for d in day if d.run for s in d.run.sightings))}
{bar_chart("Tickets per department / status", Counter({f"{k[0]} / {k[1]}": n for k, n in ticket_counts().items()}))}
</div></div>
<table><tr><th>dock</th><th>area</th><th>mission</th><th>photos</th><th>objects</th><th>capture→finding s (median)</th></tr>
{rows}</table><h3>Tickets</h3><ul>{tickets}</ul>
{changes_html(recorded, store=store)}
{''.join(f'<hr>{s}' for s in sections)}
</body></html>"""
