"""Schedules: rules checked by the scheduler's parser, PATCH keeps what is not named, audited."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.api.routers.shared import AREA, audit_of


def test_schedules_validate_rules_and_audit(client: TestClient, operator: dict[str, str],
                                            admin: dict[str, str]) -> None:
    client.post("/api/areas", json=AREA, headers=operator)
    body = {"id": "S1", "area_id": "A1", "rule": "FREQ=DAILY;BYHOUR=9", "starts_at": "2026-01-01T00:00:00Z"}
    r = client.post("/api/schedules", json=body, headers=operator)
    assert r.status_code == 201 and r.json()["next_at"] is not None
    assert client.post("/api/schedules", json=body, headers=operator).status_code == 409
    assert client.post("/api/schedules", json={**body, "id": "S2", "rule": "every day"},
                       headers=operator).status_code == 422
    assert client.post("/api/schedules", json={**body, "id": "S3", "area_id": "NOPE"},
                       headers=operator).status_code == 404
    r = client.patch("/api/schedules/S1", json={"enabled": False}, headers=operator)
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["rule"] == body["rule"]
    assert [e["action"] for e in audit_of(client, admin, "S1")] == ["schedule.update", "schedule.create"]
    assert client.get("/api/schedules", headers=operator).json()["total"] == 1
