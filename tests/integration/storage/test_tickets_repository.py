"""The tickets repository and services, identical on SQLite and PostgreSQL+PostGIS."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from dockpatrol.errors import Conflict, Forbidden
from pipeline import tickets as svc
from storage.repositories import jurisdictions
from storage.repositories import tickets as repo
from storage.tables import (
    DepartmentRow,
    OutboxRow,
    ReviewItemRow,
    RoutingPolicyRow,
    RoutingRuleRow,
    SightingRow,
    SubscriptionRow,
    TicketHistoryRow,
    TicketRow,
)
from tickets.delivery import Subscription, SubscriptionKind, sign
from tickets.rules import DEFAULT_RULES_PATH, load_rules_file
from tickets.types import Action, Actor, Candidate, ReviewStatus, Role, TicketStatus

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LON0, LAT0 = 113.136, 23.035  # inside the demo district's grid G-B1 (west)
OPS = Actor("ops:li", frozenset({Role.OPERATOR}))
FIELD = Actor("enf:wang", frozenset({Role.FIELD}), department="enforcement")


def square(east_m: float, north_m: float, size_m: float = 2.0) -> dict:
    lon, lat = LON0 + east_m / 102_500, LAT0 + north_m / 110_760
    dx, dy = size_m / 2 / 102_500, size_m / 2 / 110_760
    return {"type": "Polygon", "coordinates": [[[lon - dx, lat - dy], [lon + dx, lat - dy], [lon + dx, lat + dy],
                                                [lon - dx, lat + dy], [lon - dx, lat - dy]]]}


def obj(key: str, cls: str = "steel_shed", *, east_m: float = 0.0, score: float = 0.9, seen_at: datetime = T0,
        category: str = "construction") -> Candidate:
    return Candidate(key=key, class_name=cls, category=category, score=score, geometry=square(east_m, 0),
                     seen_at=seen_at, flight_id=f"F-{key}", evidence_key=f"evidence/{key}.jpg", frames=3)


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (concurrency needs it); the ticket tables are emptied afterwards."""
    from storage.db import session_factory

    sessions = session_factory(engine)
    yield sessions
    with sessions() as s:
        for table in (OutboxRow, SightingRow, TicketHistoryRow, ReviewItemRow, TicketRow, SubscriptionRow,
                      RoutingRuleRow, DepartmentRow, RoutingPolicyRow):
            s.execute(delete(table))
        s.commit()


@pytest.fixture
def district(session: Session) -> Session:
    from api.demo_district import build_district

    for cell in build_district().grids:
        jurisdictions.upsert(session=session, jurisdiction=cell)
    repo.save_subscription(session=session, subscription=Subscription(
        id="ops-centre", kind=SubscriptionKind.WEBHOOK, url="http://127.0.0.1:9/hook", secret="k"))
    return session


def test_five_patrols_of_one_violation_make_one_ticket_with_five_sightings(district: Session) -> None:
    for n in range(5):
        report = svc.ticket_objects(session=district, objects=[obj(f"p{n}", east_m=(-1) ** n)],
                                    at=T0 + timedelta(days=n))
        assert len(report.created) == (1 if n == 0 else 0)
    (t,) = repo.list_tickets(session=district)
    assert (t.sightings, t.status, t.department, t.team, t.jurisdiction_id) == (5, TicketStatus.DISPATCHED,
                                                                             "enforcement", "west", "G-B1")
    assert t.routing is not None and t.routing.rule_id == "R-CONS-WEST"
    assert [s.source_key for s in repo.sightings(session=district, ticket_id=t.id)] == [f"p{n}" for n in range(5)]
    assert [h.action for h in repo.history(session=district, ticket_id=t.id)] == ["created", "dispatch"] + [
        "sighting"] * 4
    again = svc.ticket_objects(session=district, objects=[obj("p4", east_m=1)], at=T0 + timedelta(days=9))
    assert again.already_known == 1 and repo.require(session=district, ticket_id=t.id).sightings == 5


