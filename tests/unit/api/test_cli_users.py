"""`dockpatrol users add` bootstraps the first admin: password from the environment, audited, 409 twice."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.cli import main


def test_first_admin_can_sign_in(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from api.app import create_app

    monkeypatch.setenv("DOCKPATROL_NEW_PASSWORD", "first-admin-pass")
    assert main(["users", "add", "root", "--role", "admin", "--display-name", "区管理员"]) == 0
    assert "root added" in capsys.readouterr().out
    client = TestClient(create_app())
    r = client.post("/api/auth/token", data={"username": "root", "password": "first-admin-pass"})
    assert r.status_code == 200 and r.json()["roles"] == ["admin"]
    audit = client.get("/api/audit", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert audit["items"][0]["action"] == "user.create" and audit["items"][0]["actor"].startswith("cli:")


@pytest.mark.parametrize("args,message", [
    (["users", "add", "Root!", "--role", "admin"], "username"),
    (["users", "add", "x", "--role", "pilot"], "--role"),
    (["users", "add", "x", "--role", "fire", "--department", "police"], "--department"),
])
def test_bad_input_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                               args: list[str], message: str) -> None:
    monkeypatch.setenv("DOCKPATROL_NEW_PASSWORD", "first-admin-pass")
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_short_password_and_duplicates_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKPATROL_NEW_PASSWORD", "short")
    assert main(["users", "add", "li", "--role", "operator"]) == 1
    assert "at least 10" in capsys.readouterr().err
    monkeypatch.setenv("DOCKPATROL_NEW_PASSWORD", "long-enough-pass")
    assert main(["users", "add", "li", "--role", "operator"]) == 0
    assert main(["users", "add", "li", "--role", "operator"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_demo_accounts_are_seeded_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "seed-demo"]) == 0
    first = capsys.readouterr().out
    assert main(["users", "seed-demo"]) == 0
    assert capsys.readouterr().out == first
    assert len(first.strip().splitlines()) == 6 and "ops_centre" in first
