"""Ticket services: a flight's objects → tickets, sightings and review items; lifecycle steps, deadlines,
re-inspection and inbound callbacks — each change and its outbox events in the caller's one transaction.

Domain decisions come from ``tickets`` (pure); this module loads what they need, applies them
through ``storage.repositories.tickets`` and flushes. The job boundary commits.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import shape
from sqlalchemy.orm import Session

from dockpatrol.errors import Forbidden, InvalidInput
from missions.scheduler import PatrolRequest, Priority
from pipeline.runner import job
from storage.repositories import tickets as repo
from tickets import delivery, lifecycle, reinspection, review, sla
from tickets.dedup import DedupKind, TicketIndex
from tickets.intake import IntakeKind, decide
from tickets.routing import GridIndex, route, route_to_department
from tickets.rules import DEFAULT_RULES_PATH, RuleSet, load_rules_file
from tickets.types import (
    OPEN_STATUSES,
    Action,
    Actor,
    Candidate,
    HistoryEntry,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
    Role,
    RoutingDecision,
    Sighting,
    Ticket,
    TicketStatus,
)
from vision.types import StoredFinding

if TYPE_CHECKING:
    from pipeline.patrol import PatrolRun

log = logging.getLogger("dockpatrol.tickets")
PIPELINE = Actor.system("pipeline")
NUMBER_PREFIX = "GC"


# ---------------------------------------------------------------- policy


def ensure_ruleset(*, session: Session, path: Path = DEFAULT_RULES_PATH) -> RuleSet:
    """The stored rule set; on first use, the bundled district rules (checked against the stored grids)."""
    stored = repo.load_ruleset(session=session)
    if stored is not None:
        return stored
    known = {g.id for g in repo.grids(session=session)}
    try:
        ruleset = load_rules_file(path, known_grids=known or None)
    except InvalidInput as exc:
        raise InvalidInput(f"no routing rules loaded and the bundled ones do not fit this district ({exc}); "
                           "load yours with `dockpatrol rules load FILE`") from None
    repo.save_ruleset(session=session, ruleset=ruleset, source=str(path))
    return ruleset


def load_rules(*, session: Session, path: Path) -> RuleSet:
    """Validate a rules file against the stored grids and make it the district's rule set."""
    known = {g.id for g in repo.grids(session=session)}
    ruleset = load_rules_file(path, known_grids=known)
    repo.save_ruleset(session=session, ruleset=ruleset, source=str(path))
    return ruleset


def grid_index(*, session: Session) -> GridIndex:
    return GridIndex(repo.grids(session=session))


# ---------------------------------------------------------------- storing steps with their events


def _emit(session: Session, ticket: Ticket, entry: HistoryEntry, before: TicketStatus | None) -> int:
    """Outbox rows for every subscription that wants this step's events; the same step twice is one row."""
    topics = delivery.topics_for(before, entry)
    if not topics:
        return 0
    n = 0
    subs = repo.subscriptions(session=session)
    for topic in topics:
        payload = delivery.event_payload(ticket, topic, entry)
        for sub in subs:
            if sub.wants(topic, ticket.department):
                repo.enqueue(session=session, idempotency_key=f"{payload['event_id']}:{sub.id}", topic=str(topic),
                             destination=sub.url, payload=payload, at=entry.at, subscription_id=sub.id,
                             ticket_id=ticket.id)
                n += 1
    return n


def _store(session: Session, old: Ticket, new: Ticket, entry: HistoryEntry) -> Ticket:
    repo.save(session=session, ticket=new, entry=entry, expected_version=old.version)
    _emit(session, new, entry, old.status)
    return new


def _ticket_id(source_key: str) -> str:
    return "TK-" + hashlib.sha1(source_key.encode()).hexdigest()[:16]


