"""Routing policy as data: departments, per-class thresholds and dedup radii, and ordered routing rules.

A rule set is read from YAML (``tickets/rulesets/default.yaml`` for the demo district), validated
strictly (unknown field, department, team, class or grid → one message naming it), stored in the
database and evaluated in pure Python by ``tickets.routing.route``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import CATEGORY_OF, Category

DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "rulesets" / "default.yaml"

#: Below this score an object goes to the review queue unless its class says otherwise.
DEFAULT_AUTO_TICKET_MIN_SCORE = 0.5
#: Sightings of one class closer than this to a live ticket are the same violation.
DEFAULT_DEDUP_RADIUS_M = 10.0


@dataclass(frozen=True)
class Department:
    """A body that receives tickets; overdue tickets escalate to its ``supervisor_role``."""

    id: str
    name: str
    supervisor_role: str
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClassPolicy:
    """Per-class ticketing knobs: the auto-ticket score and how far apart two sightings are one object."""

    class_name: str
    auto_ticket_min_score: float = DEFAULT_AUTO_TICKET_MIN_SCORE
    dedup_radius_m: float = DEFAULT_DEDUP_RADIUS_M


@dataclass(frozen=True)
class HoursWindow:
    """A local time-of-day window [start, end); ``end`` before ``start`` wraps past midnight."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class RuleMatch:
    """What a rule matches; an empty field matches anything."""

    categories: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    grids: frozenset[str] = frozenset()
    min_score: float | None = None
    max_score: float | None = None
    hours: HoursWindow | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.categories:
            out["category"] = sorted(self.categories)
        if self.classes:
            out["class_name"] = sorted(self.classes)
        if self.grids:
            out["grid"] = sorted(self.grids)
        if self.min_score is not None:
            out["min_score"] = self.min_score
        if self.max_score is not None:
            out["max_score"] = self.max_score
        if self.hours is not None:
            out["hours"] = str(self.hours)
        return out


@dataclass(frozen=True)
class RoutingRule:
    """Match → department, team, ticket priority (1 most urgent) and SLA hours. First match wins."""

    id: str
    name: str
    match: RuleMatch
    department: str
    sla_hours: float
    priority: int = 50
    team: str | None = None
    enabled: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "match": self.match.to_dict(),
                               "department": self.department, "priority": self.priority,
                               "sla_hours": self.sla_hours}
        if self.team is not None:
            out["team"] = self.team
        if not self.enabled:
            out["enabled"] = False
        return out


@dataclass(frozen=True)
class DefaultRoute:
    """Where a ticket goes when no rule matches: the triage queue, never nowhere."""

    department: str
    sla_hours: float
    priority: int = 50
    team: str | None = None


@dataclass(frozen=True)
class RuleSet:
    """A district's whole routing policy, in evaluation order."""

    timezone: str
    departments: tuple[Department, ...]
    rules: tuple[RoutingRule, ...]
    default: DefaultRoute
    classes: Mapping[str, ClassPolicy] = field(default_factory=dict)

    def department(self, department_id: str) -> Department:
        for d in self.departments:
            if d.id == department_id:
                return d
        raise InvalidInput(f"unknown department {department_id!r}; declared: "
                           f"{', '.join(d.id for d in self.departments)}")

    def policy(self, class_name: str) -> ClassPolicy:
        return self.classes.get(class_name) or ClassPolicy(class_name)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_document(self) -> dict[str, Any]:
        """The YAML/JSON document this rule set was (or could have been) read from."""
        default: dict[str, Any] = {"department": self.default.department, "sla_hours": self.default.sla_hours,
                                   "priority": self.default.priority}
        if self.default.team is not None:
            default["team"] = self.default.team
        return {
            "timezone": self.timezone,
            "departments": [{"id": d.id, "name": d.name, "supervisor_role": d.supervisor_role,
                             "teams": list(d.teams)} for d in self.departments],
            "default": default,
            "classes": {c: {"auto_ticket_min_score": p.auto_ticket_min_score, "dedup_radius_m": p.dedup_radius_m}
                        for c, p in sorted(self.classes.items())},
            "rules": [r.to_dict() for r in self.rules],
        }


