"""Docks, areas and no-fly zones share the create rules: operators only, 409 twice, audited; dock PATCH."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from dockpatrol.identity import Role
from tests.unit.api.routers.shared import AREA, DOCK, ZONE, Headers, audit_of

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