def open_ticket(*, session: Session, candidate: Candidate, routing: RoutingDecision, at: datetime,
                linked_ticket_id: str | None = None, actor: Actor = PIPELINE, note: str = "") -> Ticket:
    """Create a ticket (and its first sighting) from a candidate; rule-routed tickets are dispatched at once.

    Tickets that fell through to the default queue stay ``new`` for the operations centre to triage.
    """
    ticket = Ticket(id=_ticket_id(candidate.key), number="", category=candidate.category,
                    class_name=candidate.class_name, geometry=candidate.geometry, department=routing.department,
                    team=routing.team, status=TicketStatus.NEW, priority=routing.priority, created_at=at,
                    score=candidate.score, routing=routing, jurisdiction_id=routing.grid_id,
                    due_at=sla.due_at(at, routing.sla_hours), source_key=candidate.key,
                    linked_ticket_id=linked_ticket_id, evidence_key=candidate.evidence_key, sightings=1,
                    last_seen_at=candidate.seen_at)
    recur = f"; recurrence of {linked_ticket_id}" if linked_ticket_id else ""
    entry = HistoryEntry(ticket_id=ticket.id, at=at, actor=actor.id, action="created", from_status=None,
                         to_status=TicketStatus.NEW, note=(note or routing.reason) + recur,
                         evidence=(candidate.evidence_key,) if candidate.evidence_key else (),
                         data={"routing": routing.to_dict(), "linked_ticket_id": linked_ticket_id})
    ticket = repo.create(session=session, ticket=ticket, entry=entry, number_prefix=f"{NUMBER_PREFIX}-{at:%Y%m%d}-")
    repo.add_sighting(session=session, sighting=_sighting(ticket.id, candidate))
    _emit(session, ticket, entry, None)
    if not routing.is_default:
        new, step = lifecycle.apply(ticket, Action.DISPATCH, actor=Actor.system("router"), at=at,
                                    note=f"to {routing.department}" + (f"/{routing.team}" if routing.team else ""))
        ticket = _store(session, ticket, new, step)
    return ticket


def _sighting(ticket_id: str, c: Candidate) -> Sighting:
    return Sighting(ticket_id=ticket_id, source_key=c.key, seen_at=c.seen_at, score=c.score, geometry=c.geometry,
                    flight_id=c.flight_id, frame_id=c.frame_id, evidence_key=c.evidence_key, frames=c.frames,
                    finding_ids=c.finding_ids)


def add_sighting(*, session: Session, ticket_id: str, candidate: Candidate, at: datetime) -> Ticket | None:
    """One more patrol's view of a live ticket; None when this view was recorded before."""
    if not repo.add_sighting(session=session, sighting=_sighting(ticket_id, candidate)):
        return None
    t = repo.require(session=session, ticket_id=ticket_id)
    new, entry = lifecycle.annotate(t, "sighting", actor=PIPELINE, at=at, sightings=t.sightings + 1,
                                    last_seen_at=max(candidate.seen_at, t.last_seen_at or candidate.seen_at),
                                    evidence=(candidate.evidence_key,) if candidate.evidence_key else (),
                                    note=f"seen again (score {candidate.score:.2f}, {candidate.frames} frames)",
                                    data={"flight_id": candidate.flight_id, "source_key": candidate.key})
    return _store(session, t, new, entry)


# ---------------------------------------------------------------- intake


def _grown(bounds: tuple[float, float, float, float], metres: float) -> tuple[float, float, float, float]:
    """A lon/lat bbox grown by ``metres`` (plus a metre of slack) on every side."""
    minx, miny, maxx, maxy = bounds
    dlat = (metres + 1.0) / 111_320.0
    dlon = dlat / max(math.cos(math.radians(max(abs(miny), abs(maxy)))), 0.01)
    return minx - dlon, miny - dlat, maxx + dlon, maxy + dlat


@dataclass(frozen=True)
class IntakeReport:
    """What ticketing a batch of objects did."""

    created: tuple[str, ...] = ()
    recurrences: tuple[str, ...] = ()
    sightings: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    already_known: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        return (f"{len(self.created)} new tickets ({len(self.recurrences)} recurrences), {len(self.sightings)} "
                f"sightings of open tickets, {len(self.review)} to review, {self.already_known} already known")


