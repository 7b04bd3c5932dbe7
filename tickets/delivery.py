"""What goes out and what comes back: ticket events, HMAC-signed webhooks with idempotency keys,
Open311 GeoReport v2 service requests, signed inbound status callbacks, and the retry schedule.

Wire contract of a webhook: ``POST`` of a JSON event (``event_id``, ``topic``, ``at``, ``actor``,
``from_status``, ``to_status``, ``note``, ``ticket``) with headers ``Idempotency-Key`` (the same on
every retry: receivers must deduplicate on it, delivery is at-least-once), ``X-Dockpatrol-Event``
and ``X-Dockpatrol-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
An inbound status callback is signed the same way; its body is ``{"ticket", "action", "actor",
"note"?, "version"?}`` and it moves the ticket through the same lifecycle as a person would.

Pure: building and checking messages. Sending them (httpx) is the outbox worker's job in pipeline/.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dockpatrol.errors import Forbidden, InvalidInput
from tickets.routing import place_of
from tickets.types import Action, HistoryEntry, Ticket, TicketStatus

SIGNATURE_HEADER = "X-Dockpatrol-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Dockpatrol-Event"
#: A signed message older (or newer) than this is refused: a captured callback cannot be replayed later.
SIGNATURE_TOLERANCE_S = 300


class Topic(StrEnum):
    CREATED = "ticket.created"
    DISPATCHED = "ticket.dispatched"
    STATUS_CHANGED = "ticket.status_changed"
    OVERDUE = "ticket.overdue"
    REOPENED = "ticket.reopened"
    CLOSED = "ticket.closed"


class SubscriptionKind(StrEnum):
    WEBHOOK = "webhook"
    OPEN311 = "open311"


@dataclass(frozen=True)
class Subscription:
    """An outbound target: a generic webhook (signed JSON) or an Open311 GeoReport v2 endpoint."""

    id: str
    kind: SubscriptionKind
    url: str
    secret: str = ""
    topics: frozenset[Topic] = frozenset(Topic)
    departments: frozenset[str] = frozenset()  # empty: every department
    enabled: bool = True
    max_attempts: int = 8
    api_key: str | None = None  # Open311
    service_codes: Mapping[str, str] = field(default_factory=dict)  # Open311: class → service_code

    def wants(self, topic: Topic, department: str) -> bool:
        if not self.enabled or topic not in self.topics:
            return False
        if self.kind is SubscriptionKind.OPEN311 and topic is not Topic.CREATED:
            return False  # GeoReport v2 creates requests; status flows back through the callback
        return not self.departments or department in self.departments


def topics_for(before: TicketStatus | None, entry: HistoryEntry) -> list[Topic]:
    """The events a history step announces (creation, status changes, escalation)."""
    if entry.action == "created":
        return [Topic.CREATED]
    if entry.action == "escalated":
        return [Topic.OVERDUE]
    if entry.to_status is None or entry.to_status == before:
        return []
    out = [Topic.STATUS_CHANGED]
    special = {TicketStatus.DISPATCHED: Topic.DISPATCHED, TicketStatus.REOPENED: Topic.REOPENED,
               TicketStatus.CLOSED: Topic.CLOSED}
    if entry.to_status in special:
        out.append(special[entry.to_status])
    return out


def ticket_document(ticket: Ticket) -> dict[str, Any]:
    """The ticket as outside systems see it (GeoJSON geometry, ISO times)."""
    lon, lat = place_of(ticket.geometry)

    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {"id": ticket.id, "number": ticket.number, "category": ticket.category,
            "class_name": ticket.class_name, "status": str(ticket.status), "department": ticket.department,
            "team": ticket.team, "priority": ticket.priority, "grid": ticket.jurisdiction_id,
            "lon": round(lon, 7), "lat": round(lat, 7), "geometry": ticket.geometry, "score": ticket.score,
            "created_at": iso(ticket.created_at), "due_at": iso(ticket.due_at), "version": ticket.version,
            "linked_ticket_id": ticket.linked_ticket_id, "external_ref": ticket.external_ref,
            "evidence_key": ticket.evidence_key, "sightings": ticket.sightings,
            "rule_id": ticket.routing.rule_id if ticket.routing else None}


def event_id(ticket: Ticket, topic: Topic) -> str:
    """Stable per (ticket, version, topic): the same change announced twice is the same event."""
    return f"{ticket.id}:v{ticket.version}:{topic}"


def event_payload(ticket: Ticket, topic: Topic, entry: HistoryEntry) -> dict[str, Any]:
    return {"event_id": event_id(ticket, topic), "topic": str(topic), "at": entry.at.isoformat(),
            "actor": entry.actor, "from_status": str(entry.from_status) if entry.from_status else None,
            "to_status": str(entry.to_status) if entry.to_status else None, "note": entry.note,
            "ticket": ticket_document(ticket)}


def canonical_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """``t=<unix s>,v1=<hex HMAC-SHA256 of "<t>." + body>``: binds the body to its send time."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str | None, *, now: datetime,
           tolerance_s: int = SIGNATURE_TOLERANCE_S) -> None:
    """Raise Forbidden unless ``header`` is a fresh, valid signature of ``body`` under ``secret``."""
    if not secret:
        raise Forbidden("no callback secret configured; refusing unsigned updates")
    if not header:
        raise Forbidden(f"missing {SIGNATURE_HEADER} header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise Forbidden(f"malformed {SIGNATURE_HEADER} header") from None
    if abs(now.timestamp() - ts) > tolerance_s:
        raise Forbidden(f"signature timestamp {ts} is more than {tolerance_s} s from now")
    expected = sign(secret, body, timestamp=ts).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise Forbidden("signature does not match the body")


def webhook_request(payload: Mapping[str, Any], *, secret: str, idempotency_key: str,
                    now: datetime) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a signed webhook POST."""
    body = canonical_body(payload)
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key,
               EVENT_HEADER: str(payload.get("topic", ""))}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body, timestamp=int(now.timestamp()))
    return body, headers


def open311_form(ticket_doc: Mapping[str, Any], *, subscription: Subscription,
                 media_url: str | None = None) -> dict[str, str]:
    """A GeoReport v2 ``POST /requests`` form: our class → the city's service_code, and the spot."""
    cls = str(ticket_doc["class_name"])
    code = subscription.service_codes.get(cls)
    if code is None:
        raise InvalidInput(f"subscription {subscription.id}: no Open311 service_code for class {cls!r}")
    form = {"service_code": code, "lat": f"{ticket_doc['lat']:.7f}", "long": f"{ticket_doc['lon']:.7f}",
            "description": f"{ticket_doc['number']}: {cls} seen by patrol drone (score {ticket_doc['score']:.2f}), "
                           f"due {ticket_doc['due_at']}",
            "attribute[dockpatrol_ticket]": str(ticket_doc["number"])}
    if subscription.api_key:
        form["api_key"] = subscription.api_key
    if media_url:
        form["media_url"] = media_url
    return form


def open311_request_id(response: Any) -> str:
    """The ``service_request_id`` of a GeoReport v2 POST response (a one-element list)."""
    first = response[0] if isinstance(response, list) and response else response
    if isinstance(first, dict):
        rid = first.get("service_request_id")
        if rid:
            return str(rid)
        if first.get("token"):
            return f"token:{first['token']}"
    raise InvalidInput(f"Open311 response carries no service_request_id: {str(response)[:200]}")


def backoff_s(attempt: int, *, base_s: float = 2.0, cap_s: float = 900.0, rng: random.Random | None = None) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, with equal jitter (half fixed, half random)."""
    step = min(cap_s, base_s * 2 ** max(attempt - 1, 0))
    return step / 2 + (rng or random).uniform(0, step / 2)


@dataclass(frozen=True)
class CallbackUpdate:
    """A status update from the external system, to apply through the lifecycle."""

    ticket_ref: str  # our ticket number or id, or the external service_request_id
    action: Action
    actor: str
    note: str = ""
    expected_version: int | None = None


CALLBACK_FIELDS = ("ticket", "action", "actor", "note", "version")


def parse_callback(body: bytes) -> CallbackUpdate:
    """A verified callback body → an update; unknown fields and actions are refused, naming them."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"callback body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("callback body must be a JSON object")
    for key in doc:
        if key not in CALLBACK_FIELDS:
            raise InvalidInput(f"callback: unknown field {key!r}; allowed: {', '.join(CALLBACK_FIELDS)}")
    for key in ("ticket", "action", "actor"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise InvalidInput(f"callback: field {key!r} is required (a string)")
    try:
        action = Action(doc["action"])
    except ValueError:
        raise InvalidInput(f"callback: unknown action {doc['action']!r}") from None
    version = doc.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidInput(f"callback: version {version!r} is not an integer")
    return CallbackUpdate(ticket_ref=doc["ticket"], action=action, actor=doc["actor"],
                          note=str(doc.get("note", "")), expected_version=version)
