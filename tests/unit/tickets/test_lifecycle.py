"""The lifecycle state machine: every allowed and every refused transition, permissions, concurrency."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from dockpatrol.errors import Conflict, Forbidden, InvalidInput
from tests.unit.tickets.conftest import T0, ticket
from tickets.lifecycle import TRANSITIONS, InvalidTransition, apply, can
from tickets.types import Action, Actor, Role, RoutingDecision, TicketStatus

S, A = TicketStatus, Action
ALL_ROLES = Actor("ops-all", frozenset(Role), department="enforcement")
REROUTE = RoutingDecision(rule_id="R-POLL", department="environmental", team="water", priority=20, sla_hours=48.0,
                          grid_id="G-B2", reason="transfer")

EXPECTED = {
    (S.NEW, A.DISPATCH): S.DISPATCHED, (S.NEW, A.REJECT): S.REJECTED, (S.NEW, A.TRANSFER): S.NEW,
    (S.DISPATCHED, A.ACCEPT): S.ACCEPTED, (S.DISPATCHED, A.REJECT): S.REJECTED,
    (S.DISPATCHED, A.TRANSFER): S.DISPATCHED,
    (S.ACCEPTED, A.START): S.IN_PROGRESS, (S.ACCEPTED, A.REJECT): S.REJECTED, (S.ACCEPTED, A.TRANSFER): S.DISPATCHED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED, (S.IN_PROGRESS, A.TRANSFER): S.DISPATCHED,
    (S.RESOLVED, A.VERIFY): S.VERIFYING, (S.RESOLVED, A.CLOSE): S.CLOSED, (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.VERIFYING, A.CLOSE): S.CLOSED, (S.VERIFYING, A.REOPEN): S.REOPENED,
    (S.REOPENED, A.DISPATCH): S.DISPATCHED, (S.REOPENED, A.ACCEPT): S.ACCEPTED,
    (S.REOPENED, A.TRANSFER): S.DISPATCHED,
}
ALL_PAIRS = list(itertools.product(TicketStatus, Action))


def test_the_table_is_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("status", "action"), [p for p in ALL_PAIRS if p in EXPECTED])
def test_allowed_transition(status: TicketStatus, action: Action) -> None:
    t = ticket(status)
    new, entry = apply(t, action, actor=ALL_ROLES, at=T0 + timedelta(hours=1), note="because",
                       reroute=REROUTE)
    assert new.status is EXPECTED[(status, action)]
    assert new.version == t.version + 1
    assert (entry.from_status, entry.to_status, entry.action, entry.actor) == (status, new.status, str(action),
                                                                               "ops-all")
    assert entry.note == "because"


@pytest.mark.parametrize(("status", "action"), [p for p in ALL_PAIRS if p not in EXPECTED])
def test_refused_transition_names_both_states(status: TicketStatus, action: Action) -> None:
    with pytest.raises(InvalidTransition) as err:
        apply(ticket(status), action, actor=ALL_ROLES, at=T0, note="because", reroute=REROUTE)
    assert f"cannot {action} from {status}" in str(err.value)
    assert isinstance(err.value, Conflict)


@pytest.mark.parametrize("action", [A.REJECT, A.TRANSFER, A.REOPEN])
def test_reason_required(action: Action) -> None:
    status = {A.REJECT: S.NEW, A.TRANSFER: S.DISPATCHED, A.REOPEN: S.VERIFYING}[action]
    with pytest.raises(InvalidInput, match="needs a reason"):
        apply(ticket(status), action, actor=ALL_ROLES, at=T0, note="  ", reroute=REROUTE)


def test_reopen_with_evidence_needs_no_words_and_restarts_the_deadline() -> None:
    routing = RoutingDecision("R-CONS-WEST", "enforcement", "west", 40, 72.0, "G-B2", "r")
    t = ticket(S.VERIFYING, routing=routing, resolved_at=T0, due_at=T0 + timedelta(hours=72), reopen_count=0)
    later = T0 + timedelta(days=5)
    new, entry = apply(t, A.REOPEN, actor=Actor.system(), at=later, evidence=("evidence/x.jpg",))
    assert (new.reopen_count, new.resolved_at, new.due_at) == (1, None, later + timedelta(hours=72))
    assert entry.evidence == ("evidence/x.jpg",)


def test_transfer_reroutes_department_and_sla() -> None:
    new, entry = apply(ticket(S.ACCEPTED), A.TRANSFER, actor=ALL_ROLES, at=T0, note="water, not a shed",
                       reroute=REROUTE)
    assert (new.department, new.team, new.due_at, new.status) == ("environmental", "water",
                                                                  T0 + timedelta(hours=48), S.DISPATCHED)
    assert entry.data["from_department"] == "enforcement" and entry.data["to_department"] == "environmental"


def test_dispatch_and_resolve_stamp_times() -> None:
    t1, _ = apply(ticket(S.NEW), A.DISPATCH, actor=ALL_ROLES, at=T0 + timedelta(minutes=5))
    assert t1.dispatched_at == T0 + timedelta(minutes=5)
    t2, _ = apply(ticket(S.IN_PROGRESS), A.RESOLVE, actor=ALL_ROLES, at=T0 + timedelta(hours=3))
    assert t2.resolved_at == T0 + timedelta(hours=3)


def test_stale_version_is_a_conflict_not_a_silent_overwrite() -> None:
    t = ticket(S.DISPATCHED, version=3)
    with pytest.raises(Conflict, match="version 2, it is at 3"):
        apply(t, A.ACCEPT, actor=ALL_ROLES, at=T0, expected_version=2)
    assert apply(t, A.ACCEPT, actor=ALL_ROLES, at=T0, expected_version=3)[0].version == 4


@pytest.mark.parametrize(
    ("actor", "action", "allowed"),
    [
        (Actor("li", frozenset({Role.FIELD}), "enforcement"), A.ACCEPT, True),
        (Actor("wang", frozenset({Role.FIELD}), "environmental"), A.ACCEPT, False),  # another department's
        (Actor("li", frozenset({Role.FIELD}), "enforcement"), A.DISPATCH, False),  # field staff do not dispatch
        (Actor("ops", frozenset({Role.OPERATOR})), A.DISPATCH, True),
        (Actor("ops", frozenset({Role.OPERATOR})), A.ACCEPT, False),
        (Actor("anon"), A.DISPATCH, False),
        (Actor("city", frozenset({Role.EXTERNAL})), A.ACCEPT, True),
        (Actor("city", frozenset({Role.EXTERNAL})), A.TRANSFER, False),
    ],
)
def test_permission_hook(actor: Actor, action: Action, allowed: bool) -> None:
    t = ticket(S.DISPATCHED if action is not A.DISPATCH else S.NEW)
    assert can(actor, action, t) is allowed
    if not allowed:
        with pytest.raises(Forbidden, match=actor.id):
            apply(t, action, actor=actor, at=T0, note="x", reroute=REROUTE)


def test_unknown_action_is_named() -> None:
    with pytest.raises(InvalidInput, match="'teleport'"):
        apply(ticket(), "teleport", actor=ALL_ROLES, at=T0)