def test_two_classes_3_m_apart_are_two_tickets_and_low_scores_wait_for_review(district: Session) -> None:
    report = svc.ticket_objects(session=district, objects=[
        obj("shed", "steel_shed"), obj("dump", "garbage_dump", east_m=3, category="pollution"),
        obj("faint", "rooftop_addition", east_m=50, score=0.2)], at=T0)
    assert len(report.created) == 2 and len(report.review) == 1
    assert {t.department for t in repo.list_tickets(session=district)} == {"enforcement", "environmental"}
    (item,) = svc.review_queue(session=district, now=T0)
    assert item.candidate.key == "faint" and "below" in item.reason


def test_recurrence_after_closure_is_a_new_linked_ticket(district: Session) -> None:
    (first,) = svc.ticket_objects(session=district, objects=[obj("a")], at=T0).created
    for action in (Action.ACCEPT, Action.START, Action.RESOLVE):
        svc.transition(session=district, ref=first, action=action, actor=FIELD, at=T0 + timedelta(hours=1))
    closed = svc.transition(session=district, ref=first, action=Action.CLOSE, actor=OPS, at=T0 + timedelta(hours=2),
                            note="checked on site")
    assert closed.status is TicketStatus.CLOSED
    report = svc.ticket_objects(session=district, objects=[obj("b", east_m=1)], at=T0 + timedelta(days=30))
    (second,) = report.created
    assert report.recurrences == (second,)
    assert repo.require(session=district, ticket_id=second).linked_ticket_id == first
    assert repo.require(session=district, ticket_id=first).status is TicketStatus.CLOSED


def test_resolve_requests_a_verification_patrol_and_the_flight_decides(district: Session) -> None:
    (tid,) = svc.ticket_objects(session=district, objects=[obj("a")], at=T0).created
    for action in (Action.ACCEPT, Action.START, Action.RESOLVE):
        t = svc.transition(session=district, ref=tid, action=action, actor=FIELD, at=T0 + timedelta(hours=1))
    assert t.status is TicketStatus.VERIFYING
    (req,) = svc.pending_reinspections(session=district)
    assert req.deadline == T0 + timedelta(hours=49) and req.source == f"ticket:{t.number}"
    far = [square(900, 900, 100)]
    assert svc.verify_with_flight(session=district, flight_id="F1", footprints=far, objects=[], at=T0) == []
    (res,) = svc.verify_with_flight(session=district, flight_id="F2", footprints=far, objects=[], at=T0,
                                    targets=[t.number])
    assert res[0].status is TicketStatus.VERIFYING and res[1] == "not_covered"
    assert "did not cover" in repo.history(session=district, ticket_id=tid)[-1].note
    cover = [square(0, 0, 200)]
    (res,) = svc.verify_with_flight(session=district, flight_id="F3", footprints=cover,
                                    objects=[obj("still", east_m=2)], at=T0 + timedelta(days=1))
    assert res[0].status is TicketStatus.REOPENED and res[0].reopen_count == 1
    assert repo.history(session=district, ticket_id=tid)[-2].evidence == ("evidence/still.jpg",)
    cover_again = svc.verify_with_flight(session=district, flight_id="F4", footprints=cover, objects=[], at=T0)
    assert cover_again == []  # reopened is no longer verifying


def test_two_concurrent_movers_one_wins_the_other_gets_a_conflict(committed: sessionmaker[Session]) -> None:
    sessions = committed
    with sessions() as s:
        (tid,) = svc.ticket_objects(session=s, objects=[obj("race")], at=T0).created
        s.commit()
    a, b = sessions(), sessions()
    seen_a = repo.require(session=a, ticket_id=tid)
    seen_b = repo.require(session=b, ticket_id=tid)
    assert seen_a.version == seen_b.version
    assert seen_a.status is TicketStatus.NEW  # no grids stored: the triage queue
    svc.transition(session=a, ref=tid, action=Action.DISPATCH, actor=OPS, at=T0, expected_version=seen_a.version)
    a.commit()
    with pytest.raises(Conflict, match="changed"):
        svc.transition(session=b, ref=tid, action=Action.REJECT, actor=OPS, at=T0, note="dup",
                       expected_version=seen_b.version)
    b.rollback()
    a.close()
    b.close()
    with sessions() as s:
        t = repo.require(session=s, ticket_id=tid)
        assert t.status is TicketStatus.DISPATCHED
        assert [h.action for h in repo.history(session=s, ticket_id=tid)] == ["created", "dispatch"]


