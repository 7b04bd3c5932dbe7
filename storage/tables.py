"""SQLAlchemy 2 tables for every aggregate. Domain types live in the domain packages; repositories map."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from storage.geometry import GeoJSONGeometry, bbox_of

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so normalise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; dockpatrol stores UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class GeoMixin:
    """A GeoJSON geometry plus its bbox, kept in step by :meth:`set_geometry`."""

    geometry: Mapped[dict[str, Any]] = mapped_column(GeoJSONGeometry())
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)

    def set_geometry(self, geometry: dict[str, Any]) -> None:
        self.geometry = geometry
        self.min_lon, self.min_lat, self.max_lon, self.max_lat = bbox_of(geometry)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DockRow(Timestamps, Base):
    __tablename__ = "docks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float]
    lat: Mapped[float]
    elevation_amsl_m: Mapped[float | None] = mapped_column(nullable=True)
    vehicle_url: Mapped[str] = mapped_column(String(300), default="sim:")
    max_range_m: Mapped[float]
    endurance_s: Mapped[float]
    charge_s: Mapped[float]
    cruise_speed_m_s: Mapped[float] = mapped_column(default=10.0)
    status: Mapped[str] = mapped_column(String(32), default="ready")
    camera: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: why the dock is in its status (the patrol service's last word on it), and its last heartbeat
    status_reason: Mapped[str] = mapped_column(Text, default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)


class JurisdictionRow(GeoMixin, Timestamps, Base):
    """A grid or community: the unit tickets are routed by (网格)."""

    __tablename__ = "jurisdictions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="grid")
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PatrolAreaRow(GeoMixin, Timestamps, Base):
    __tablename__ = "patrol_areas"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scenarios: Mapped[list[Any]] = mapped_column(JSON, default=list)
    gsd_cm: Mapped[float] = mapped_column(default=2.5)
    cadence: Mapped[str | None] = mapped_column(String(200), nullable=True)
    jurisdiction_id: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.id"), nullable=True)


class NoFlyZoneRow(GeoMixin, Timestamps, Base):
    __tablename__ = "no_fly_zones"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(300), default="")


class ScheduleRow(Timestamps, Base):
    """A recurring patrol of one area: an RFC 5545 RRULE or a cron expression."""

    __tablename__ = "schedules"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    area_id: Mapped[str] = mapped_column(ForeignKey("patrol_areas.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[datetime]
    priority: Mapped[int] = mapped_column(default=2)  # missions.types.Priority; 2 = routine
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingRuleRow(Timestamps, Base):
    """Routing as data: the first enabled match, in ascending ``priority`` (evaluation order), decides
    department, team, the ticket's own priority and the deadline."""

    __tablename__ = "routing_rules"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(default=100)
    match: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    department: Mapped[str] = mapped_column(String(64))
    sla_hours: Mapped[float] = mapped_column(default=72.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ticket_priority: Mapped[int] = mapped_column(default=50)


class DepartmentRow(Timestamps, Base):
    """A body that receives tickets; overdue ones escalate to its supervisor role."""

    __tablename__ = "departments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    supervisor_role: Mapped[str] = mapped_column(String(100))
    teams: Mapped[list[Any]] = mapped_column(JSON, default=list)


class RoutingPolicyRow(Timestamps, Base):
    """The rule set's settings beside its rules: time zone, default (triage) route, per-class knobs."""

    __tablename__ = "routing_policies"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    default_route: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    classes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(500), default="")


class MissionRow(Timestamps, Base):
    __tablename__ = "missions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="patrol")
    status: Mapped[str] = mapped_column(String(32), default="planned")
    area_id: Mapped[str | None] = mapped_column(ForeignKey("patrol_areas.id"), nullable=True)
    dock_id: Mapped[str | None] = mapped_column(ForeignKey("docks.id"), nullable=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(nullable=True)
    priority: Mapped[int] = mapped_column(default=2)  # missions.types.Priority; 2 = routine
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: an operator asked the patrol service to abort this mission (the vehicle returns to its dock)
    abort_requested_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FlightRow(Timestamps, Base):
    __tablename__ = "flights"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mission_id: Mapped[str | None] = mapped_column(ForeignKey("missions.id"), nullable=True)
    dock_id: Mapped[str | None] = mapped_column(ForeignKey("docks.id"), nullable=True)
    vehicle_url: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(32), default="pending")
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    result: Mapped[str] = mapped_column(String(64), default="")
    log_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FrameRow(Timestamps, Base):
    """A captured image: stored raw in the object store before anything analyses it."""

    __tablename__ = "frames"
    __table_args__ = (UniqueConstraint("flight_id", "sha256"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flight_id: Mapped[str | None] = mapped_column(ForeignKey("flights.id"), nullable=True)
    captured_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lon: Mapped[float | None] = mapped_column(nullable=True)
    lat: Mapped[float | None] = mapped_column(nullable=True)
    altitude_m: Mapped[float | None] = mapped_column(nullable=True)
    yaw_deg: Mapped[float | None] = mapped_column(nullable=True)
    pitch_deg: Mapped[float | None] = mapped_column(nullable=True)
    roll_deg: Mapped[float | None] = mapped_column(nullable=True)
    camera: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    object_key: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    width_px: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height_px: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="stored")
    error: Mapped[str] = mapped_column(Text, default="")


class FindingRow(GeoMixin, Timestamps, Base):
    __tablename__ = "findings"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    frame_id: Mapped[str | None] = mapped_column(ForeignKey("frames.id"), nullable=True)
    flight_id: Mapped[str | None] = mapped_column(ForeignKey("flights.id"), nullable=True)
    area_id: Mapped[str | None] = mapped_column(ForeignKey("patrol_areas.id"), nullable=True)
    class_name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    score: Mapped[float]
    evidence_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    seen_at: Mapped[datetime]
    box_xyxy_px: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    area_m2: Mapped[float | None] = mapped_column(nullable=True)
    model: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(32), default="new")
    ticket_id: Mapped[str | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)


