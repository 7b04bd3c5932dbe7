"""Ticket commands: ``tickets list|show|transition|replay|stats|deadlines``, ``rules check|load``,
``outbox deliver|list|subscribe`` and ``review list|accept|reject|defer|export``.

Readable lines for people, ``--json`` for scripts; every refusal is one ``error:`` line.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from dockpatrol.errors import InvalidInput

tickets_app = typer.Typer(help="Tickets (工单): list, show, move through the lifecycle, replay deliveries.",
                          no_args_is_help=True)
rules_app = typer.Typer(help="Routing rules: check a rules file, load it as the district's rule set.",
                        no_args_is_help=True)
outbox_app = typer.Typer(help="Outbound deliveries: webhooks and Open311.", no_args_is_help=True)
review_app = typer.Typer(help="The review queue: objects below their class's auto-ticket score, and changes between patrols.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tickets_app, name="tickets")
    app.add_typer(rules_app, name="rules")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(review_app, name="review")


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(doc: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    else:
        for line in lines:
            typer.echo(line)


def _actor(name: str | None, roles: list[str], department: str | None) -> Any:
    from pipeline.tickets import check_actor_roles
    from tickets.types import Actor

    return Actor(id=name or f"cli:{getpass.getuser()}", roles=check_actor_roles(roles or ["operator"]),
                 department=department)


def _ticket_line(t: Any) -> str:
    due = f"due {t.due_at:%Y-%m-%d %H:%M}Z" if t.due_at else "no deadline"
    team = f"/{t.team}" if t.team else ""
    return (f"{t.number}  {t.status:<11} {t.class_name:<20} {t.department}{team:<14} {t.jurisdiction_id or '-':<6} "
            f"p{t.priority:<3} {due}  seen {t.sightings}×")


def _ticket_doc(t: Any) -> dict[str, Any]:
    from tickets.delivery import ticket_document

    return {**ticket_document(t), "routing": t.routing.to_dict() if t.routing else None}


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        raise InvalidInput(f"--bbox {value!r}: expected min_lon,min_lat,max_lon,max_lat")
    return parts  # type: ignore[return-value]


@tickets_app.command("list")
def tickets_list(status: list[str] = typer.Option([], "--status", help="filter (repeatable)"),
                 department: list[str] = typer.Option([], "--department", help="filter (repeatable)"),
                 grid: str | None = typer.Option(None, help="jurisdiction grid id"),
                 bbox: str | None = typer.Option(None, help="min_lon,min_lat,max_lon,max_lat"),
                 limit: int = typer.Option(50, min=1, max=1000),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Tickets, newest first."""
    from api.context import database
    from storage.repositories import tickets as repo
    from tickets.types import TicketStatus

    try:
        statuses = [TicketStatus(s) for s in status]
    except ValueError:
        raise InvalidInput(f"--status: one of {', '.join(s.value for s in TicketStatus)}") from None
    with database().unit_of_work() as session:
        found = repo.list_tickets(session=session, statuses=statuses, departments=department, grid=grid,
                                  bbox=_bbox(bbox), limit=limit)
    _emit([_ticket_doc(t) for t in found], as_json, [_ticket_line(t) for t in found] or ["no tickets"])


