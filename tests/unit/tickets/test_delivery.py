"""Outbound messages (events, signed webhooks, Open311 forms), inbound callbacks, retry schedule."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from dockpatrol.errors import Forbidden, InvalidInput
from tests.unit.tickets.conftest import T0, ticket
from tickets.delivery import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    Subscription,
    SubscriptionKind,
    Topic,
    backoff_s,
    event_payload,
    open311_form,
    open311_request_id,
    parse_callback,
    sign,
    topics_for,
    verify,
    webhook_request,
)
from tickets.types import Action, HistoryEntry, TicketStatus

S = TicketStatus


@pytest.mark.parametrize(
    ("action", "before", "after", "topics"),
    [
        ("created", None, S.NEW, [Topic.CREATED]),
        ("dispatch", S.NEW, S.DISPATCHED, [Topic.STATUS_CHANGED, Topic.DISPATCHED]),
        ("accept", S.DISPATCHED, S.ACCEPTED, [Topic.STATUS_CHANGED]),
        ("reopen", S.VERIFYING, S.REOPENED, [Topic.STATUS_CHANGED, Topic.REOPENED]),
        ("close", S.VERIFYING, S.CLOSED, [Topic.STATUS_CHANGED, Topic.CLOSED]),
        ("escalated", S.ACCEPTED, S.ACCEPTED, [Topic.OVERDUE]),
        ("sighting", S.ACCEPTED, S.ACCEPTED, []),
    ],
)
def test_topics_for_history_steps(action: str, before: S | None, after: S, topics: list[Topic]) -> None:
    entry = HistoryEntry(ticket_id="T1", at=T0, actor="x", action=action, from_status=before, to_status=after)
    assert topics_for(before, entry) == topics


def test_signed_webhook_verifies_and_tampering_is_refused() -> None:
    t = ticket(S.DISPATCHED, due_at=T0 + timedelta(hours=72))
    entry = HistoryEntry(ticket_id="T1", at=T0, actor="ops", action="dispatch", from_status=S.NEW,
                         to_status=S.DISPATCHED)
    payload = event_payload(t, Topic.DISPATCHED, entry)
    body, headers = webhook_request(payload, secret="s3cret", idempotency_key="k1", now=T0)
    assert headers[IDEMPOTENCY_HEADER] == "k1" and json.loads(body)["ticket"]["number"] == "GC-000001"
    verify("s3cret", body, headers[SIGNATURE_HEADER], now=T0 + timedelta(seconds=30))
    with pytest.raises(Forbidden, match="does not match"):
        verify("s3cret", body.replace(b"dispatched", b"closed"), headers[SIGNATURE_HEADER], now=T0)
    with pytest.raises(Forbidden, match="does not match"):
        verify("other", body, headers[SIGNATURE_HEADER], now=T0)
    with pytest.raises(Forbidden, match="more than 300 s"):
        verify("s3cret", body, headers[SIGNATURE_HEADER], now=T0 + timedelta(minutes=10))
    for header in (None, "garbage"):
        with pytest.raises(Forbidden):
            verify("s3cret", body, header, now=T0)


def test_open311_form_maps_class_to_service_code() -> None:
    sub = Subscription(id="city", kind=SubscriptionKind.OPEN311, url="http://x", api_key="k",
                       service_codes={"steel_shed": "ILLEGAL-STRUCTURE"})
    entry = HistoryEntry(ticket_id="T1", at=T0, actor="x", action="created", from_status=None, to_status=S.NEW)
    doc = event_payload(ticket(), Topic.CREATED, entry)["ticket"]
    form = open311_form(doc, subscription=sub)
    assert form["service_code"] == "ILLEGAL-STRUCTURE" and form["api_key"] == "k"
    assert float(form["lat"]) == pytest.approx(23.03, abs=1e-4) and float(form["long"]) == pytest.approx(113.15,
                                                                                                          abs=1e-4)
    with pytest.raises(InvalidInput, match="no Open311 service_code for class 'smoke'"):
        open311_form({**doc, "class_name": "smoke"}, subscription=sub)
    assert sub.wants(Topic.CREATED, "enforcement") and not sub.wants(Topic.CLOSED, "enforcement")
    assert open311_request_id([{"service_request_id": "638344"}]) == "638344"
    with pytest.raises(InvalidInput):
        open311_request_id([{"error": 1}])


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_s(n, base_s=2, cap_s=60, rng=rng) for n in range(1, 9)]
    for n, d in enumerate(delays, start=1):
        step = min(60, 2 * 2 ** (n - 1))
        assert step / 2 <= d <= step
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_callback_parsing() -> None:
    update = parse_callback(b'{"ticket": "GC-000001", "action": "accept", "actor": "city:zhang", "version": 2}')
    assert (update.action, update.expected_version) == (Action.ACCEPT, 2)
    with pytest.raises(InvalidInput, match="unknown field 'status'"):
        parse_callback(b'{"ticket": "x", "action": "accept", "actor": "a", "status": "done"}')
    with pytest.raises(InvalidInput, match="unknown action 'fly'"):
        parse_callback(b'{"ticket": "x", "action": "fly", "actor": "a"}')
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_callback(b"\xff")
    assert sign("k", b"{}", timestamp=1).startswith("t=1,v1=")
