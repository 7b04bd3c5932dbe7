"""Missions: plan with the CLI's planner; launch and abort become the patrol service's requests, audited."""

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
    assert _service_requests() == set()  # planned, not launched: the patrol service leaves it alone
    launched = client.post(f"/api/missions/{mid}/launch", headers=operator)
    assert launched.status_code == 202 and launched.json()["pending"]["command"] == "launch"
    assert launched.json()["watch"] == f"/api/missions/{mid}"
    assert client.get(f"/api/missions/{mid}", headers=operator).json()["pending"]["requested_at"]
    assert _service_requests() == {mid}
    again = client.post(f"/api/missions/{mid}/launch", headers=operator)
    assert again.status_code == 409 and "already requested" in again.json()["detail"]
    aborted = client.post(f"/api/missions/{mid}/abort", headers=operator)
    assert aborted.status_code == 202 and aborted.json()["pending"]["command"] == "abort", aborted.text
    assert _abort_requests() == [mid]
    again = client.post(f"/api/missions/{mid}/abort", headers=operator)
    assert again.status_code == 409 and "already being aborted" in again.json()["detail"]
    actions = [e["action"] for e in audit_of(client, admin, mid)]
    assert actions == ["mission.abort", "mission.launch", "mission.plan"]
    assert client.get("/api/missions", headers=operator).json()["total"] == 1


def _service_requests() -> set[str]:
    """The planned missions the patrol service would take as requests on its next tick."""
    from api import context
    from storage.repositories import flights

    with context.database().unit_of_work() as session:
        return {m.id for m in flights.requested_missions(session=session)}


def _abort_requests() -> list[str]:
    from api import context
    from storage.repositories import flights

    with context.database().unit_of_work() as session:
        return flights.abort_requests(session=session)
