"""Users, tokens and the audit log are admin (and ops centre) business."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dockpatrol.identity import Role
from tests.unit.api.routers.shared import Headers, audit_of


def test_users_tokens_and_audit_are_admin_business(client: TestClient, admin: dict[str, str],
                                                   headers_for: Headers) -> None:
    body = {"username": "zhao", "password": "long-enough-pw", "roles": ["environmental"]}
    r = client.post("/api/users", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["department"] is None and "password" not in r.text
    assert client.post("/api/users", json=body, headers=admin).status_code == 409
    assert client.post("/api/users", json={**body, "username": "x"}, headers=headers_for(Role.OPERATOR)
                       ).status_code == 403
    r = client.patch("/api/users/zhao", json={"department": "environmental"}, headers=admin)
    assert r.json()["department"] == "environmental"
    actions = [e["action"] for e in audit_of(client, admin, "zhao")]
    assert actions == ["user.update", "user.create"]
    assert client.get("/api/audit", headers=headers_for(Role.OPS_CENTRE)).status_code == 200
    assert client.get("/api/audit", headers=headers_for(Role.ENFORCEMENT)).status_code == 403
