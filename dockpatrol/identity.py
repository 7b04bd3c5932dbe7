"""Who acts on the platform: roles, users, machine tokens and the audit trail they leave."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dockpatrol.taxonomy import Department


class Role(StrEnum):
    """What a person or machine may do; department roles see only their department's tickets."""

    ADMIN = "admin"
    OPERATOR = "operator"  # schedules and flies patrols (调度员)
    ENFORCEMENT = "enforcement"  # 城管执法
    ENVIRONMENTAL = "environmental"  # 生态环境, also reviews change detections
    FIRE = "fire"  # 消防/应急
    OPS_CENTRE = "ops_centre"  # supervises deadlines across departments (智运平台)


#: The department a department role works for; other roles are not tied to one.
DEPARTMENT_OF_ROLE: dict[Role, Department] = {
    Role.ENFORCEMENT: Department.ENFORCEMENT,
    Role.ENVIRONMENTAL: Department.ENVIRONMENTAL,
    Role.FIRE: Department.FIRE_EMERGENCY,
}


@dataclass(frozen=True)
class User:
    """A person who signs in to the console; ``department`` scopes department roles."""

    id: str
    username: str
    display_name: str
    roles: frozenset[Role]
    department: Department | None = None
    active: bool = True
    created_at: datetime | None = None
    last_login_at: datetime | None = None


@dataclass(frozen=True)
class ApiToken:
    """A revocable credential for a machine (a dock, the city ticket system's callbacks)."""

    id: str
    name: str
    roles: frozenset[Role]
    department: Department | None = None
    created_by: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One mutating action: who, when, what, and the resource before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)
