"""The audit log (全流程留痕) and the platform settings the admin changes at run time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dockpatrol.identity import AuditEntry
from storage.tables_api import AuditRow, PlatformSettingRow


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(id=row.id, at=row.at, actor=row.actor, action=row.action, resource_type=row.resource_type,
                      resource_id=row.resource_id, before=row.before, after=row.after, detail=row.detail or {})


def record(
    *, session: Session, actor: str, action: str, resource_type: str, resource_id: str,
    before: dict[str, Any] | None = None, after: dict[str, Any] | None = None, detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction: it commits or rolls back with the change itself."""
    row = AuditRow(actor=actor, action=action, resource_type=resource_type, resource_id=resource_id,
                   before=before, after=after, detail=detail or {})
    session.add(row)
    session.flush()
    return _entry(row)


def search(
    *, session: Session, actor: str | None = None, action: str | None = None, resource_type: str | None = None,
    resource_id: str | None = None, since: datetime | None = None, offset: int = 0, limit: int = 100,
) -> tuple[list[AuditEntry], int]:
    """Entries newest first, filtered; also the total count for pagination."""
    conditions = []
    if actor:
        conditions.append(AuditRow.actor == actor)
    if action:
        conditions.append(AuditRow.action == action)
    if resource_type:
        conditions.append(AuditRow.resource_type == resource_type)
    if resource_id:
        conditions.append(AuditRow.resource_id == resource_id)
    if since:
        conditions.append(AuditRow.at >= since)
    total = session.scalar(select(func.count()).select_from(AuditRow).where(*conditions)) or 0
    rows = session.scalars(select(AuditRow).where(*conditions).order_by(AuditRow.id.desc()).offset(offset)
                           .limit(limit))
    return [_entry(r) for r in rows], total


def get_setting(*, session: Session, key: str) -> Any | None:
    row = session.get(PlatformSettingRow, key)
    return row.value if row else None


def put_setting(*, session: Session, key: str, value: Any, actor: str) -> Any | None:
    """Set a platform setting; returns the previous value (None when unset)."""
    row = session.get(PlatformSettingRow, key)
    previous = row.value if row else None
    if row is None:
        session.add(PlatformSettingRow(key=key, value=value, updated_by=actor))
    else:
        row.value, row.updated_by = value, actor
    session.flush()
    return previous
