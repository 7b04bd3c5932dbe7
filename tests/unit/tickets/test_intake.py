"""Dedup across patrols and the auto-ticket / review gate (pure, an in-memory ledger stands in for storage)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.unit.tickets.conftest import T0, candidate, ticket
from tickets.dedup import DedupKind, TicketIndex, refs_from_tickets
from tickets.intake import IntakeKind, decide
from tickets.routing import GridIndex
from tickets.rules import DEFAULT_RULES_PATH, load_rules_file
from tickets.types import Candidate, Ticket, TicketStatus

RULES = load_rules_file(DEFAULT_RULES_PATH)  # steel_shed: 0.55, 8 m; garbage_dump 12 m; smoke 60 m


class Ledger:
    """What storage does with intake decisions, kept in memory."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.sightings: dict[str, list[str]] = {}
        self.review: list[str] = []

    def patrol(self, candidates: list[Candidate], grids: GridIndex, *, at: object = T0) -> list[IntakeKind]:
        index = TicketIndex(refs_from_tickets(list(self.tickets.values())))
        decisions = decide(candidates, rules=RULES, grids=grids, index=index, at=at)  # type: ignore[arg-type]
        by_key: dict[str, str] = {}
        for d in decisions:
            if d.kind is IntakeKind.TICKET:
                tid = f"T{len(self.tickets) + 1}"
                self.tickets[tid] = ticket(id=tid, class_name=d.candidate.class_name, category=d.candidate.category,
                                           geometry=d.candidate.geometry, linked_ticket_id=d.linked_ticket_id,
                                           department=d.routing.department)  # type: ignore[union-attr]
                self.sightings[tid] = [d.candidate.key]
                by_key[d.candidate.key] = tid
            elif d.kind is IntakeKind.SIGHTING:
                tid = d.ticket_id or by_key[d.same_as]  # type: ignore[index]
                self.sightings[tid].append(d.candidate.key)
            else:
                self.review.append(d.candidate.key)
        return [d.kind for d in decisions]


def test_one_violation_on_five_patrols_is_one_ticket_with_five_sightings(two_grids: GridIndex) -> None:
    ledger = Ledger()
    for n in range(5):  # georeferencing wobbles by a metre or two between patrols
        ledger.patrol([candidate(f"p{n}", east_m=(-1) ** n * 1.5, north_m=n * 0.5,
                                 seen_at=T0 + timedelta(days=n))], two_grids)
    assert list(ledger.tickets) == ["T1"]
    assert ledger.sightings["T1"] == ["p0", "p1", "p2", "p3", "p4"]


def test_two_violations_3_m_apart_of_different_classes_are_two_tickets(two_grids: GridIndex) -> None:
    ledger = Ledger()
    kinds = ledger.patrol([candidate("shed", "steel_shed"), candidate("dump", "garbage_dump", east_m=3.0)],
                          two_grids)
    assert kinds == [IntakeKind.TICKET, IntakeKind.TICKET]
    assert sorted(t.class_name for t in ledger.tickets.values()) == ["garbage_dump", "steel_shed"]


def test_same_class_outside_its_radius_is_a_second_ticket(two_grids: GridIndex) -> None:
    ledger = Ledger()
    ledger.patrol([candidate("a")], two_grids)
    ledger.patrol([candidate("b", east_m=9.5)], two_grids)  # 9.5 - 2 m footprint = 7.5 m < 8 m: same
    ledger.patrol([candidate("c", east_m=-11.0)], two_grids)  # 9 m gap > 8 m: another shed
    assert len(ledger.tickets) == 2 and ledger.sightings["T1"] == ["a", "b"]


def test_recurrence_after_closure_opens_a_new_linked_ticket(two_grids: GridIndex) -> None:
    ledger = Ledger()
    ledger.patrol([candidate("first")], two_grids)
    ledger.tickets["T1"] = replace(ledger.tickets["T1"], status=TicketStatus.CLOSED, closed_at=T0 + timedelta(days=3))
    assert ledger.patrol([candidate("again", east_m=1.0)], two_grids) == [IntakeKind.TICKET]
    assert ledger.tickets["T2"].linked_ticket_id == "T1"
    assert ledger.tickets["T1"].status is TicketStatus.CLOSED  # no silent reopen


def test_recurrence_links_to_the_latest_closed_and_live_wins_over_closed() -> None:
    old = ticket(id="OLD", status=TicketStatus.CLOSED, closed_at=T0)
    newer = ticket(id="NEWER", status=TicketStatus.CLOSED, closed_at=T0 + timedelta(days=9))
    live = ticket(id="LIVE", status=TicketStatus.IN_PROGRESS)
    c = candidate("x", east_m=1.0)
    from shapely.geometry import shape

    radius = lambda cls: 8.0  # noqa: E731
    m = TicketIndex(refs_from_tickets([old, newer])).match([c.class_name], [shape(c.geometry)], radius)[0]
    assert (m.kind, m.ticket_id) == (DedupKind.RECURRENCE, "NEWER")
    m = TicketIndex(refs_from_tickets([old, live, newer])).match([c.class_name], [shape(c.geometry)], radius)[0]
    assert (m.kind, m.ticket_id) == (DedupKind.SIGHTING, "LIVE")


def test_low_score_goes_to_review_and_near_a_rejected_ticket_too(two_grids: GridIndex) -> None:
    ledger = Ledger()
    assert ledger.patrol([candidate("faint", score=0.30)], two_grids) == [IntakeKind.REVIEW]
    ledger.tickets["X"] = ticket(id="X", status=TicketStatus.REJECTED, geometry=candidate("r", east_m=40).geometry)
    ledger.sightings["X"] = []
    assert ledger.patrol([candidate("sure", score=0.95, east_m=41)], two_grids) == [IntakeKind.REVIEW]
    assert ledger.review == ["faint", "sure"]


def test_one_batch_groups_its_own_duplicates_behind_the_best_view(two_grids: GridIndex) -> None:
    ledger = Ledger()
    kinds = ledger.patrol([candidate("weak", score=0.6, east_m=2.0), candidate("strong", score=0.95)], two_grids)
    assert sorted(kinds) == [IntakeKind.SIGHTING, IntakeKind.TICKET]
    assert ledger.sightings["T1"] == ["strong", "weak"]
