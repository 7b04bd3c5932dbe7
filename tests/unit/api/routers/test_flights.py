"""Flights, frames (signed links, never paths), findings in the map's bbox, live SSE."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


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
    assert [f["id"] for f in inside["items"]] == ["X1"] and outside["items"] == [] and inside["next_offset"] is None
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