def test_two_threads_moving_one_ticket_at_once_one_wins(committed: sessionmaker[Session]) -> None:
    """Both read version v, then both write at the same moment: exactly one commit, one Conflict."""
    import threading

    sessions = committed
    with sessions() as s:
        (tid,) = svc.ticket_objects(session=s, objects=[obj("race2")], at=T0).created
        s.commit()
    barrier = threading.Barrier(2, timeout=30)
    outcomes: dict[str, str] = {}

    def mover(name: str, action: Action, note: str) -> None:
        with sessions() as s:
            seen = repo.require(session=s, ticket_id=tid)
            barrier.wait()
            try:
                svc.transition(session=s, ref=tid, action=action, actor=OPS, at=T0, note=note,
                               expected_version=seen.version)
                s.commit()
                outcomes[name] = "won"
            except Conflict as exc:
                s.rollback()
                outcomes[name] = f"conflict: {exc}"

    threads = [threading.Thread(target=mover, args=("dispatcher", Action.DISPATCH, "")),
               threading.Thread(target=mover, args=("rejecter", Action.REJECT, "duplicate"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(v.split(":")[0] for v in outcomes.values()) == ["conflict", "won"], outcomes
    winner = next(k for k, v in outcomes.items() if v == "won")
    with sessions() as s:
        final = repo.require(session=s, ticket_id=tid)
        steps = [h.action for h in repo.history(session=s, ticket_id=tid)]
    assert final.status is (TicketStatus.DISPATCHED if winner == "dispatcher" else TicketStatus.REJECTED)
    assert steps == ["created", "dispatch" if winner == "dispatcher" else "reject"]


def test_concurrent_intakes_get_distinct_ticket_numbers(committed: sessionmaker[Session]) -> None:
    """Two jobs open tickets on the same day at once: both succeed, numbers differ (savepoint retry)."""
    import threading

    sessions = committed
    created_a = threading.Event()
    errors: list[BaseException] = []

    def job_b() -> None:
        try:
            with sessions() as s:
                assert created_a.wait(30)
                svc.ticket_objects(session=s, objects=[obj("nb", east_m=500)], at=T0)
                s.commit()
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    b = threading.Thread(target=job_b)
    b.start()
    with sessions() as s:
        svc.ticket_objects(session=s, objects=[obj("na")], at=T0)
        created_a.set()
        s.commit()
    b.join(60)
    assert errors == []
    with sessions() as s:
        numbers = sorted(t.number for t in repo.list_tickets(session=s))
    assert numbers == ["GC-20260302-00001", "GC-20260302-00002"]


def test_deadline_sweep_reminds_then_escalates_once(district: Session) -> None:
    assert len(svc.ticket_objects(session=district, objects=[obj("late")], at=T0).created) == 1  # 72 h SLA
    assert svc.sweep_deadlines(session=district, now=T0 + timedelta(hours=10)) == []
    assert [e.action for _, e in svc.sweep_deadlines(session=district, now=T0 + timedelta(hours=60))] == ["reminded"]
    ((late, esc),) = svc.sweep_deadlines(session=district, now=T0 + timedelta(hours=73))
    assert esc.data["to_role"] == "enforcement.supervisor" and late.escalated_at == T0 + timedelta(hours=73)
    assert svc.sweep_deadlines(session=district, now=T0 + timedelta(hours=99)) == []
    topics = [o.topic for o in repo.list_outbox(session=district)]
    assert topics.count("ticket.overdue") == 1 and topics[0] == "ticket.created"


def test_outbox_written_with_the_change_and_idempotent_keys(district: Session) -> None:
    assert len(svc.ticket_objects(session=district, objects=[obj("x")], at=T0).created) == 1
    keys = [o.idempotency_key for o in repo.list_outbox(session=district)]
    assert [k.rsplit(":", 2)[1] for k in keys] == ["ticket.created", "ticket.status_changed", "ticket.dispatched"]
    assert len(set(keys)) == len(keys)
    lease = T0 + timedelta(minutes=1)
    (entry,) = repo.claim_due(session=district, now=T0, worker="w1", lease_until=lease)  # one ticket: in order
    assert entry.topic == "ticket.created"
    assert repo.claim_due(session=district, now=T0, worker="w2", lease_until=lease) == []  # leased, and the rest wait
    (again,) = repo.claim_due(session=district, now=lease + timedelta(seconds=1), worker="w3",
                              lease_until=lease + timedelta(minutes=1))
    assert again.id == entry.id  # the lease lapsed (its worker died): another worker takes it
    repo.mark_failed(session=district, outbox_id=entry.id, error="HTTP 503", retry_at=T0 + timedelta(minutes=5),
                     dead=True)
    assert [o.id for o in repo.list_outbox(session=district, statuses=["dead"])] == [entry.id]
    (nxt,) = repo.claim_due(session=district, now=T0, worker="w1", lease_until=lease)
    assert nxt.topic == "ticket.status_changed"  # a dead-lettered entry no longer holds the line
    assert repo.replay(session=district, at=T0, dead=True) == [entry.id]
    assert repo.list_outbox(session=district, statuses=["dead"]) == []


def test_signed_callback_moves_the_ticket_and_a_bad_signature_changes_nothing(
        district: Session, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dockpatrol.tickets")  # a Celery worker test leaves the root at ERROR
    (tid,) = svc.ticket_objects(session=district, objects=[obj("cb")], at=T0).created
    t = repo.require(session=district, ticket_id=tid)
    body = f'{{"ticket": "{t.number}", "action": "accept", "actor": "city:zhang"}}'.encode()
    with pytest.raises(Forbidden):
        svc.apply_callback(session=district, body=body, signature=sign("wrong", body, timestamp=int(T0.timestamp())),
                           secret="shared", now=T0)
    assert repo.require(session=district, ticket_id=tid).version == t.version
    assert len(repo.history(session=district, ticket_id=tid)) == 2  # created, dispatch: nothing appended
    assert "refused inbound ticket callback: signature does not match" in caplog.text
    moved = svc.apply_callback(session=district, body=body, signature=sign("shared", body, timestamp=int(T0.timestamp())),
                               secret="shared", now=T0)
    assert moved.status is TicketStatus.ACCEPTED
    assert repo.history(session=district, ticket_id=tid)[-1].actor == "external:city:zhang"


def test_rule_set_round_trips_through_the_database(district: Session) -> None:
    rules = load_rules_file(DEFAULT_RULES_PATH)
    repo.save_ruleset(session=district, ruleset=rules, source="test")
    assert repo.load_ruleset(session=district) == rules


def test_list_filters_by_bbox_status_and_department(district: Session) -> None:
    svc.ticket_objects(session=district, objects=[obj("w"), obj("e", "garbage_dump", east_m=400, category="pollution")],
                       at=T0)
    lon, lat = LON0, LAT0
    near = (lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001)
    assert [t.source_key for t in repo.list_tickets(session=district, bbox=near)] == ["w"]
    assert [t.source_key for t in repo.list_tickets(session=district, departments=["environmental"],
                                                    statuses=[TicketStatus.DISPATCHED])] == ["e"]
    assert repo.list_tickets(session=district, bbox=near, departments=["environmental"]) == []


def test_review_accept_opens_a_routed_ticket_and_reject_needs_a_reason(district: Session) -> None:
    report = svc.ticket_objects(session=district, objects=[obj("f1", score=0.2), obj("f2", east_m=80, score=0.3)],
                                at=T0)
    first, second = report.review
    t = svc.accept_review(session=district, item_id=first, actor=OPS, at=T0 + timedelta(hours=1), note="clear")
    assert t.status is TicketStatus.DISPATCHED and t.department == "enforcement"
    item = svc.reject_review(session=district, item_id=second, actor=OPS, at=T0, reason="shadow")
    assert item.status is ReviewStatus.REJECTED
    assert [i.id for i in svc.review_queue(session=district, now=T0)] == []


def test_a_patrol_run_is_ticketed_once_however_often_it_is_replayed(district: Session) -> None:
    from pipeline.patrol import PatrolRun, Sighting

    lon, lat = LON0, LAT0
    run = PatrolRun(mission_id="M1", flight_id="F1", area_id="A01", dock_id="D1", flight_summary="ok", ok=True,
                    altitude_m=60, gsd_cm=2.5, photos=10, frames={"analysed": 10},
                    sightings=(Sighting("steel_shed", "construction", 0.9, lon, lat, 3, "ev/1.jpg", ("f1", "f2", "f3")),
                               Sighting("smoke", "fire", 0.2, lon + 0.002, lat, 1, "ev/2.jpg", ("f4",))),
                    footprints=(square(0, 0, 400),))
    first = svc.ticket_patrol_run(session=district, run=run, at=T0)
    assert (len(first.created), len(first.review)) == (1, 1)
    again = svc.ticket_patrol_run(session=district, run=run, at=T0 + timedelta(hours=1))
    assert (again.created, again.review, again.sightings, again.already_known) == ((), (), (), 2)
    assert len(repo.list_tickets(session=district)) == 1
    (ticket,) = repo.list_tickets(session=district)
    assert repo.sightings(session=district, ticket_id=ticket.id)[0].finding_ids == ("f1", "f2", "f3")


def test_bbox_list_is_exact_before_the_limit(district: Session) -> None:
    """Newer tickets whose bbox (not shape) overlaps the query must not crowd the real hit out of a page."""
    tri = {"type": "Polygon", "coordinates": [[[113.130, 23.030], [113.131, 23.030], [113.130, 23.031],
                                               [113.130, 23.030]]]}
    hit_lon, hit_lat = 113.1308, 23.0308  # inside the triangle's bbox, outside the triangle
    hit = {"type": "Polygon", "coordinates": [[[hit_lon, hit_lat], [hit_lon + 2e-5, hit_lat],
                                               [hit_lon + 2e-5, hit_lat + 2e-5], [hit_lon, hit_lat + 2e-5],
                                               [hit_lon, hit_lat]]]}
    svc.ticket_objects(session=district, at=T0, objects=[
        Candidate(key="hit", class_name="steel_shed", category="construction", score=0.9, geometry=hit, seen_at=T0)])
    for n, (cls, cat) in enumerate((("garbage_dump", "pollution"), ("bare_soil", "pollution"), ("smoke", "fire"))):
        svc.ticket_objects(session=district, at=T0 + timedelta(hours=n + 1), objects=[
            Candidate(key=f"tri{n}", class_name=cls, category=cat, score=0.9, geometry=tri, seen_at=T0)])
    query = (hit_lon - 5e-5, hit_lat - 5e-5, hit_lon + 5e-5, hit_lat + 5e-5)
    assert [t.source_key for t in repo.list_tickets(session=district, bbox=query, limit=1)] == ["hit"]
    assert len(repo.list_tickets(session=district, bbox=(113.1301, 23.0301, 113.1302, 23.0302))) == 3
    assert [t.source_key for t in repo.list_tickets(session=district, bbox=(113.1301, 23.0301, 113.1302, 23.0302),
                                                    limit=2, offset=1)] == ["tri1", "tri0"]