def ticket_objects(*, session: Session, objects: Sequence[Candidate], at: datetime) -> IntakeReport:
    """Objects → tickets / sightings / review items. Idempotent: objects seen before change nothing."""
    known = repo.known_sources(session=session, keys=[o.key for o in objects])
    fresh = [o for o in objects if o.key not in known]
    if not fresh:
        return IntakeReport(already_known=len(objects))
    rules = ensure_ruleset(session=session)
    grids = grid_index(session=session)
    reach_m = max(rules.policy(o.class_name).dedup_radius_m for o in fresh)
    bounds = tuple(float(v) for v in shapely.total_bounds([shape(o.geometry) for o in fresh]))
    refs = repo.dedup_refs(session=session, bbox=_grown(bounds, reach_m),  # type: ignore[arg-type]
                           class_names={o.class_name for o in fresh})
    decisions = decide(fresh, rules=rules, grids=grids, index=TicketIndex(refs), at=at)
    created: list[str] = []
    recurrences: list[str] = []
    sightings: list[str] = []
    queued: list[str] = []
    by_key: dict[str, str] = {}
    for d in decisions:
        if d.kind is IntakeKind.TICKET and d.routing is not None:
            t = open_ticket(session=session, candidate=d.candidate, routing=d.routing, at=at,
                            linked_ticket_id=d.linked_ticket_id)
            by_key[d.candidate.key] = t.id
            created.append(t.id)
            if d.linked_ticket_id:
                recurrences.append(t.id)
        elif d.kind is IntakeKind.SIGHTING:
            target = d.ticket_id or by_key[d.same_as or ""]
            add_sighting(session=session, ticket_id=target, candidate=d.candidate, at=at)
            sightings.append(target)
        else:
            item = review.new_item(d.candidate, reason=d.reason, at=at)
            repo.save_review(session=session, item=item)
            queued.append(item.id)
    return IntakeReport(created=tuple(created), recurrences=tuple(recurrences), sightings=tuple(sightings),
                        review=tuple(queued), already_known=len(objects) - len(fresh))


# ---------------------------------------------------------------- lifecycle


def transition(*, session: Session, ref: str, action: Action | str, actor: Actor, at: datetime, note: str = "",
               expected_version: int | None = None, to_department: str | None = None,
               evidence: tuple[str, ...] = ()) -> Ticket:
    """One lifecycle step by a person or system. Resolving also requests the verification patrol."""
    t = repo.find(session=session, ref=ref)
    reroute = None
    if action == Action.TRANSFER:
        if not to_department:
            raise InvalidInput(f"transfer of {t.number} needs the department to transfer to")
        cand = Candidate(key=t.id, class_name=t.class_name, category=t.category, score=t.score,
                         geometry=t.geometry, seen_at=at)
        reroute = route_to_department(cand, ensure_ruleset(session=session), grid_index(session=session),
                                      department=to_department, at=at)
    new, entry = lifecycle.apply(t, action, actor=actor, at=at, note=note, evidence=evidence,
                                 expected_version=expected_version, reroute=reroute)
    new = _store(session, t, new, entry)
    if new.status is TicketStatus.RESOLVED:
        new = request_verification(session=session, ticket=new, at=at)
    return new


def request_verification(*, session: Session, ticket: Ticket, at: datetime) -> Ticket:
    """Resolved → verifying, with the re-inspection request for the scheduler recorded on the step."""
    req = reinspection.request_for(ticket, at=at)
    new, entry = lifecycle.apply(ticket, Action.VERIFY, actor=Actor.system("reinspection"), at=at,
                                 note=f"verification patrol requested by {req.deadline:%Y-%m-%d %H:%M} UTC")
    new = replace(new, reinspection_request_id=req.id)
    entry = replace(entry, data={"request": {"id": req.id, "lon": req.lon, "lat": req.lat, "radius_m": req.radius_m,
                                             "not_before": at.isoformat(), "deadline": req.deadline.isoformat()}})
    return _store(session, ticket, new, entry)


