"""drop mission_commands: a launch is a mission's scheduled_for and an abort its abort_requested_at, read by the
patrol service; this queue was never written

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_mission_commands_mission_id", table_name="mission_commands")
    op.drop_table("mission_commands")


def downgrade() -> None:
    op.create_table(
        "mission_commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mission_id", sa.String(length=64), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["mission_id"], ["missions.id"], name=op.f("fk_mission_commands_mission_id_missions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mission_commands")),
    )
    op.create_index("ix_mission_commands_mission_id", "mission_commands", ["mission_id"])
