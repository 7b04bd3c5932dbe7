"""Routing: which department, team, priority and SLA a ticket gets, from a RuleSet, in pure Python.

The ticket's place is the representative point of its geometry; its grid (网格) is the smallest
jurisdiction covering that point, by the one rule of :func:`missions.areas.locate_jurisdiction`
(a point on a shared border goes to the lower id, whatever the load order).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shapely.geometry import shape

from dockpatrol.errors import InvalidInput
from missions.areas import JurisdictionGrid, locate_jurisdiction
from missions.types import Jurisdiction
from tickets.rules import RoutingRule, RuleSet
from tickets.types import Candidate, RoutingDecision


class GridIndex:
    """A district's jurisdictions for routing: the finest cell covering a point (through
    :class:`missions.areas.JurisdictionGrid`), else the smallest enclosing one (a street outside every grid)."""

    def __init__(self, cells: Iterable[Jurisdiction]) -> None:
        self.cells: tuple[Jurisdiction, ...] = tuple(cells)
        parents = {c.parent_id for c in self.cells if c.parent_id}
        self._finest = JurisdictionGrid([c for c in self.cells if c.id not in parents])
        self._enclosing = [c for c in self.cells if c.id in parents]
        self.ids = frozenset(c.id for c in self.cells)

    def locate(self, lon: float, lat: float) -> Jurisdiction | None:
        return self._finest.locate(lon, lat) or locate_jurisdiction(self._enclosing, lon=lon, lat=lat)


def place_of(geometry: dict[str, Any]) -> tuple[float, float]:
    """(lon, lat) that stands for a geometry: its centroid when inside it, else a point on its surface."""
    geom = shape(geometry)
    c = geom.centroid
    if not geom.covers(c):
        c = geom.point_on_surface()
    return float(c.x), float(c.y)


def mismatch(rule: RoutingRule, *, candidate: Candidate, grid_id: str | None, local_time: Any) -> str | None:
    """Why a rule does not apply to the candidate (its first failing condition), or None when it applies."""
    m = rule.match
    if not rule.enabled:
        return "disabled"
    if m.categories and candidate.category not in m.categories:
        return f"category {candidate.category} not in {sorted(m.categories)}"
    if m.classes and candidate.class_name not in m.classes:
        return f"class {candidate.class_name} not in {sorted(m.classes)}"
    if m.grids and grid_id not in m.grids:
        return f"grid {grid_id or '(none)'} not in {sorted(m.grids)}"
    if m.min_score is not None and candidate.score < m.min_score:
        return f"score {candidate.score:.2f} < {m.min_score:g}"
    if m.max_score is not None and candidate.score > m.max_score:
        return f"score {candidate.score:.2f} > {m.max_score:g}"
    if m.hours is not None and not m.hours.contains(local_time):
        return f"{local_time:%H:%M} outside {m.hours}"
    return None


def matches(rule: RoutingRule, *, candidate: Candidate, grid_id: str | None, local_time: Any) -> bool:
    """Whether one rule applies to the candidate at its grid and local time of day."""
    return mismatch(rule, candidate=candidate, grid_id=grid_id, local_time=local_time) is None


def route(candidate: Candidate, rules: RuleSet, grids: GridIndex, *, at: datetime) -> RoutingDecision:
    """The first matching rule's decision, or the rule set's default (triage) queue; never nothing."""
    if at.tzinfo is None:
        raise InvalidInput(f"routing time {at.isoformat()} has no time zone")
    lon, lat = place_of(candidate.geometry)
    grid = grids.locate(lon, lat)
    grid_id = grid.id if grid is not None else None
    local = at.astimezone(rules.zone).time()
    for rule in rules.rules:
        if matches(rule, candidate=candidate, grid_id=grid_id, local_time=local):
            return RoutingDecision(rule_id=rule.id, department=rule.department, team=rule.team,
                                   priority=rule.priority, sla_hours=rule.sla_hours, grid_id=grid_id,
                                   reason=f"rule {rule.id} ({rule.name}) matched {candidate.class_name} "
                                          f"in {grid_id or 'no grid'} at {local:%H:%M} {rules.timezone}")
    d = rules.default
    return RoutingDecision(rule_id=None, department=d.department, team=d.team, priority=d.priority,
                           sla_hours=d.sla_hours, grid_id=grid_id,
                           reason=f"no rule matched {candidate.class_name} in {grid_id or 'no grid'} at "
                                  f"{local:%H:%M} {rules.timezone}; default queue {d.department}")


def route_to_department(candidate: Candidate, rules: RuleSet, grids: GridIndex, *, department: str,
                        at: datetime) -> RoutingDecision:
    """A transfer: the first matching rule of ``department``, else its longest SLA among rules, else default's."""
    rules.department(department)
    only = RuleSet(timezone=rules.timezone, departments=rules.departments,
                   rules=tuple(r for r in rules.rules if r.department == department), default=rules.default,
                   classes=rules.classes)
    decision = route(candidate, only, grids, at=at)
    if decision.rule_id is not None:
        return decision
    own = [r for r in rules.rules if r.department == department and r.enabled]
    sla = max((r.sla_hours for r in own), default=rules.default.sla_hours)
    return RoutingDecision(rule_id=None, department=department, team=None, priority=decision.priority,
                           sla_hours=sla, grid_id=decision.grid_id,
                           reason=f"transferred to {department}; no rule of it matched, SLA {sla:g} h")


def explain(candidate: Candidate, rules: RuleSet, grids: GridIndex, *,
            at: datetime) -> list[tuple[str, str | None]]:
    """Every rule in order with why it does not match (None: it matches): what ``rules check --explain`` prints."""
    lon, lat = place_of(candidate.geometry)
    grid = grids.locate(lon, lat)
    local = at.astimezone(rules.zone).time()
    return [(r.id, mismatch(r, candidate=candidate, grid_id=grid.id if grid else None, local_time=local))
            for r in rules.rules]


def point_candidate(*, lon: float, lat: float, class_name: str, category: str, score: float = 1.0,
                    seen_at: datetime, key: str = "sample") -> Candidate:
    """A candidate at a point (rules check samples, tests)."""
    return Candidate(key=key, class_name=class_name, category=category, score=score,
                     geometry={"type": "Point", "coordinates": [lon, lat]}, seen_at=seen_at)
