"""Change events between two patrols of an area: recorded once per (before, after, change), read for review."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from dockpatrol.errors import NotFound
from dockpatrol.taxonomy import Category
from storage.geometry import BBox
from storage.tables import ChangeEventRow
from vision.change import ChangeEvent, ChangeKind, RecordedChange, SurfaceClass

PENDING_REVIEW = "pending_review"


def change_id_for(*, before_flight_id: str, after_flight_id: str, event: ChangeEvent) -> str:
    """Stable id: comparing the same two flights again finds the same rows instead of adding new ones."""
    digest = hashlib.sha1(f"{before_flight_id}\n{after_flight_id}\n{event.fingerprint}".encode()).hexdigest()
    return f"CH-{digest[:16]}"


def _to_domain(row: ChangeEventRow) -> RecordedChange:
    event = ChangeEvent(
        kind=ChangeKind(row.kind), geometry=row.geometry, area_m2=float(row.area_m2 or 0.0), score=float(row.score),
        surface_class=SurfaceClass(row.surface_class) if row.surface_class else None, class_name=row.class_name,
        category=Category(row.category) if row.category else None, before_key=row.before_key,
        after_key=row.after_key, detail=dict(row.detail or {}),
    )
    return RecordedChange(id=row.id, area_id=row.area_id, before_flight_id=row.before_flight_id,
                          after_flight_id=row.after_flight_id, event=event, status=row.status,
                          created_at=row.created_at)


def record(*, session: Session, area_id: str | None, before_flight_id: str, after_flight_id: str,
           events: Sequence[ChangeEvent]) -> list[RecordedChange]:
    """Insert the events not yet recorded for this pair of flights; existing rows (and their review status) stay."""
    out = []
    for event in events:
        change_id = change_id_for(before_flight_id=before_flight_id, after_flight_id=after_flight_id, event=event)
        row = session.get(ChangeEventRow, change_id)
        if row is None:
            row = ChangeEventRow(
                id=change_id, area_id=area_id, kind=str(event.kind), before_flight_id=before_flight_id,
                after_flight_id=after_flight_id, before_key=event.before_key, after_key=event.after_key,
                score=float(event.score), status=PENDING_REVIEW, area_m2=float(event.area_m2),
                surface_class=None if event.surface_class is None else str(event.surface_class),
                class_name=event.class_name, category=None if event.category is None else str(event.category),
                review_weight=float(event.review_weight), detail=dict(event.detail),
            )
            row.set_geometry(event.geometry)
            session.add(row)
        out.append(row)
    session.flush()
    return [_to_domain(r) for r in out]


def get(*, session: Session, change_id: str) -> RecordedChange | None:
    row = session.get(ChangeEventRow, change_id)
    return None if row is None else _to_domain(row)


def require(*, session: Session, change_id: str) -> RecordedChange:
    found = get(session=session, change_id=change_id)
    if found is None:
        raise NotFound(f"change event {change_id!r} does not exist")
    return found


def set_status(*, session: Session, change_id: str, status: str) -> RecordedChange:
    """Record the review decision on the change itself (``accepted``/``rejected``; deferred stays pending)."""
    row = session.get(ChangeEventRow, change_id)
    if row is None:
        raise NotFound(f"change event {change_id!r} does not exist")
    row.status = status
    session.flush()
    return _to_domain(row)


def of_flights(*, session: Session, before_flight_id: str, after_flight_id: str) -> list[RecordedChange]:
    """Every change recorded between two flights, most important first."""
    stmt = (select(ChangeEventRow)
            .where(ChangeEventRow.before_flight_id == before_flight_id,
                   ChangeEventRow.after_flight_id == after_flight_id)
            .order_by(ChangeEventRow.review_weight.desc(), ChangeEventRow.id))
    return [_to_domain(r) for r in session.scalars(stmt)]


def pending_review(*, session: Session, area_id: str | None = None, limit: int = 200) -> list[RecordedChange]:
    """The review queue's change items: pending ones, ordered by score × area × category urgency."""
    stmt = select(ChangeEventRow).where(ChangeEventRow.status == PENDING_REVIEW)
    if area_id is not None:
        stmt = stmt.where(ChangeEventRow.area_id == area_id)
    stmt = stmt.order_by(ChangeEventRow.review_weight.desc(), ChangeEventRow.created_at, ChangeEventRow.id).limit(limit)
    return [_to_domain(r) for r in session.scalars(stmt)]


def query(*, session: Session, area_id: str | None = None, flight_id: str | None = None, kind: str | None = None,
          status: str | None = None, bbox: BBox | None = None, offset: int = 0,
          limit: int = 100) -> tuple[list[RecordedChange], int]:
    """Changes matching every filter given, most important first, and how many match in all.

    ``flight_id`` matches either side of the comparison; ``bbox`` keeps those overlapping the map's view.
    """
    where = []
    if area_id:
        where.append(ChangeEventRow.area_id == area_id)
    if flight_id:
        where.append(or_(ChangeEventRow.before_flight_id == flight_id, ChangeEventRow.after_flight_id == flight_id))
    if kind:
        where.append(ChangeEventRow.kind == kind)
    if status:
        where.append(ChangeEventRow.status == status)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        where.append(and_(ChangeEventRow.min_lon <= maxx, ChangeEventRow.max_lon >= minx,
                          ChangeEventRow.min_lat <= maxy, ChangeEventRow.max_lat >= miny))
    total = session.scalar(select(func.count()).select_from(ChangeEventRow).where(*where)) or 0
    stmt = (select(ChangeEventRow).where(*where)
            .order_by(ChangeEventRow.review_weight.desc(), ChangeEventRow.id).offset(offset).limit(limit))
    return [_to_domain(r) for r in session.scalars(stmt)], int(total)
