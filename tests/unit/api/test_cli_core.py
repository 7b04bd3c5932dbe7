"""The CLI's core commands: one clear line and non-zero exit on bad input; idempotent demo seed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.cli import main


def test_malformed_database_url_exits_nonzero_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKPATROL_DATABASE_URL", "postgres ql://nope")
    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "DOCKPATROL_DATABASE_URL" in err[0]


def test_unreachable_database_is_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKPATROL_DATABASE_URL", "postgresql+psycopg://u:secret@127.0.0.1:9/db?connect_timeout=2")
    assert main(["db", "current"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to database" in err and "secret" not in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fly-to-the-moon"]) != 0
    assert "error:" in capsys.readouterr().err


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
            assert shape(grid.geometry).covers(shape(area.polygon).centroid)
    assert len({a.id for a in build_district().areas}) == 12
