"""`dockpatrol demo` without the patrol: the demo district seeds idempotently, through the typed repositories."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.cli import main
from missions.types import Priority


def test_demo_seed_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    from api import context
    from storage.tables import DockRow, JurisdictionRow, PatrolAreaRow, RoutingRuleRow, ScheduleRow

    def counts() -> dict[str, int]:
        with context.database().unit_of_work() as s:
            return {t.__tablename__: s.scalar(select(func.count()).select_from(t))
                    for t in (DockRow, PatrolAreaRow, JurisdictionRow, ScheduleRow, RoutingRuleRow)}

    assert main(["demo", "--no-patrol"]) == 0
    first = counts()
    assert main(["demo", "--no-patrol"]) == 0
    assert counts() == first
    assert first == {"docks": 8, "patrol_areas": 12, "jurisdictions": 17, "schedules": 12, "routing_rules": 6}
    assert "8 docks, 12 patrol areas" in capsys.readouterr().out


def test_demo_areas_fall_in_their_grids() -> None:
    from shapely.geometry import shape

    from api import context
    from api.demo_district import build_district
    from storage.repositories import areas, jurisdictions

    main(["demo", "--no-patrol"])
    with context.database().unit_of_work() as s:
        for area in areas.list_all(session=s):
            grid = jurisdictions.require(session=s, jurisdiction_id=area.jurisdiction_id)
            assert grid.kind == "grid" and shape(grid.polygon).covers(shape(area.polygon).centroid)
    assert len({a.id for a in build_district().areas}) == 12


def test_demo_schedules_reach_the_scheduler_with_their_priority() -> None:
    from api.context import load_fleet

    main(["demo", "--no-patrol"])
    docks, _, schedules = load_fleet()
    assert len(schedules) == 12 and {s.priority for s in schedules} == {Priority.ROUTINE}
    assert all(s.enabled and s.starts_at is not None for s in schedules)
    assert all(d.elevation_amsl_m == 8.0 for d in docks)
