"""The CLI's core commands: one clear line and non-zero exit on bad input; plugins load by name."""

from __future__ import annotations

import pytest

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


def test_absent_plugin_is_skipped_and_a_broken_one_is_not(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import PLUGINS, load_plugins

    assert PLUGINS == ("sim.cli",)
    assert load_plugins(("no_such_plugin.cli",)) == []
    (tmp_path / "broken_plugin.py").write_text("import no_such_dependency_of_the_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_of_the_plugin"):
        load_plugins(("broken_plugin",))
