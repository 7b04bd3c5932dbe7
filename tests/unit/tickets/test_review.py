"""The review queue: ordering by score × area × urgency, accept/reject/defer rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dockpatrol.errors import Conflict, Forbidden, InvalidInput
from tests.unit.tickets.conftest import T0, candidate
from tickets.review import accept, area_m2, defer, new_item, queue, reject
from tickets.types import Actor, ReviewStatus, Role

OPS = Actor("ops", frozenset({Role.OPERATOR}))


def test_area_in_square_metres() -> None:
    assert area_m2(candidate("a", size_m=10.0).geometry) == pytest.approx(100.0, rel=0.02)
    assert area_m2({"type": "Point", "coordinates": [113.15, 23.03]}) is None


def test_queue_orders_by_score_area_and_category_urgency() -> None:
    small_shed = new_item(candidate("shed", "steel_shed", score=0.5, size_m=3.0), reason="low", at=T0)
    big_dump = new_item(candidate("dump", "garbage_dump", score=0.4, size_m=10.0), reason="low", at=T0)
    smoke = new_item(candidate("smoke", "smoke", score=0.3, size_m=10.0), reason="low", at=T0)
    assert [i.id for i in queue([small_shed, big_dump, smoke], now=T0)] == ["RV-smoke", "RV-dump", "RV-shed"]


def test_reject_needs_a_reason_and_decided_items_leave_the_queue() -> None:
    item = new_item(candidate("a", score=0.4), reason="low", at=T0)
    with pytest.raises(InvalidInput, match="needs a reason"):
        reject(item, actor=OPS, at=T0, reason=" ")
    done = reject(item, actor=OPS, at=T0, reason="shadow of a billboard")
    assert (done.status, done.decision_note, done.decided_by) == (ReviewStatus.REJECTED, "shadow of a billboard",
                                                                  "ops")
    assert queue([done], now=T0) == []
    with pytest.raises(Conflict, match="already rejected"):
        accept(done, actor=OPS, at=T0, ticket_id="T9")


def test_deferred_item_returns_when_its_time_comes() -> None:
    item = defer(new_item(candidate("a", score=0.4), reason="low", at=T0), actor=OPS, at=T0,
                 until=T0 + timedelta(hours=2))
    assert queue([item], now=T0 + timedelta(hours=1)) == []
    assert queue([item], now=T0 + timedelta(hours=2)) == [item]
    with pytest.raises(InvalidInput, match="not after now"):
        defer(item, actor=OPS, at=T0, until=T0)


def test_accept_records_the_ticket_and_only_reviewers_decide() -> None:
    item = new_item(candidate("a", score=0.4), reason="low", at=T0)
    assert accept(item, actor=OPS, at=T0, ticket_id="T1").ticket_id == "T1"
    with pytest.raises(Forbidden):
        accept(item, actor=Actor("li", frozenset({Role.FIELD}), "enforcement"), at=T0, ticket_id="T1")