def pending_reinspections(*, session: Session) -> list[PatrolRequest]:
    """Verification patrols owed: one scheduler request per ticket in verifying (feed to missions.schedule)."""
    out = []
    for t in repo.in_status(session=session, status=TicketStatus.VERIFYING):
        steps = [h for h in repo.history(session=session, ticket_id=t.id) if "request" in h.data]
        if not steps:
            continue
        r = steps[-1].data["request"]
        out.append(PatrolRequest(id=r["id"], lon=r["lon"], lat=r["lat"], radius_m=r["radius_m"],
                                 not_before=datetime.fromisoformat(r["not_before"]),
                                 deadline=datetime.fromisoformat(r["deadline"]), priority=Priority.REINSPECTION,
                                 source=f"ticket:{t.number}"))
    return out


def verify_with_flight(*, session: Session, flight_id: str | None, footprints: Sequence[dict[str, Any]],
                       objects: Sequence[Candidate], at: datetime,
                       targets: Sequence[str] = ()) -> list[tuple[Ticket, reinspection.Verification]]:
    """Verifying tickets the flight saw, or was sent to see (``targets``, ticket ids or numbers): closed as
    verified, reopened with the new evidence, or left in verifying with a note that the spot was not covered."""
    rules = ensure_ruleset(session=session)
    candidates = {t.id: t for t in (repo.find(session=session, ref=r) for r in targets)
                  if t.status is TicketStatus.VERIFYING}
    if footprints:
        minx, miny, maxx, maxy = shapely.total_bounds([shape(f) for f in footprints])
        for t in repo.in_status(session=session, status=TicketStatus.VERIFYING, bbox=(minx, miny, maxx, maxy)):
            candidates.setdefault(t.id, t)
    out = []
    for t in candidates.values():
        assessment = reinspection.assess(t, footprints=footprints, objects=objects,
                                         radius_m=rules.policy(t.class_name).dedup_radius_m)
        new, entry = reinspection.verification_step(t, assessment, flight_id=flight_id, at=at)
        out.append((_store(session, t, new, entry), assessment.outcome))
        if assessment.evidence is not None:
            add_sighting(session=session, ticket_id=t.id, candidate=assessment.evidence, at=at)
    return out


# ---------------------------------------------------------------- deadlines


def sweep_deadlines(*, session: Session, now: datetime,
                    policy: sla.DeadlinePolicy | None = None) -> list[tuple[Ticket, HistoryEntry]]:
    """Reminders and escalations owed at ``now`` (each once), recorded and announced."""
    rules = ensure_ruleset(session=session)
    roles = {d.id: d.supervisor_role for d in rules.departments}
    done = []
    for t in repo.deadline_candidates(session=session, statuses=OPEN_STATUSES):
        event = sla.check(t, now=now, policy=policy)
        if event is None:
            continue
        new, entry = sla.apply_deadline(t, event, supervisor_role=roles.get(t.department, f"{t.department}.supervisor"))
        done.append((_store(session, t, new, entry), entry))
    return done


# ---------------------------------------------------------------- inbound callback


def apply_callback(*, session: Session, body: bytes, signature: str | None, secret: str, now: datetime) -> Ticket:
    """A signed status update from the city system, applied through the lifecycle; bad signature → Forbidden."""
    try:
        delivery.verify(secret, body, signature, now=now)
    except Forbidden as exc:
        log.warning("refused inbound ticket callback: %s", exc)
        raise
    update = delivery.parse_callback(body)
    actor = Actor(id=f"external:{update.actor}", roles=frozenset({Role.EXTERNAL}))
    return transition(session=session, ref=update.ticket_ref, action=update.action, actor=actor, at=now,
                      note=update.note, expected_version=update.expected_version)


# ---------------------------------------------------------------- review queue


