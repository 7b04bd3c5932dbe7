"""operations: persisted pipeline jobs, operator aborts, dock status reasons and heartbeats

Revision ID: 0006
Revises: 0005

- ``jobs``: one row per pipeline step and input (the id is its idempotency key), so a restarted
  service finds what was queued or running when it died, retries with back-off, and shows what failed.
- ``missions.abort_requested_at``: ``dockpatrol abort`` records the request; the patrol service acts on it.
- ``docks.status_reason`` and ``docks.heartbeat_at``: why a dock is offline or in maintenance, and when
  its vehicle last answered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("flight_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_flight_id"), "jobs", ["flight_id"])
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"])
    with op.batch_alter_table("missions") as batch:
        batch.add_column(sa.Column("abort_requested_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("docks") as batch:
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("docks") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("status_reason")
    with op.batch_alter_table("missions") as batch:
        batch.drop_column("abort_requested_at")
    op.drop_index(op.f("ix_jobs_status"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_flight_id"), table_name="jobs")
    op.drop_table("jobs")
