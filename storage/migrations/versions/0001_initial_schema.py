"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:27:01.496323
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.geometry import GeoJSONGeometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


GEO_TABLES = ("jurisdictions", "patrol_areas", "no_fly_zones", "findings", "change_events", "tickets")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "docks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("alt_m", sa.Double(), nullable=False),
        sa.Column("vehicle_url", sa.String(length=300), nullable=False),
        sa.Column("max_range_m", sa.Double(), nullable=False),
        sa.Column("endurance_s", sa.Double(), nullable=False),
        sa.Column("charge_s", sa.Double(), nullable=False),
        sa.Column("cruise_speed_m_s", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("camera", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_docks")),
    )
    op.create_table(
        "jurisdictions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("geometry", GeoJSONGeometry(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jurisdictions")),
    )
    with op.batch_alter_table("jurisdictions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jurisdictions_bbox", ["min_lon", "max_lon", "min_lat", "max_lat"], unique=False
        )

    op.create_table(
        "no_fly_zones",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("geometry", GeoJSONGeometry(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_no_fly_zones")),
    )
    with op.batch_alter_table("no_fly_zones", schema=None) as batch_op:
        batch_op.create_index(
            "ix_no_fly_zones_bbox", ["min_lon", "max_lon", "min_lat", "max_lat"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("destination", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("sla_hours", sa.Double(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    op.create_table(
        "patrol_areas",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("gsd_cm", sa.Double(), nullable=False),
        sa.Column("cadence", sa.String(length=200), nullable=True),
        sa.Column("jurisdiction_id", sa.String(length=64), nullable=True),
        sa.Column("geometry", GeoJSONGeometry(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdictions.id"],
            name=op.f("fk_patrol_areas_jurisdiction_id_jurisdictions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_areas")),
    )
    with op.batch_alter_table("patrol_areas", schema=None) as batch_op:
        batch_op.create_index(
            "ix_patrol_areas_bbox", ["min_lon", "max_lon", "min_lat", "max_lat"], unique=False
        )

    op.create_table(
        "tickets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("routing", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("reinspection_mission_id", sa.String(length=64), nullable=True),
        sa.Column("geometry", GeoJSONGeometry(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"], ["jurisdictions.id"], name=op.f("fk_tickets_jurisdiction_id_jurisdictions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("number", name=op.f("uq_tickets_number")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_bbox", ["min_lon", "max_lon", "min_lat", "max_lat"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_dedup_key"), ["dedup_key"], unique=False)

    op.create_table(
        "missions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("dock_id", sa.String(length=64), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["patrol_areas.id"], name=op.f("fk_missions_area_id_patrol_areas")
        ),
        sa.ForeignKeyConstraint(["dock_id"], ["docks.id"], name=op.f("fk_missions_dock_id_docks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_missions")),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=300), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["patrol_areas.id"],
            name=op.f("fk_schedules_area_id_patrol_areas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_table(
        "ticket_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_history_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_history")),
    )
    with op.batch_alter_table("ticket_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_history_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "flights",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("mission_id", sa.String(length=64), nullable=True),
        sa.Column("dock_id", sa.String(length=64), nullable=True),
        sa.Column("vehicle_url", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=64), nullable=False),
        sa.Column("log_key", sa.String(length=500), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dock_id"], ["docks.id"], name=op.f("fk_flights_dock_id_docks")),
        sa.ForeignKeyConstraint(["mission_id"], ["missions.id"], name=op.f("fk_flights_mission_id_missions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flights")),
    )
    op.create_table(
        "change_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("before_flight_id", sa.String(length=64), nullable=True),
        sa.Column("after_flight_id", sa.String(length=64), nullable=True),
        sa.Column("before_key", sa.String(length=500), nullable=True),
        sa.Column("after_key", sa.String(length=500), nullable=True),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("geometry", GeoJSONGeometry(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["after_flight_id"], ["flights.id"], name=op.f("fk_change_events_after_flight_id_flights")
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["patrol_areas.id"], name=op.f("fk_change_events_area_id_patrol_areas")
        ),
        sa.ForeignKeyConstraint(
            ["before_flight_id"], ["flights.id"], name=op.f("fk_change_events_before_flight_id_flights")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_events")),
    )
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_change_events_bbox", ["min_lon", "max_lon", "min_lat", "max_lat"], unique=False
        )

    op.create_table(
        "frames",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("flight_id", sa.String(length=64), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("altitude_m", sa.Double(), nullable=True),
        sa.Column("yaw_deg", sa.Double(), nullable=True),
        sa.Column("pitch_deg", sa.Double(), nullable=True),
        sa.Column("roll_deg", sa.Double(), nullable=True),
        sa.Column("camera", sa.JSON(), nullable=False),
        sa.Column("object_key", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width_px", sa.Integer(), nullable=True),
        sa.Column("height_px", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["flight_id"], ["flights.id"], name=op.f("fk_frames_flight_id_flights")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frames")),
        sa.UniqueConstraint("flight_id", "sha256", name=op.f("uq_frames_flight_id")),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("frame_id", sa.String(length=64), nullable=True),
        sa.Column("flight_id", sa.String(length=64), nullable=True),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("evidence_key", sa.String(length=500), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("geometry", GeoJSONGeometry(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["patrol_areas.id"], name=op.f("fk_findings_area_id_patrol_areas")
        ),
        sa.ForeignKeyConstraint(["flight_id"], ["flights.id"], name=op.f("fk_findings_flight_id_flights")),
        sa.ForeignKeyConstraint(["frame_id"], ["frames.id"], name=op.f("fk_findings_frame_id_frames")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_findings_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index("ix_findings_bbox", ["min_lon", "max_lon", "min_lat", "max_lat"], unique=False)

    if postgres:
        for table in GEO_TABLES:
            op.create_index(f"ix_{table}_geometry_gist", table, ["geometry"], postgresql_using="gist")


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_bbox")

    op.drop_table("findings")
    op.drop_table("frames")
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.drop_index("ix_change_events_bbox")

    op.drop_table("change_events")
    op.drop_table("flights")
    with op.batch_alter_table("ticket_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_history_ticket_id"))

    op.drop_table("ticket_history")
    op.drop_table("schedules")
    op.drop_table("missions")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_dedup_key"))
        batch_op.drop_index("ix_tickets_bbox")

    op.drop_table("tickets")
    with op.batch_alter_table("patrol_areas", schema=None) as batch_op:
        batch_op.drop_index("ix_patrol_areas_bbox")

    op.drop_table("patrol_areas")
    op.drop_table("routing_rules")
    op.drop_table("outbox")
    with op.batch_alter_table("no_fly_zones", schema=None) as batch_op:
        batch_op.drop_index("ix_no_fly_zones_bbox")

    op.drop_table("no_fly_zones")
    with op.batch_alter_table("jurisdictions", schema=None) as batch_op:
        batch_op.drop_index("ix_jurisdictions_bbox")

    op.drop_table("jurisdictions")
    op.drop_table("docks")
