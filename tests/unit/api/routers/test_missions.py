"""Missions: plan with the CLI's planner, launch and abort as recorded requests, audited."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dockpatrol.identity import Role
from tests.unit.api.routers.shared import AREA, DOCK, Headers, audit_of


def test_mission_plan_launch_abort(client: TestClient, operator: dict[str, str], admin: dict[str, str],
                                   headers_for: Headers) -> None:
    client.post("/api/docks", json=DOCK, headers=operator)
    client.post("/api/areas", json=AREA, headers=operator)
    assert client.post("/api/missions", json={"area_id": "A1"}, headers=headers_for(Role.FIRE)).status_code == 403
    r = client.post("/api/missions", json={"area_id": "A1"}, headers=operator)
    assert r.status_code == 201, r.text
    mission = r.json()
    assert mission["status"] == "planned" and mission["dock_id"] == "D1" and mission["pending"] is None
    assert mission["route"]["type"] == "LineString" and len(mission["route"]["coordinates"]) >= 2
    assert mission["summary"]["altitude_m"] > 0
    mid = mission["id"]
    launched = client.post(f"/api/missions/{mid}/launch", headers=operator)
    assert launched.status_code == 202 and launched.json()["pending"]["command"] == "launch"
    assert client.get(f"/api/missions/{mid}", headers=operator).json()["pending"]["requested_by"] == "u-operator"
    again = client.post(f"/api/missions/{mid}/launch", headers=operator)
    assert again.status_code == 409 and "pending launch" in again.json()["detail"]
    aborted = client.post(f"/api/missions/{mid}/abort", headers=operator)
    assert aborted.status_code == 200 and aborted.json()["pending"] is None
    assert client.post(f"/api/missions/{mid}/abort", headers=operator).status_code == 409
    actions = [e["action"] for e in audit_of(client, admin, mid)]
    assert actions == ["mission.abort", "mission.launch", "mission.plan"]
    assert client.get("/api/missions", headers=operator).json()["total"] == 1