_TOP_FIELDS = ("timezone", "departments", "default", "classes", "rules")
_DEPT_FIELDS = ("id", "name", "supervisor_role", "teams")
_DEFAULT_FIELDS = ("department", "team", "priority", "sla_hours")
_CLASS_FIELDS = ("auto_ticket_min_score", "dedup_radius_m")
_RULE_FIELDS = ("id", "name", "match", "department", "team", "priority", "sla_hours", "enabled")
_MATCH_FIELDS = ("category", "class_name", "grid", "min_score", "max_score", "hours")
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _fields(raw: Any, allowed: tuple[str, ...], where: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: expected a mapping, got {type(raw).__name__}")
    for key in raw:
        if key not in allowed:
            raise InvalidInput(f"{where}: unknown field {key!r}; allowed: {', '.join(allowed)}")
    for key in required:
        if key not in raw:
            raise InvalidInput(f"{where}: missing field {key!r}")
    return raw


def _number(value: Any, where: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}: {value!r} is not a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInput(f"{where}: {value!r} is outside [{low}, {high}]")
    return float(value)


def _priority(value: Any, where: str) -> int:
    number = _number(value, where, low=1, high=100)
    if number != int(number):
        raise InvalidInput(f"{where}: priority {value!r} must be a whole number from 1 (most urgent) to 100")
    return int(number)


def _names(value: Any, where: str) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise InvalidInput(f"{where}: expected a name or a list of names, got {value!r}")
    return frozenset(items)


def parse_hours(value: Any, where: str) -> HoursWindow:
    m = _HOURS.match(str(value).strip())
    if not m:
        raise InvalidInput(f"{where}: hours {value!r} must read HH:MM-HH:MM (local time)")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise InvalidInput(f"{where}: hours {value!r} is not a time of day")
    end = time(0, 0) if h2 == 24 else time(h2, m2)
    return HoursWindow(time(h1, m1), end)


def _match(raw: Any, where: str, known_grids: Collection[str] | None) -> RuleMatch:
    m = _fields(raw if raw is not None else {}, _MATCH_FIELDS, where)
    categories = _names(m["category"], f"{where}.category") if "category" in m else frozenset()
    for c in categories:
        if c not in {str(x) for x in Category}:
            raise InvalidInput(f"{where}.category: unknown category {c!r}; known: "
                               f"{', '.join(str(x) for x in Category)}")
    classes = _names(m["class_name"], f"{where}.class_name") if "class_name" in m else frozenset()
    for c in classes:
        if c not in CATEGORY_OF:
            raise InvalidInput(f"{where}.class_name: unknown class {c!r}; known: {', '.join(CATEGORY_OF)}")
    grids = _names(m["grid"], f"{where}.grid") if "grid" in m else frozenset()
    if known_grids is not None:
        for g in sorted(grids):
            if g not in known_grids:
                raise InvalidInput(f"{where}.grid: grid {g!r} does not exist")
    lo = _number(m["min_score"], f"{where}.min_score", low=0, high=1) if "min_score" in m else None
    hi = _number(m["max_score"], f"{where}.max_score", low=0, high=1) if "max_score" in m else None
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput(f"{where}: min_score {lo} is above max_score {hi}")
    hours = parse_hours(m["hours"], f"{where}.hours") if "hours" in m else None
    return RuleMatch(categories=categories, classes=classes, grids=grids, min_score=lo, max_score=hi, hours=hours)


def _team(team: Any, department: Department, where: str) -> str | None:
    if team is None:
        return None
    if team not in department.teams:
        raise InvalidInput(f"{where}: unknown team {team!r} of department {department.id!r}; "
                           f"its teams: {', '.join(department.teams) or '(none)'}")
    return str(team)


def parse_rules(doc: Any, *, known_grids: Collection[str] | None = None, source: str = "rules") -> RuleSet:
    """A validated RuleSet from a parsed document; ``known_grids`` None skips the grid check."""
    top = _fields(doc, _TOP_FIELDS, source, required=("departments", "default", "rules"))
    tz = str(top.get("timezone", "UTC"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{source}.timezone: unknown time zone {tz!r}") from None
    if not isinstance(top["departments"], list) or not top["departments"]:
        raise InvalidInput(f"{source}.departments: expected a non-empty list")
    departments: dict[str, Department] = {}
    for i, raw in enumerate(top["departments"]):
        where = f"{source}.departments[{i}]"
        d = _fields(raw, _DEPT_FIELDS, where, required=("id", "name"))
        dept_id = str(d["id"])
        if dept_id in departments:
            raise InvalidInput(f"{where}: department {dept_id!r} declared twice")
        teams = tuple(sorted(_names(d.get("teams", []), f"{where}.teams"))) if d.get("teams") else ()
        departments[dept_id] = Department(id=dept_id, name=str(d["name"]),
                                          supervisor_role=str(d.get("supervisor_role", f"{dept_id}.supervisor")),
                                          teams=teams)

    def department(value: Any, where: str) -> Department:
        if value not in departments:
            raise InvalidInput(f"{where}: unknown department {value!r}; declared: {', '.join(departments)}")
        return departments[value]

    raw_default = _fields(top["default"], _DEFAULT_FIELDS, f"{source}.default", required=("department", "sla_hours"))
    default_dept = department(raw_default["department"], f"{source}.default")
    default = DefaultRoute(department=default_dept.id,
                           sla_hours=_number(raw_default["sla_hours"], f"{source}.default.sla_hours", low=0.01),
                           priority=_priority(raw_default.get("priority", 50), f"{source}.default.priority"),
                           team=_team(raw_default.get("team"), default_dept, f"{source}.default"))
    classes: dict[str, ClassPolicy] = {}
    raw_classes = top.get("classes") or {}
    if not isinstance(raw_classes, dict):
        raise InvalidInput(f"{source}.classes: expected a mapping of class name → settings")
    for name, raw in raw_classes.items():
        where = f"{source}.classes.{name}"
        if name not in CATEGORY_OF:
            raise InvalidInput(f"{where}: unknown class {name!r}; known: {', '.join(CATEGORY_OF)}")
        c = _fields(raw, _CLASS_FIELDS, where)
        classes[name] = ClassPolicy(
            class_name=name,
            auto_ticket_min_score=_number(c.get("auto_ticket_min_score", DEFAULT_AUTO_TICKET_MIN_SCORE),
                                          f"{where}.auto_ticket_min_score", low=0, high=1),
            dedup_radius_m=_number(c.get("dedup_radius_m", DEFAULT_DEDUP_RADIUS_M), f"{where}.dedup_radius_m",
                                   low=0, high=500))
    if not isinstance(top["rules"], list):
        raise InvalidInput(f"{source}.rules: expected a list")
    rules: list[RoutingRule] = []
    for i, raw in enumerate(top["rules"]):
        where = f"{source}.rules[{i}]" + (f" ({raw['id']})" if isinstance(raw, dict) and "id" in raw else "")
        r = _fields(raw, _RULE_FIELDS, where, required=("id", "department", "sla_hours"))
        rule_id = str(r["id"])
        if any(x.id == rule_id for x in rules):
            raise InvalidInput(f"{where}: rule id {rule_id!r} used twice")
        dept = department(r["department"], where)
        if not isinstance(r.get("enabled", True), bool):
            raise InvalidInput(f"{where}.enabled: expected true or false")
        rules.append(RoutingRule(id=rule_id, name=str(r.get("name", rule_id)),
                                 match=_match(r.get("match"), f"{where}.match", known_grids),
                                 department=dept.id, team=_team(r.get("team"), dept, where),
                                 priority=_priority(r.get("priority", 50), f"{where}.priority"),
                                 sla_hours=_number(r["sla_hours"], f"{where}.sla_hours", low=0.01),
                                 enabled=bool(r.get("enabled", True))))
    return RuleSet(timezone=tz, departments=tuple(departments.values()), rules=tuple(rules), default=default,
                   classes=classes)


def load_rules_file(path: Path | str, *, known_grids: Collection[str] | None = None) -> RuleSet:
    """Read and validate a YAML rules file; every problem is one InvalidInput line naming the file."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"rules file {str(p)!r} does not exist") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{p.name}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse_rules(doc, known_grids=known_grids, source=p.name)
