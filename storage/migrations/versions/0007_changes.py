"""change events carry area, class, category, detail and a fingerprint for idempotent recording

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change_events") as batch:
        batch.add_column(sa.Column("area_m2", sa.Float(), nullable=True))
        batch.add_column(sa.Column("surface_class", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("class_name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("category", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("review_weight", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("detail", sa.JSON(), nullable=False, server_default="{}"))
        batch.create_index("ix_change_events_flights", ["before_flight_id", "after_flight_id"])


def downgrade() -> None:
    with op.batch_alter_table("change_events") as batch:
        batch.drop_index("ix_change_events_flights")
        for column in ("detail", "review_weight", "category", "class_name", "surface_class", "area_m2"):
            batch.drop_column(column)
