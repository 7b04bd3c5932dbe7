"""Mission commands (launch now, abort): requests the API records for the patrol service to act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.tables import utcnow
from storage.tables_api import MissionCommandRow


class CommandKind(StrEnum):
    LAUNCH = "launch"
    ABORT = "abort"


class CommandStatus(StrEnum):
    """pending until the patrol service takes it; done, refused (with a note) or cancelled after."""

    PENDING = "pending"
    DONE = "done"
    REFUSED = "refused"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class MissionCommand:
    id: int
    mission_id: str
    command: CommandKind
    status: CommandStatus
    requested_by: str
    requested_at: datetime
    handled_at: datetime | None = None
    note: str = ""


def _command(row: MissionCommandRow) -> MissionCommand:
    return MissionCommand(id=row.id, mission_id=row.mission_id, command=CommandKind(row.command),
                          status=CommandStatus(row.status), requested_by=row.requested_by,
                          requested_at=row.requested_at, handled_at=row.handled_at, note=row.note)


def request(*, session: Session, mission_id: str, command: CommandKind, requested_by: str) -> MissionCommand:
    row = MissionCommandRow(mission_id=mission_id, command=str(command), status=str(CommandStatus.PENDING),
                            requested_by=requested_by)
    session.add(row)
    session.flush()
    return _command(row)


def pending(*, session: Session, mission_ids: list[str]) -> dict[str, MissionCommand]:
    """The newest pending command of each mission that has one."""
    if not mission_ids:
        return {}
    stmt = (select(MissionCommandRow).where(MissionCommandRow.mission_id.in_(mission_ids),
                                            MissionCommandRow.status == str(CommandStatus.PENDING))
            .order_by(MissionCommandRow.id))
    return {row.mission_id: _command(row) for row in session.scalars(stmt)}


def settle(*, session: Session, command_id: int, status: CommandStatus, note: str = "") -> None:
    row = session.get(MissionCommandRow, command_id)
    if row is not None:
        row.status, row.note, row.handled_at = str(status), note, utcnow()
        session.flush()