def accept_review(*, session: Session, item_id: str, actor: Actor, at: datetime, note: str = "") -> Ticket:
    """A person confirms a queued object: it becomes a ticket through routing (or a sighting of a live one)."""
    item = repo.get_review(session=session, item_id=item_id)
    rules = ensure_ruleset(session=session)
    c = item.candidate
    radius_m = rules.policy(c.class_name).dedup_radius_m
    bounds = tuple(float(v) for v in shape(c.geometry).bounds)
    refs = repo.dedup_refs(session=session, bbox=_grown(bounds, radius_m),  # type: ignore[arg-type]
                           class_names={c.class_name})
    match = TicketIndex(refs).match([c.class_name], [shape(c.geometry)], lambda _: radius_m)[0]
    if match.kind is DedupKind.SIGHTING and match.ticket_id is not None:
        ticket_id = match.ticket_id  # a live ticket already covers it: the accepted view is evidence
        add_sighting(session=session, ticket_id=ticket_id, candidate=c, at=at)
    else:
        linked = match.ticket_id if match.kind is DedupKind.RECURRENCE else None
        routing = route(c, rules, grid_index(session=session), at=at)
        ticket_id = open_ticket(session=session, candidate=c, routing=routing, at=at, actor=actor,
                                linked_ticket_id=linked,
                                note=f"accepted from review by {actor.id}" + (f": {note}" if note else "")).id
    repo.save_review(session=session, item=review.accept(item, actor=actor, at=at, ticket_id=ticket_id, note=note))
    _record_on_change(session=session, item=item, status="accepted")
    return repo.require(session=session, ticket_id=ticket_id)


def reject_review(*, session: Session, item_id: str, actor: Actor, at: datetime, reason: str) -> ReviewItem:
    item = review.reject(repo.get_review(session=session, item_id=item_id), actor=actor, at=at, reason=reason)
    _record_on_change(session=session, item=item, status="rejected")
    return repo.save_review(session=session, item=item)


def _record_on_change(*, session: Session, item: ReviewItem, status: str) -> None:
    """A change item's decision is the change's too (its candidate key is the change id)."""
    if item.kind is ReviewKind.CHANGE:
        from storage.repositories import changes

        changes.set_status(session=session, change_id=item.candidate.key, status=status)


def defer_review(*, session: Session, item_id: str, actor: Actor, at: datetime, until: datetime | None = None,
                 note: str = "") -> ReviewItem:
    item = review.defer(repo.get_review(session=session, item_id=item_id), actor=actor, at=at, until=until, note=note)
    return repo.save_review(session=session, item=item)


def review_queue(*, session: Session, now: datetime) -> list[ReviewItem]:
    items = repo.list_reviews(session=session, statuses=(ReviewStatus.PENDING, ReviewStatus.DEFERRED))
    return review.queue(items, now=now)


