"""tickets: routing policy, sightings, review queue, subscriptions, outbox delivery state, ticket version

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 05:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.geometry import GeoJSONGeometry

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", TZ, nullable=False), sa.Column("updated_at", TZ, nullable=False)]


def _bbox() -> list[sa.Column]:
    return [sa.Column("geometry", GeoJSONGeometry(), nullable=False),
            *(sa.Column(c, sa.Float(), nullable=False) for c in ("min_lon", "min_lat", "max_lon", "max_lat"))]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("routing_rules") as batch:
        batch.add_column(sa.Column("team", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ticket_priority", sa.Integer(), nullable=False, server_default="50"))
    op.create_table(
        "departments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("supervisor_role", sa.String(100), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
    )
    op.create_table(
        "routing_policies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("default_route", sa.JSON(), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_policies")),
    )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("team", sa.String(64), nullable=True))
        batch.add_column(sa.Column("score", sa.Double(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("rule_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("source_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("linked_ticket_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("evidence_key", sa.String(500), nullable=True))
        for col in ("dispatched_at", "resolved_at", "closed_at", "reminded_at", "escalated_at", "last_seen_at"):
            batch.add_column(sa.Column(col, TZ, nullable=True))
        batch.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("sightings", sa.Integer(), nullable=False, server_default="1"))
        batch.create_unique_constraint(op.f("uq_tickets_source_key"), ["source_key"])
        batch.create_foreign_key(op.f("fk_tickets_linked_ticket_id_tickets"), "tickets", ["linked_ticket_id"],
                                 ["id"])
        batch.create_index("ix_tickets_department_status_bbox",
                           ["department", "status", "min_lon", "max_lon", "min_lat", "max_lat"])
    with op.batch_alter_table("ticket_history") as batch:
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=False),
        sa.Column("seen_at", TZ, nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("geometry", GeoJSONGeometry(), nullable=False),
        sa.Column("flight_id", sa.String(64), nullable=True),
        sa.Column("frame_id", sa.String(64), nullable=True),
        sa.Column("evidence_key", sa.String(500), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("finding_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_sightings_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
        sa.UniqueConstraint("source_key", name=op.f("uq_sightings_source_key")),
    )
    op.create_index(op.f("ix_sightings_ticket_id"), "sightings", ["ticket_id"])
    op.create_table(
        "review_items",
        sa.Column("id", sa.String(220), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("candidate_key", sa.String(200), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("seen_at", TZ, nullable=False),
        sa.Column("flight_id", sa.String(64), nullable=True),
        sa.Column("frame_id", sa.String(64), nullable=True),
        sa.Column("area_id", sa.String(64), nullable=True),
        sa.Column("evidence_key", sa.String(500), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("finding_ids", sa.JSON(), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("deferred_until", TZ, nullable=True),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        *_bbox(),
        *_timestamps(),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_review_items_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("candidate_key", name=op.f("uq_review_items_candidate_key")),
    )
    op.create_index(op.f("ix_review_items_status"), "review_items", ["status"])
    op.create_index("ix_review_items_bbox", "review_items", ["min_lon", "max_lon", "min_lat", "max_lat"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("api_key", sa.String(200), nullable=True),
        sa.Column("service_codes", sa.JSON(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="pending"))
        batch.add_column(sa.Column("subscription_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ticket_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("locked_until", TZ, nullable=True))
        batch.add_column(sa.Column("locked_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("response", sa.JSON(), nullable=False, server_default="{}"))
        batch.create_index(op.f("ix_outbox_ticket_id"), ["ticket_id"])
        batch.create_index("ix_outbox_due", ["status", "next_attempt_at"])
    op.execute("UPDATE outbox SET status = 'delivered' WHERE delivered_at IS NOT NULL")
    if postgres:
        op.create_index("ix_review_items_geometry_gist", "review_items", ["geometry"], postgresql_using="gist")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_due")
        batch.drop_index(op.f("ix_outbox_ticket_id"))
        for col in ("response", "locked_by", "locked_until", "ticket_id", "subscription_id", "status"):
            batch.drop_column(col)
    op.drop_table("webhook_subscriptions")
    op.drop_table("review_items")
    op.drop_table("sightings")
    with op.batch_alter_table("ticket_history") as batch:
        batch.drop_column("evidence")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_department_status_bbox")
        batch.drop_constraint(op.f("fk_tickets_linked_ticket_id_tickets"), type_="foreignkey")
        batch.drop_constraint(op.f("uq_tickets_source_key"), type_="unique")
        for col in ("sightings", "reopen_count", "last_seen_at", "escalated_at", "reminded_at", "closed_at",
                    "resolved_at", "dispatched_at", "evidence_key", "linked_ticket_id", "source_key", "rule_id",
                    "score", "team", "version"):
            batch.drop_column(col)
    op.drop_table("routing_policies")
    op.drop_table("departments")
    with op.batch_alter_table("routing_rules") as batch:
        batch.drop_column("ticket_priority")
        batch.drop_column("team")