@tickets_app.command("show")
def tickets_show(ref: str = typer.Argument(..., help="ticket number, id or external reference"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """One ticket with its routing, history and sightings."""
    from api.context import database
    from storage.repositories import tickets as repo

    with database().unit_of_work() as session:
        t = repo.find(session=session, ref=ref)
        history = repo.history(session=session, ticket_id=t.id)
        seen = repo.sightings(session=session, ticket_id=t.id)
    lines = [_ticket_line(t), f"  routing: {t.routing.reason if t.routing else '-'}"]
    if t.linked_ticket_id:
        lines.append(f"  recurrence of {t.linked_ticket_id}")
    if t.external_ref:
        lines.append(f"  external reference {t.external_ref}")
    lines.append("  history:")
    lines += [f"    {h.at:%Y-%m-%d %H:%M:%S}Z {h.actor:<22} {h.action:<10} "
              f"{h.from_status or '-'} → {h.to_status or '-'}  {h.note}" for h in history]
    lines.append("  sightings:")
    lines += [f"    {s.seen_at:%Y-%m-%d %H:%M}Z score {s.score:.2f} {s.frames} frames flight {s.flight_id or '-'} "
              f"{s.evidence_key or ''}" for s in seen]
    doc = {**_ticket_doc(t), "history": [{**h.__dict__, "at": h.at.isoformat()} for h in history],
           "sightings": [{**s.__dict__, "seen_at": s.seen_at.isoformat()} for s in seen]}
    _emit(doc, as_json, lines)


@tickets_app.command("transition")
def tickets_transition(ref: str = typer.Argument(..., help="ticket number, id or external reference"),
                       action: str = typer.Argument(..., help="dispatch, accept, start, resolve, verify, close, "
                                                              "reject, reopen, transfer"),
                       note: str = typer.Option("", help="reason (required for reject, transfer, reopen)"),
                       to: str | None = typer.Option(None, "--to", help="department to transfer to"),
                       version: int | None = typer.Option(None, help="the version you saw (conflict if it moved)"),
                       actor: str | None = typer.Option(None, help="who acts (default cli:<user>)"),
                       role: list[str] = typer.Option([], "--role", help="actor role (repeatable; default operator)"),
                       department: str | None = typer.Option(None, help="actor's department (field, supervisor)"),
                       as_json: bool = typer.Option(False, "--json")) -> None:
    """Move a ticket one step; refused transitions name both states."""
    from api.context import database
    from pipeline.tickets import transition

    with database().unit_of_work() as session:
        t = transition(session=session, ref=ref, action=action, actor=_actor(actor, role, department), at=_now(),
                       note=note, expected_version=version, to_department=to)
    _emit(_ticket_doc(t), as_json, [_ticket_line(t)])


@tickets_app.command("replay")
def tickets_replay(ids: list[int] = typer.Argument(None, help="outbox entry ids"),
                   dead: bool = typer.Option(False, "--dead", help="every dead-lettered delivery"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Queue deliveries again (dead-lettered ones, or any by id) with a fresh attempt budget."""
    from api.context import database
    from storage.repositories import tickets as repo

    if not ids and not dead:
        raise InvalidInput("give outbox entry ids or --dead")
    with database().unit_of_work() as session:
        queued = repo.replay(session=session, at=_now(), outbox_ids=ids or (), dead=dead)
    _emit({"replayed": queued}, as_json, [f"queued again: {', '.join(map(str, queued)) or 'nothing'}"])


@tickets_app.command("stats")
def tickets_stats(by: str = typer.Option("department", help="department or grid"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Open, overdue, median hours to dispatch and close, SLA compliance, reopen rate."""
    from api.context import database
    from storage.repositories import tickets as repo
    from tickets import stats

    if by not in ("department", "grid"):
        raise InvalidInput(f"--by {by!r}: department or grid")
    with database().unit_of_work() as session:
        every = repo.all_tickets(session=session)
    rows = (stats.by_department if by == "department" else stats.by_grid)(every, now=_now())

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    def hours(v: float | None) -> str:
        return "-" if v is None else f"{v:g}"

    lines = [f"{by:<16} total open overdue dispatch_h close_h  SLA   reopen"]
    lines += [f"{s.key:<16} {s.total:>5} {s.open:>4} {s.overdue:>7} {hours(s.median_dispatch_h):>10} "
              f"{hours(s.median_close_h):>7} {pct(s.sla_compliance):>5} {pct(s.reopen_rate):>6}" for s in rows]
    _emit([s.to_dict() for s in rows], as_json, lines)


@tickets_app.command("deadlines")
def tickets_deadlines(as_json: bool = typer.Option(False, "--json")) -> None:
    """Send the reminders and escalations owed now (each once)."""
    from api.context import database
    from pipeline.tickets import sweep_deadlines

    with database().unit_of_work() as session:
        done = sweep_deadlines(session=session, now=_now())
    _emit([{"ticket": t.number, "action": e.action, "note": e.note, **e.data} for t, e in done], as_json,
          [f"{t.number} {e.action}: {e.note}" for t, e in done] or ["nothing due"])


def _cells_for_check(grids_file: Path | None) -> list[Any]:
    """Jurisdictions to check against: a GeoJSON/KML file, else the database's, else the demo district's."""
    if grids_file is not None:
        from missions.areas import load_jurisdictions

        return load_jurisdictions(grids_file)
    from api.context import database
    from storage.repositories import tickets as repo

    with database().unit_of_work() as session:
        found = repo.grids(session=session)
    if found:
        return found
    from api.demo_district import build_district

    return list(build_district().grids)


@rules_app.command("check")
def rules_check(file: Path = typer.Argument(..., help="rules YAML"),
                at: list[str] = typer.Option([], "--at", help="sample point lon,lat (repeatable; default: the "
                                                              "centre of every grid)"),
                class_name: list[str] = typer.Option([], "--class", help="classes to try (default: all nine)"),
                when: str | None = typer.Option(None, "--time", help="ISO time of the sample (default now)"),
                grids: Path | None = typer.Option(None, help="GeoJSON or KML grids (default: the database's, "
                                                             "else the demo district's)"),
                show_all: bool = typer.Option(False, "--explain", help="every rule per sample, and why it does "
                                                                        "or does not match"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Validate a rules file against the grids and explain, for sample points, which rule wins."""
    from shapely.geometry import shape

    from dockpatrol.taxonomy import CATEGORY_OF
    from tickets.routing import GridIndex, explain, point_candidate, route
    from tickets.rules import load_rules_file

    index = GridIndex(_cells_for_check(grids))
    rules = load_rules_file(file, known_grids=index.ids)
    moment = datetime.fromisoformat(when) if when else _now()
    if moment.tzinfo is None:
        raise InvalidInput(f"--time {when!r} needs a zone, e.g. 2026-03-02T20:00+08:00")
    points: list[tuple[str, float, float]] = []
    for p in at:
        try:
            lon, lat = (float(v) for v in p.split(","))
        except ValueError:
            raise InvalidInput(f"--at {p!r}: expected lon,lat") from None
        points.append((p, lon, lat))
    if not points:
        for cell in index.cells:
            if cell.id not in {c.parent_id for c in index.cells}:
                c = shape(cell.polygon).representative_point()
                points.append((cell.id, c.x, c.y))
    classes = class_name or list(CATEGORY_OF)
    for c in classes:
        if c not in CATEGORY_OF:
            raise InvalidInput(f"--class {c!r}: unknown; known: {', '.join(CATEGORY_OF)}")
    results = []
    for label, lon, lat in points:
        for c in classes:
            cand = point_candidate(lon=lon, lat=lat, class_name=c, category=str(CATEGORY_OF[c]), seen_at=moment)
            d = route(cand, rules, index, at=moment)
            why = [{"rule_id": rid, "matches": reason is None, "why_not": reason}
                   for rid, reason in explain(cand, rules, index, at=moment)]
            results.append({"sample": label, "lon": lon, "lat": lat, "class_name": c, **d.to_dict(), "rules": why})
    lines = [f"{file}: valid — {len(rules.rules)} rules, {len(rules.departments)} departments, "
             f"default {rules.default.department} ({rules.default.sla_hours:g} h), {len(index.cells)} jurisdictions"]
    for r in results:
        lines.append(f"  {r['sample']:<14} {r['class_name']:<20} → {r['rule_id'] or '(default)':<13} "
                     f"{r['department']}{'/' + r['team'] if r['team'] else ''} p{r['priority']} {r['sla_hours']:g} h")
        if show_all:
            lines += [f"      {'✓' if w['matches'] else '✗'} {w['rule_id']:<13} {w['why_not'] or 'matches'}"
                      for w in r["rules"]]
    _emit({"valid": True, "rules": len(rules.rules), "samples": results}, as_json, lines)


@rules_app.command("load")
def rules_load(file: Path = typer.Argument(..., help="rules YAML")) -> None:
    """Make a rules file the district's rule set (validated against the stored grids)."""
    from api.context import database
    from pipeline.tickets import load_rules

    with database().unit_of_work() as session:
        rules = load_rules(session=session, path=file)
    typer.echo(f"loaded {len(rules.rules)} rules and {len(rules.departments)} departments from {file}")


@outbox_app.command("deliver")
def outbox_deliver(follow: bool = typer.Option(False, "--follow", help="keep delivering until interrupted"),
                   poll_s: float = typer.Option(2.0, min=0.05, help="idle wait between passes (--follow)"),
                   timeout_s: float = typer.Option(10.0, min=0.1, help="HTTP timeout per delivery"),
                   lease_s: float = typer.Option(60.0, min=0.5, help="how long a claimed delivery is ours"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Deliver due webhooks and Open311 requests: one pass, or ``--follow``."""
    import signal
    import threading

    from api.context import database
    from pipeline.outbox import DeliveryOptions, deliver_once, make_client
    from pipeline.outbox import follow as follow_loop

    opts = DeliveryOptions(timeout_s=timeout_s, lease_s=lease_s)
    sessions = database().sessions
    with make_client(opts) as client:
        if not follow:
            r = deliver_once(sessions=sessions, client=client, options=opts)
            _emit(r.__dict__, as_json, [f"delivered {r.delivered}, retrying {r.retrying}, dead {r.dead}"])
            return
        stop = threading.Event()
        # A service manager stops us with SIGTERM: finish the delivery in hand, then leave.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        typer.echo("delivering; Ctrl-C or SIGTERM stops", err=True)
        follow_loop(sessions=sessions, client=client, stop=stop, poll_s=poll_s, options=opts,
                    on_pass=lambda r: typer.echo(f"delivered {r.delivered}, retrying {r.retrying}, dead {r.dead}",
                                                 err=True))


@outbox_app.command("list")
def outbox_list(status: list[str] = typer.Option([], "--status", help="pending, delivered, dead"),
                limit: int = typer.Option(50, min=1, max=1000), as_json: bool = typer.Option(False, "--json")) -> None:
    """Queued, delivered and dead-lettered deliveries."""
    from api.context import database
    from storage.repositories import tickets as repo

    with database().unit_of_work() as session:
        found = repo.list_outbox(session=session, statuses=status, limit=limit)
    _emit([{**e.__dict__} for e in found], as_json,
          [f"{e.id:>5} {e.status:<9} {e.topic:<22} → {e.subscription_id} attempts {e.attempts} {e.last_error[:60]}"
           for e in found] or ["outbox empty"])


@outbox_app.command("subscribe")
def outbox_subscribe(sub_id: str = typer.Argument(..., help="subscription id"),
                     url: str = typer.Option(..., help="webhook URL, or Open311 base URL"),
                     kind: str = typer.Option("webhook", help="webhook or open311"),
                     secret: str = typer.Option("", help="HMAC secret (webhook)"),
                     department: list[str] = typer.Option([], "--department", help="only these (repeatable)"),
                     api_key: str | None = typer.Option(None, help="Open311 api_key"),
                     service_code: list[str] = typer.Option([], "--service-code", help="class=code (Open311)"),
                     max_attempts: int = typer.Option(8, min=1, max=100)) -> None:
    """Add or update an outbound subscription."""
    from urllib.parse import urlsplit

    from api.context import database
    from storage.repositories import tickets as repo
    from tickets.delivery import Subscription, SubscriptionKind

    if urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput(f"--url {url!r}: only http and https targets")
    try:
        k = SubscriptionKind(kind)
    except ValueError:
        raise InvalidInput(f"--kind {kind!r}: webhook or open311") from None
    codes = dict(pair.split("=", 1) for pair in service_code if "=" in pair)
    if len(codes) != len(service_code):
        raise InvalidInput("--service-code takes class=code")
    with database().unit_of_work() as session:
        repo.save_subscription(session=session, subscription=Subscription(
            id=sub_id, kind=k, url=url, secret=secret, departments=frozenset(department), api_key=api_key,
            service_codes=codes, max_attempts=max_attempts))
    typer.echo(f"subscription {sub_id}: {k} → {url}")


def _review_line(i: Any) -> str:
    area = f"{i.area_m2:.0f} m²" if i.area_m2 else "-"
    return (f"{i.id:<40} {i.kind:<6} {i.status:<8} {i.candidate.class_name:<20} score {i.candidate.score:.2f} {area:>7}  "
            f"{i.reason}")


def _review_doc(i: Any) -> dict[str, Any]:
    return {"id": i.id, "kind": str(i.kind), "status": str(i.status), "class_name": i.candidate.class_name, "score": i.candidate.score,
            "area_m2": i.area_m2, "reason": i.reason, "evidence_key": i.candidate.evidence_key,
            "decided_by": i.decided_by, "note": i.decision_note, "ticket_id": i.ticket_id}


@review_app.command("list")
def review_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Items awaiting a decision, most urgent first (score × area × category urgency)."""
    from api.context import database
    from pipeline.tickets import review_queue

    with database().unit_of_work() as session:
        items = review_queue(session=session, now=_now())
    _emit([_review_doc(i) for i in items], as_json, [_review_line(i) for i in items] or ["review queue empty"])


@review_app.command("accept")
def review_accept(item_id: str, note: str = typer.Option(""), actor: str | None = typer.Option(None),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Confirm: the object becomes a ticket through routing."""
    from api.context import database
    from pipeline.tickets import accept_review

    with database().unit_of_work() as session:
        t = accept_review(session=session, item_id=item_id, actor=_actor(actor, [], None), at=_now(), note=note)
    _emit(_ticket_doc(t), as_json, [_ticket_line(t)])


@review_app.command("reject")
def review_reject(item_id: str, reason: str = typer.Option(..., help="why it is not a violation"),
                  actor: str | None = typer.Option(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """A false positive; its crop becomes a hard negative for training."""
    from api.context import database
    from pipeline.tickets import reject_review

    with database().unit_of_work() as session:
        item = reject_review(session=session, item_id=item_id, actor=_actor(actor, [], None), at=_now(),
                             reason=reason)
    _emit(_review_doc(item), as_json, [_review_line(item)])


@review_app.command("defer")
def review_defer(item_id: str, until: str | None = typer.Option(None, help="ISO time it comes back"),
                 note: str = typer.Option(""), actor: str | None = typer.Option(None),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Not now."""
    from api.context import database
    from pipeline.tickets import defer_review

    back = datetime.fromisoformat(until) if until else None
    if back is not None and back.tzinfo is None:
        raise InvalidInput(f"--until {until!r} needs a zone")
    with database().unit_of_work() as session:
        item = defer_review(session=session, item_id=item_id, actor=_actor(actor, [], None), at=_now(), until=back,
                            note=note)
    _emit(_review_doc(item), as_json, [_review_line(item)])


@review_app.command("export")
def review_export(out: Path = typer.Argument(..., help="dataset directory to write"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Rejected crops as hard negatives: a YOLO dataset (images, empty labels, data.yaml)."""
    from api.context import database, object_store
    from dockpatrol.taxonomy import CLASS_NAMES
    from pipeline.tickets import export_hard_negatives

    store = object_store()
    with database().unit_of_work() as session:
        result = export_hard_negatives(session=session, read_object=store.get, out_dir=out, class_names=CLASS_NAMES)
    _emit(result, as_json, [f"wrote {result['images']} hard negatives to {out} ({result['without_crop']} without "
                            f"a crop skipped); train with data {result['data_yaml']}"])