def export_hard_negatives(*, session: Session, read_object: Any, out_dir: Path,
                          class_names: Sequence[str]) -> dict[str, Any]:
    """Rejected crops as a YOLO dataset of background images: images/, EMPTY labels/, data.yaml.

    ``read_object(key) -> bytes`` reads an evidence crop from the object store. Items without a crop
    are skipped and counted.
    """
    import yaml

    rejected = repo.list_reviews(session=session, statuses=(ReviewStatus.REJECTED,))
    images, labels = out_dir / "images" / "train", out_dir / "labels" / "train"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    written, missing = 0, 0
    for item in rejected:
        key = item.candidate.evidence_key
        if not key:
            missing += 1
            continue
        data = read_object(key)
        stem = hashlib.sha1(item.id.encode()).hexdigest()[:16]
        suffix = Path(key).suffix.lower() or ".jpg"
        (images / f"{stem}{suffix}").write_bytes(data)
        (labels / f"{stem}.txt").write_text("")  # no objects: a hard negative
        written += 1
    doc = {"path": str(out_dir.resolve()), "train": "images/train", "val": "images/train",
           "names": dict(enumerate(class_names))}
    (out_dir / "data.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return {"images": written, "without_crop": missing, "data_yaml": str(out_dir / "data.yaml")}


# ---------------------------------------------------------------- objects of a flight


def candidate_key(flight_id: str, finding_ids: Sequence[str]) -> str:
    """Stable key of one object of one flight: the same findings give the same key."""
    return f"{flight_id}:" + hashlib.sha1("\n".join(sorted(finding_ids)).encode()).hexdigest()[:16]


def candidates_from_findings(findings: Sequence[StoredFinding], *, flight_id: str,
                             radius_m: float = 3.0) -> list[Candidate]:
    """A flight's stored findings grouped into one Candidate per object (same class, footprints within
    ``radius_m``), led by its best view; the key follows the group's finding ids."""
    from tickets.dedup import cluster_findings

    if not findings:
        return []
    groups = cluster_findings([f.finding.geometry for f in findings], [f.finding.class_name for f in findings],
                              radius_m=radius_m)
    out = []
    for group in groups:
        members = [findings[i] for i in group]
        best = max(members, key=lambda f: f.finding.score)
        out.append(Candidate(key=candidate_key(flight_id, [f.id for f in members]),
                             class_name=best.finding.class_name, category=str(best.finding.category),
                             score=float(best.finding.score), geometry=best.finding.geometry,
                             seen_at=min(f.finding.seen_at for f in members), flight_id=flight_id,
                             frame_id=best.finding.frame_id, evidence_key=best.finding.evidence_key,
                             frames=len(members), finding_ids=tuple(sorted(f.id for f in members)),
                             area_id=best.area_id))
    return out


def ticket_flight(*, session: Session, flight_id: str, objects: Sequence[Candidate],
                  footprints: Sequence[dict[str, Any]], at: datetime, targets: Sequence[str] = ()) -> IntakeReport:
    """A flight's whole ticketing step: verify tickets it covered (or was sent to), then ticket its objects."""
    verified = verify_with_flight(session=session, flight_id=flight_id, footprints=footprints, objects=objects, at=at,
                                  targets=targets)
    # Objects that re-inspection already used as evidence of a reopened ticket are not ticketed again.
    report = ticket_objects(session=session, objects=objects, at=at)
    notes = tuple(f"{t.number}: {outcome}" for t, outcome in verified)
    return replace(report, notes=report.notes + notes)


def check_actor_roles(roles: Sequence[str]) -> frozenset[Role]:
    """Role names from the CLI/API → Roles; unknown names are refused, naming them."""
    out = set()
    for r in roles:
        try:
            out.add(Role(r))
        except ValueError:
            raise InvalidInput(f"unknown role {r!r}; roles: {', '.join(x.value for x in Role)}") from None
    return frozenset(out)




def candidates_from_patrol(run: PatrolRun, *, at: datetime) -> list[Candidate]:
    """A patrol's grouped sightings as ticket candidates: the best view's ground polygon (the point when
    the sighting carries no views), keyed by the group's finding ids."""
    return [Candidate(key=candidate_key(run.flight_id, s.finding_ids), class_name=s.class_name, category=s.category,
                      score=float(s.score), seen_at=at, flight_id=run.flight_id, evidence_key=s.evidence_key,
                      geometry=s.views[0] if s.views else {"type": "Point", "coordinates": [s.lon, s.lat]},
                      frames=s.frames, finding_ids=tuple(s.finding_ids), area_id=run.area_id)
            for s in run.sightings]


def ticket_patrol_run(*, session: Session, run: PatrolRun, at: datetime) -> IntakeReport:
    """Ticket one patrol end to end (idempotent: a second call finds every object already known)."""
    return ticket_flight(session=session, flight_id=run.flight_id, objects=candidates_from_patrol(run, at=at),
                         footprints=list(run.footprints), at=at)


@job("tickets.deadlines")
def deadlines_job() -> dict[str, int]:
    """The deadline sweep as a pipeline job: reminders and escalations owed now."""
    from storage.platform import database

    with database().unit_of_work() as session:
        done = sweep_deadlines(session=session, now=datetime.now(UTC))
    return {"reminded": sum(e.action == "reminded" for _, e in done),
            "escalated": sum(e.action == "escalated" for _, e in done)}
