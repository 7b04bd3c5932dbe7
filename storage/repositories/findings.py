"""Findings (georeferenced detections) and change events between successive patrols."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.geometry import BBox
from storage.repositories._base import intersecting, require_row, upsert_row
from storage.tables import ChangeEventRow, FindingRow


def save_finding(*, session: Session, finding_id: str, **values: Any) -> FindingRow:
    return upsert_row(session, FindingRow, finding_id, **values)


def require_finding(*, session: Session, finding_id: str) -> FindingRow:
    return require_row(session, FindingRow, finding_id, "finding")


def findings_in(*, session: Session, bbox: BBox) -> list[FindingRow]:
    return intersecting(session, FindingRow, bbox=bbox)


def findings_of_flight(*, session: Session, flight_id: str) -> list[FindingRow]:
    stmt = select(FindingRow).where(FindingRow.flight_id == flight_id).order_by(FindingRow.seen_at, FindingRow.id)
    return list(session.scalars(stmt))


def save_change(*, session: Session, change_id: str, **values: Any) -> ChangeEventRow:
    return upsert_row(session, ChangeEventRow, change_id, **values)


def changes_pending_review(*, session: Session) -> list[ChangeEventRow]:
    stmt = select(ChangeEventRow).where(ChangeEventRow.status == "pending_review").order_by(ChangeEventRow.created_at)
    return list(session.scalars(stmt))
