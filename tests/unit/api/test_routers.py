"""Every router: reads with a token, writes only for the right role, 409 on duplicates, audit per mutation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dockpatrol.identity import Role

Headers = Callable[[Role], dict[str, str]]

DOCK = {"id": "D1", "name": "桂城 1 号机库", "lon": 113.1500, "lat": 23.0300}
AREA = {"type": "Feature", "id": "A1", "properties": {"name": "工业园 A1", "scenarios": ["construction"]},
        "geometry": {"type": "Polygon", "coordinates": [[[113.150, 23.030], [113.153, 23.030], [113.153, 23.032],
                                                         [113.150, 23.032], [113.150, 23.030]]]}}
ZONE = {"type": "Feature", "id": "NFZ1", "properties": {"name": "医院", "radius_m": 150, "reason": "helipad"},
        "geometry": {"type": "Point", "coordinates": [113.17, 23.05]}}


def audit_of(client: TestClient, admin: dict[str, str], resource_id: str) -> list[dict[str, Any]]:
    return client.get("/api/audit", params={"resource_id": resource_id}, headers=admin).json()["items"]


# (path, body, audit action) of every create the API offers to operators
CREATES = [("/api/docks", DOCK, "dock.create"), ("/api/areas", AREA, "area.create"),
           ("/api/no-fly-zones", ZONE, "no_fly_zone.create")]


@pytest.mark.parametrize("path,body,action", CREATES)
def test_create_is_audited_and_a_duplicate_is_409(client: TestClient, operator: dict[str, str],
                                                  admin: dict[str, str], path: str, body: dict[str, Any],
                                                  action: str) -> None:
    r = client.post(path, json=body, headers=operator)
    assert r.status_code == 201, r.text
    again = client.post(path, json=body, headers=operator)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    entries = audit_of(client, admin, body["id"])
    assert [e["action"] for e in entries] == [action]
    assert entries[0]["actor"] == "u-operator" and entries[0]["before"] is None and entries[0]["after"]


@pytest.mark.parametrize("role", [Role.ENFORCEMENT, Role.ENVIRONMENTAL, Role.FIRE, Role.OPS_CENTRE])
@pytest.mark.parametrize("path,body,action", CREATES)
def test_only_operators_and_admins_change_the_fleet(client: TestClient, headers_for: Headers, role: Role,
                                                    path: str, body: dict[str, Any], action: str) -> None:
    r = client.post(path, json=body, headers=headers_for(role))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert client.get(path, headers=headers_for(role)).status_code == 200  # everyone signed in may look


def test_dock_patch_changes_only_given_fields_and_keeps_status(client: TestClient, operator: dict[str, str],
                                                               admin: dict[str, str]) -> None:
    client.post("/api/docks", json=DOCK, headers=operator)
    r = client.patch("/api/docks/D1", json={"status": "maintenance"}, headers=operator)
    assert r.status_code == 200 and r.json()["status"] == "maintenance"
    camera = r.json()["camera"]
    r = client.patch("/api/docks/D1", json={"name": "renamed"}, headers=operator)
    assert r.json()["status"] == "maintenance" and r.json()["camera"] == camera and r.json()["lon"] == DOCK["lon"]
    assert client.post("/api/docks", json={**DOCK, "name": "overwrite?"}, headers=operator).status_code == 409
    assert client.get("/api/docks/D1", headers=operator).json()["name"] == "renamed"
    update = next(e for e in audit_of(client, admin, "D1") if e["action"] == "dock.update")  # newest first
    assert update["before"]["name"] == DOCK["name"] and update["after"]["name"] == "renamed"
    assert client.patch("/api/docks/NOPE", json={"name": "x"}, headers=operator).status_code == 404
    assert client.patch("/api/docks/D1", json={"colour": "red"}, headers=operator).status_code == 422


def test_vehicle_url_must_be_on_the_admins_allow_list(client: TestClient, operator: dict[str, str],
                                                      admin: dict[str, str]) -> None:
    outside = {**DOCK, "vehicle_url": "tcp:203.0.113.7:5760"}
    r = client.post("/api/docks", json=outside, headers=operator)
    assert r.status_code == 422 and "allow-list" in r.json()["detail"]
    assert client.post("/api/docks", json={**DOCK, "vehicle_url": "tcp:10.20.0.9:5760"},
                       headers=operator).status_code == 201
    assert client.put("/api/settings/vehicle-allow-list", json={"entries": ["sim:"]},
                      headers=operator).status_code == 403
    r = client.put("/api/settings/vehicle-allow-list", json={"entries": ["sim:", "203.0.113.0/24"]}, headers=admin)
    assert r.status_code == 200
    assert client.patch("/api/docks/D1", json={"vehicle_url": "tcp:203.0.113.7:5760"},
                        headers=operator).status_code == 200
    assert client.patch("/api/docks/D1", json={"vehicle_url": "tcp:10.20.0.9:5760"},
                        headers=operator).status_code == 422
    assert [e["action"] for e in audit_of(client, admin, "vehicle_url_allow_list")] == ["setting.update"]


def test_area_validation_is_the_clis(client: TestClient, operator: dict[str, str]) -> None:
    open_ring = {**AREA, "geometry": {"type": "Polygon", "coordinates": [[[113.15, 23.03], [113.153, 23.03],
                                                                          [113.153, 23.032]]]}}
    r = client.post("/api/areas", json=open_ring, headers=operator)
    assert r.status_code == 422
    bowtie = {**AREA, "geometry": {"type": "Polygon", "coordinates": [[[113.15, 23.03], [113.153, 23.032],
                                                                        [113.153, 23.03], [113.15, 23.032],
                                                                        [113.15, 23.03]]]}}
    r = client.post("/api/areas", json=bowtie, headers=operator)
    assert r.status_code == 422 and "self-intersects" in r.json()["detail"]


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


def test_flights_frames_findings_and_tracks(client: TestClient, operator: dict[str, str]) -> None:
    from datetime import UTC, datetime

    from api import context
    from dockpatrol.taxonomy import Category
    from flight.types import Flight, FlightStatus
    from storage.repositories import findings, flights
    from vision.types import Finding, Frame

    store = context.object_store()
    store.put("flights/F1/frames/1.jpg", b"\xff\xd8one")
    store.put("evidence/F1/c1.jpg", b"\xff\xd8crop")
    now = datetime.now(UTC)
    square = {"type": "Polygon", "coordinates": [[[113.1504, 23.0304], [113.1506, 23.0304], [113.1506, 23.0306],
                                                  [113.1504, 23.0306], [113.1504, 23.0304]]]}
    with context.database().unit_of_work() as s:
        flights.save_flight(session=s, flight=Flight(id="F1", status=FlightStatus.LANDED, started_at=now))
        for i, (lon, lat) in enumerate([(113.150, 23.030), (113.151, 23.031)]):
            flights.save_frame(session=s, frame=Frame(id=f"FR{i}", flight_id="F1", captured_at=now, lon=lon, lat=lat,
                                                      object_key="flights/F1/frames/1.jpg", sha256=f"{i:064d}"))
        finding = Finding(geometry=square, class_name="steel_shed", category=Category.CONSTRUCTION, score=0.9,
                          seen_at=now, frame_id="FR0", box_xyxy_px=None, centroid_lon=113.1505,
                          centroid_lat=23.0305, area_m2=400.0, evidence_key="evidence/F1/c1.jpg")
        findings.save_finding(session=s, finding_id="X1", finding=finding, flight_id="F1", area_id=None)
    assert client.get("/api/flights/F1", headers=operator).json()["status"] == "landed"
    track = client.get("/api/flights/F1/track", headers=operator).json()
    assert track["geometry"]["coordinates"] == [[113.150, 23.030], [113.151, 23.031]]
    frames = client.get("/api/flights/F1/frames", headers=operator).json()["items"]
    assert frames[0]["url"].startswith("/api/objects/flights/F1/frames/1.jpg?expires=")
    assert "object_key" not in frames[0]
    assert client.get(frames[0]["url"]).content == b"\xff\xd8one"
    inside = client.get("/api/findings", params={"bbox": "113.14,23.02,113.16,23.04"}, headers=operator).json()
    outside = client.get("/api/findings", params={"bbox": "113.0,22.0,113.1,22.1"}, headers=operator).json()
    assert [f["id"] for f in inside["items"]] == ["X1"] and outside["total"] == 0
    assert client.get(inside["items"][0]["evidence_url"]).content == b"\xff\xd8crop"
    assert client.get("/api/findings", params={"bbox": "nan,1,2,3"}, headers=operator).status_code == 422
    assert client.get("/api/flights/NOPE/track", headers=operator).status_code == 404
    with client.stream("GET", "/api/flights/F1/live", headers=operator) as live:
        assert live.headers["content-type"].startswith("text/event-stream")
        body = "".join(live.iter_text())
    events = [line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event: ")]
    assert events == ["status", "positions", "end"]
    assert '"status":"landed"' in body and "[113.15, 23.03]" in body
    assert client.get("/api/flights/NOPE/live", headers=operator).status_code == 404


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


def test_models_and_stats(client: TestClient, operator: dict[str, str]) -> None:
    models = client.get("/api/models", headers=operator).json()
    assert any(m["classes"] for m in models)
    client.post("/api/docks", json=DOCK, headers=operator)
    assert client.get("/api/stats", headers=operator).json()["docks_by_status"] == {"ready": 1}


def test_openapi_documents_problem_json_and_security(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    create = doc["paths"]["/api/docks"]["post"]
    assert "application/problem+json" in create["responses"]["409"]["content"]
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert create["security"] and doc["components"]["securitySchemes"]
    assert create["requestBody"]["content"]["application/json"]["schema"]


def test_live_stream_follows_a_flight_until_it_lands(client: TestClient, operator: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from api import context
    from api.routers import flights as flights_router
    from flight.types import Flight, FlightStatus
    from storage.repositories import flights
    from vision.types import Frame

    monkeypatch.setattr(flights_router, "LIVE_POLL_S", 0.05)
    with context.database().unit_of_work() as s:
        flights.save_flight(session=s, flight=Flight(id="F2", status=FlightStatus.FLYING))
    seen: list[str] = []
    with client.stream("GET", "/api/flights/F2/live", headers=operator) as live:
        lines = live.iter_lines()
        for line in lines:
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))
            if seen == ["status"]:
                with context.database().unit_of_work() as s:
                    flights.save_frame(session=s, frame=Frame(id="F2-1", flight_id="F2", lon=113.2, lat=23.1,
                                                              captured_at=datetime.now(UTC), object_key="k.jpg",
                                                              sha256="a" * 64))
                    flights.save_flight(session=s, flight=Flight(id="F2", status=FlightStatus.LANDED))
                seen.append("(landed)")
    assert seen[:2] == ["status", "(landed)"] and seen[-1] == "end"
    assert seen.count("status") == 2 and "positions" in seen
