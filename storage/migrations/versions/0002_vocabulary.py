"""one vocabulary: dock elevation named by its reference, one priority scale, findings keep box and model

Revision ID: 0002
Revises: 0001

- ``docks.alt_m`` becomes ``docks.elevation_amsl_m`` and may be NULL (unknown), no longer 0.0.
- ``schedules.priority`` and ``missions.priority`` move to ``missions.types.Priority`` (0 emergency,
  1 re-inspection, 2 routine). The old default 50 (and anything outside 0..2) was never read by the
  scheduler and meant "routine", so it becomes 2.
- ``findings`` gain the pixel box, the ground area and the model that produced them, so a stored
  finding reads back as the ``vision.types.Finding`` that was saved.
Status strings are unchanged: the StrEnums adopt the values already stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROUTINE = 2
OLD_DEFAULT = 50
PRIORITY_TABLES = ("schedules", "missions")


def upgrade() -> None:
    for table in PRIORITY_TABLES:
        op.execute(sa.text(f"UPDATE {table} SET priority = :routine WHERE priority < 0 OR priority > :routine")
                   .bindparams(routine=ROUTINE))
    # RENAME COLUMN is native on PostgreSQL and SQLite (>= 3.25); only the NULL-ability needs a rebuild.
    op.execute("ALTER TABLE docks RENAME COLUMN alt_m TO elevation_amsl_m")
    with op.batch_alter_table("docks") as batch:
        batch.alter_column("elevation_amsl_m", existing_type=sa.Double(), nullable=True)
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("box_xyxy_px", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("area_m2", sa.Double(), nullable=True))
        batch.add_column(sa.Column("model", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    for table in PRIORITY_TABLES:
        op.execute(sa.text(f"UPDATE {table} SET priority = :old WHERE priority = :routine")
                   .bindparams(old=OLD_DEFAULT, routine=ROUTINE))
    op.execute("UPDATE docks SET elevation_amsl_m = 0.0 WHERE elevation_amsl_m IS NULL")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("model")
        batch.drop_column("area_m2")
        batch.drop_column("box_xyxy_px")
    with op.batch_alter_table("docks") as batch:
        batch.alter_column("elevation_amsl_m", existing_type=sa.Double(), nullable=False)
    op.execute("ALTER TABLE docks RENAME COLUMN elevation_amsl_m TO alt_m")
