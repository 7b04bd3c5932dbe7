"""Tickets (工单) with their append-only history, and the outbox that delivers them outward."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dockpatrol.errors import Conflict
from storage.repositories._base import get_row, require_row, upsert_row
from storage.tables import OutboxRow, TicketHistoryRow, TicketRow, utcnow


def create(*, session: Session, ticket_id: str, actor: str, note: str = "", **values: Any) -> TicketRow:
    """A new ticket plus its first history entry, in the caller's transaction."""
    if get_row(session, TicketRow, ticket_id) is not None:
        raise Conflict(f"ticket {ticket_id!r} already exists")
    row = upsert_row(session, TicketRow, ticket_id, **values)
    record(session=session, ticket_id=ticket_id, actor=actor, action="created", to_status=row.status, note=note)
    return row


def require(*, session: Session, ticket_id: str) -> TicketRow:
    return require_row(session, TicketRow, ticket_id, "ticket")


def by_dedup_key(*, session: Session, dedup_key: str) -> list[TicketRow]:
    return list(session.scalars(select(TicketRow).where(TicketRow.dedup_key == dedup_key)))


def transition(*, session: Session, ticket_id: str, to_status: str, actor: str, note: str = "",
               data: dict[str, Any] | None = None) -> TicketRow:
    row = require(session=session, ticket_id=ticket_id)
    from_status, row.status = row.status, to_status
    record(session=session, ticket_id=ticket_id, actor=actor, action="status", from_status=from_status,
           to_status=to_status, note=note, data=data or {})
    return row


def record(*, session: Session, ticket_id: str, actor: str, action: str, from_status: str | None = None,
           to_status: str | None = None, note: str = "", data: dict[str, Any] | None = None) -> None:
    session.add(TicketHistoryRow(ticket_id=ticket_id, actor=actor, action=action, from_status=from_status,
                                 to_status=to_status, note=note, data=data or {}))
    session.flush()


def history(*, session: Session, ticket_id: str) -> list[TicketHistoryRow]:
    stmt = select(TicketHistoryRow).where(TicketHistoryRow.ticket_id == ticket_id).order_by(TicketHistoryRow.id)
    return list(session.scalars(stmt))


def enqueue(*, session: Session, idempotency_key: str, topic: str, destination: str,
            payload: dict[str, Any]) -> OutboxRow:
    """Queue a delivery in the current transaction; the same key twice is one delivery."""
    existing = session.scalars(select(OutboxRow).where(OutboxRow.idempotency_key == idempotency_key)).first()
    if existing is not None:
        return existing
    row = OutboxRow(idempotency_key=idempotency_key, topic=topic, destination=destination, payload=payload)
    session.add(row)
    session.flush()
    return row


def due_deliveries(*, session: Session, now: datetime | None = None, limit: int = 100) -> list[OutboxRow]:
    now = now or utcnow()
    stmt = (select(OutboxRow).where(OutboxRow.delivered_at.is_(None), OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def mark_delivered(*, session: Session, outbox_id: int, at: datetime | None = None) -> None:
    row = require_row(session, OutboxRow, outbox_id, "outbox entry")
    row.delivered_at = at or utcnow()
    row.attempts += 1
    session.flush()


def mark_failed(*, session: Session, outbox_id: int, error: str, retry_at: datetime) -> None:
    row = require_row(session, OutboxRow, outbox_id, "outbox entry")
    row.attempts += 1
    row.last_error = error[:2000]
    row.next_attempt_at = retry_at
    session.flush()
