"""Changes over HTTP: environmental staff and the operations centre read them (401 without a token, 403 for
other roles), filtered by area, flight, kind and the map's bbox, one with signed before/after crops; the
review queue carries them with both crops, and accepting one is audited and opens a ticket."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from dockpatrol.identity import Role
from dockpatrol.taxonomy import Category
from tests.unit.api.routers.shared import Headers, audit_of


def _square(lon: float, lat: float = 23.031, side_deg: float = 1e-4) -> dict:
    ring = [[lon, lat], [lon + side_deg, lat], [lon + side_deg, lat + side_deg], [lon, lat + side_deg], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _jpeg(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (shade, shade, shade)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def seeded() -> dict[str, str]:
    """Two patrols of A1 and their changes: bare soil (with both crops) and a shed that appeared."""
    from api import context
    from flight.types import Flight, FlightStatus
    from pipeline.compare import queue_for_review
    from storage.repositories import changes
    from storage.repositories import flights as flight_repo
    from vision.change import ChangeEvent, ChangeKind, SurfaceClass

    store = context.object_store()
    store.put("areas/A1/changes/soil-before.jpg", _jpeg(90), content_type="image/jpeg")
    store.put("areas/A1/changes/soil-after.jpg", _jpeg(160), content_type="image/jpeg")
    store.put("flights/F2/evidence/shed.jpg", _jpeg(200), content_type="image/jpeg")
    events = [
        ChangeEvent(kind=ChangeKind.SURFACE_CHANGE, geometry=_square(113.1505), area_m2=110.0, score=0.8,
                    surface_class=SurfaceClass.BARE_SOIL_INCREASE, category=Category.POLLUTION,
                    before_key="areas/A1/changes/soil-before.jpg", after_key="areas/A1/changes/soil-after.jpg"),
        ChangeEvent(kind=ChangeKind.APPEARED, geometry=_square(113.1700, side_deg=3e-5), area_m2=9.0, score=0.7,
                    class_name="steel_shed", category=Category.CONSTRUCTION, after_key="flights/F2/evidence/shed.jpg",
                    detail={"finding_ids": ["FD-9"]}),
    ]
    with context.database().unit_of_work() as s:
        for flight_id in ("F1", "F2"):
            flight_repo.save_flight(session=s, flight=Flight(id=flight_id, status=FlightStatus.LANDED))
        recorded = changes.record(session=s, area_id=None, before_flight_id="F1", after_flight_id="F2", events=events)
        queue_for_review(session=s, changes=recorded, at=datetime.now(UTC))
    return {"soil": recorded[0].id, "shed": recorded[1].id}


def test_reading_changes_needs_a_token_and_a_reviewing_role(client: TestClient, seeded: dict[str, str],
                                                            headers_for: Headers) -> None:
    assert client.get("/api/changes").status_code == 401
    assert client.get(f"/api/changes/{seeded['soil']}").status_code == 401
    for role in (Role.OPERATOR, Role.ENFORCEMENT, Role.FIRE):
        r = client.get("/api/changes", headers=headers_for(role))
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert client.get(f"/api/changes/{seeded['soil']}", headers=headers_for(role)).status_code == 403
    for role in (Role.ENVIRONMENTAL, Role.OPS_CENTRE, Role.ADMIN):
        assert client.get("/api/changes", headers=headers_for(role)).status_code == 200


def test_list_filters_and_orders_by_review_weight(client: TestClient, seeded: dict[str, str],
                                                  headers_for: Headers) -> None:
    env = headers_for(Role.ENVIRONMENTAL)
    page = client.get("/api/changes", headers=env).json()
    assert [c["id"] for c in page["items"]] == [seeded["soil"], seeded["shed"]] and page["total"] == 2
    weights = [c["review_weight"] for c in page["items"]]
    assert weights == sorted(weights, reverse=True)
    soil = page["items"][0]
    assert soil["kind"] == "surface_change" and soil["surface_class"] == "bare_soil_increase"
    assert soil["bbox"] == pytest.approx([113.1505, 23.031, 113.1506, 23.0311])
    appeared = client.get("/api/changes", params={"kind": "appeared"}, headers=env).json()["items"]
    assert [c["class_name"] for c in appeared] == ["steel_shed"]
    assert client.get("/api/changes", params={"kind": "teleported"}, headers=env).status_code == 422
    assert client.get("/api/changes", params={"flight_id": "F1"}, headers=env).json()["total"] == 2
    assert client.get("/api/changes", params={"flight_id": "F9"}, headers=env).json()["total"] == 0
    assert client.get("/api/changes", params={"area_id": "A9"}, headers=env).json()["total"] == 0
    inside = client.get("/api/changes", params={"bbox": "113.16,23.0,113.18,23.04"}, headers=env).json()
    assert [c["id"] for c in inside["items"]] == [seeded["shed"]]
    second = client.get("/api/changes", params={"limit": 1, "offset": 1}, headers=env).json()
    assert [c["id"] for c in second["items"]] == [seeded["shed"]] and second["total"] == 2


def test_one_change_has_signed_before_and_after_crops(client: TestClient, seeded: dict[str, str],
                                                      headers_for: Headers) -> None:
    ops = headers_for(Role.OPS_CENTRE)
    soil = client.get(f"/api/changes/{seeded['soil']}", headers=ops).json()
    assert soil["review_item_id"] == f"RV-{seeded['soil']}"
    assert "?expires=" in soil["before_url"] and "soil-before" in soil["before_url"]
    assert client.get(soil["before_url"]).content == _jpeg(90)
    assert client.get(soil["after_url"]).content == _jpeg(160)
    shed = client.get(f"/api/changes/{seeded['shed']}", headers=ops).json()
    assert shed["before_url"] is None and shed["detail"] == {"finding_ids": ["FD-9"]}
    missing = client.get("/api/changes/CH-nope", headers=ops)
    assert missing.status_code == 404 and "CH-nope" in missing.json()["detail"]


def test_review_queue_carries_changes_and_accepting_one_is_audited(client: TestClient, seeded: dict[str, str],
                                                                   headers_for: Headers,
                                                                   admin: dict[str, str]) -> None:
    env = headers_for(Role.ENVIRONMENTAL)
    queue = client.get("/api/review", headers=env).json()["items"]
    soil = next(i for i in queue if i["id"] == f"RV-{seeded['soil']}")
    assert soil["kind"] == "change" and client.get(soil["before_url"]).content == _jpeg(90)
    assert client.get(soil["after_url"]).content == _jpeg(160)
    r = client.post(f"/api/review/{soil['id']}/accept", json={"note": "fresh spoil heap"}, headers=env)
    assert r.status_code == 200 and r.json()["class_name"] == "bare_soil_increase"
    assert [e["action"] for e in audit_of(client, admin, soil["id"])] == ["review.accept"]
    assert client.get(f"/api/changes/{seeded['soil']}", headers=env).json()["status"] == "accepted"
    assert client.get("/api/changes", params={"status": "pending_review"}, headers=env).json()["total"] == 1