class ChangeEventRow(GeoMixin, Timestamps, Base):
    __tablename__ = "change_events"
    __table_args__ = (Index("ix_change_events_flights", "before_flight_id", "after_flight_id"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    area_id: Mapped[str | None] = mapped_column(ForeignKey("patrol_areas.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    before_flight_id: Mapped[str | None] = mapped_column(ForeignKey("flights.id"), nullable=True)
    after_flight_id: Mapped[str | None] = mapped_column(ForeignKey("flights.id"), nullable=True)
    before_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    after_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    score: Mapped[float] = mapped_column(default=0.0)
    status: Mapped[str] = mapped_column(String(32), default="pending_review")
    area_m2: Mapped[float | None] = mapped_column(nullable=True)
    surface_class: Mapped[str | None] = mapped_column(String(32), nullable=True)
    class_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    review_weight: Mapped[float] = mapped_column(default=0.0, server_default="0")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class TicketRow(GeoMixin, Timestamps, Base):
    """A work order (工单): routed to a department with a deadline; every change leaves history."""

    __tablename__ = "tickets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    class_name: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(64))
    jurisdiction_id: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="new")
    priority: Mapped[int] = mapped_column(default=50)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    routing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedup_key: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reinspection_mission_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(default=1)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[float] = mapped_column(default=0.0)
    rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    linked_ticket_id: Mapped[str | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    evidence_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reopen_count: Mapped[int] = mapped_column(default=0)
    sightings: Mapped[int] = mapped_column(default=1)
    last_seen_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TicketHistoryRow(Base):
    """The audit trail (全流程留痕): append-only."""

    __tablename__ = "ticket_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)


class SightingRow(Base):
    """One patrol's view of a ticket's object (the first one included): the evidence a ticket accrues."""

    __tablename__ = "sightings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    seen_at: Mapped[datetime]
    score: Mapped[float]
    geometry: Mapped[dict[str, Any]] = mapped_column(GeoJSONGeometry())
    flight_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    frame_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    frames: Mapped[int] = mapped_column(default=1)
    finding_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ReviewItemRow(GeoMixin, Timestamps, Base):
    """An object (or change) waiting for a person: accept → ticket, reject with reason, or defer."""

    __tablename__ = "review_items"
    id: Mapped[str] = mapped_column(String(220), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    candidate_key: Mapped[str] = mapped_column(String(200), unique=True)
    class_name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    score: Mapped[float]
    seen_at: Mapped[datetime]
    flight_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    frame_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    area_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    frames: Mapped[int] = mapped_column(default=1)
    finding_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    area_m2: Mapped[float | None] = mapped_column(nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    deferred_until: Mapped[datetime | None] = mapped_column(nullable=True)
    ticket_id: Mapped[str | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)


class SubscriptionRow(Timestamps, Base):
    """An outbound target of ticket events: a signed webhook or an Open311 GeoReport v2 endpoint."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200), default="")
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    departments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_attempts: Mapped[int] = mapped_column(default=8)
    api_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    service_codes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxRow(Base):
    """An outbound delivery written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    topic: Mapped[str] = mapped_column(String(100))
    destination: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: pending → delivered, or dead after the subscription's max attempts (replay puts it back)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    subscription_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ticket_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    #: a worker's claim; a worker killed mid-delivery leaves it to expire, then another retries
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class JobRow(Timestamps, Base):
    """A persisted pipeline job: one row per step and input (its idempotency key), whatever runs it."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)  # the idempotency key
    name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flight_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(32), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


GEO_TABLES = ("jurisdictions", "patrol_areas", "no_fly_zones", "findings", "change_events", "tickets", "review_items")
BBOX_INDEXES = [Index(f"ix_{t}_bbox", Base.metadata.tables[t].c.min_lon, Base.metadata.tables[t].c.max_lon,
                      Base.metadata.tables[t].c.min_lat, Base.metadata.tables[t].c.max_lat) for t in GEO_TABLES]
#: The ticket list's filters (department, status, bbox) in one index.
TICKET_LIST_INDEX = Index("ix_tickets_department_status_bbox", TicketRow.department, TicketRow.status,
                          TicketRow.min_lon, TicketRow.max_lon, TicketRow.min_lat, TicketRow.max_lat)
