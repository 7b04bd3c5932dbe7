"""Tickets over HTTP: department scoping (403 for another department's ticket), the lifecycle with
version checks, history and evidence, the review queue, rules and subscriptions; every step audited."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from dockpatrol.identity import Role
from dockpatrol.taxonomy import Department
from tests.unit.api.conftest import PASSWORD, add_user
from tests.unit.api.routers.shared import Headers, audit_of

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _square(lon: float, lat: float = 23.035) -> dict:
    ring = [[lon, lat], [lon + 3e-5, lat], [lon + 3e-5, lat + 3e-5], [lon, lat + 3e-5], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def seeded() -> dict[str, str]:
    """The demo district's grids and rules; a shed (enforcement), a smoke (fire) and a faint dump (review)."""
    from api import context
    from api.demo_district import seed
    from pipeline.tickets import ticket_objects
    from storage.repositories import tickets as repo
    from tickets.types import Candidate

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 110, 100)).save(buf, format="JPEG")
    context.object_store().put("evidence/F1/shed.jpg", buf.getvalue(), content_type="image/jpeg")
    with context.database().unit_of_work() as s:
        seed(s)
        ticket_objects(session=s, at=datetime.now(UTC), objects=[
            Candidate(key="F1:shed", class_name="steel_shed", category="construction", score=0.9,
                      geometry=_square(113.137), seen_at=T0, flight_id="F1", evidence_key="evidence/F1/shed.jpg"),
            Candidate(key="F1:smoke", class_name="smoke", category="fire", score=0.9, geometry=_square(113.165),
                      seen_at=T0, flight_id="F1"),
            Candidate(key="F1:dump", class_name="garbage_dump", category="pollution", score=0.2,
                      geometry=_square(113.139), seen_at=T0, flight_id="F1")])
        found = {t.class_name: t for t in repo.all_tickets(session=s)}
    assert found["steel_shed"].department == "enforcement" and found["smoke"].department == "fire_emergency"
    return {"shed": found["steel_shed"].id, "smoke": found["smoke"].id}


def _login(client: TestClient, username: str, role: Role, department: Department | None = None) -> dict[str, str]:
    add_user(username, {role}, department)
    r = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_department_sees_only_its_own_tickets(client: TestClient, seeded: dict[str, str],
                                               headers_for: Headers) -> None:
    enforcement = _login(client, "chen", Role.ENFORCEMENT)
    mine = client.get("/api/tickets", headers=enforcement).json()["items"]
    assert [t["department"] for t in mine] == ["enforcement"]
    assert client.get("/api/tickets", params={"department": "fire_emergency"}, headers=enforcement).status_code == 403
    r = client.get(f"/api/tickets/{seeded['smoke']}", headers=enforcement)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    moved = client.post(f"/api/tickets/{seeded['smoke']}/transitions", json={"action": "dispatch"}, headers=enforcement)
    assert moved.status_code == 403
    everything = client.get("/api/tickets", headers=headers_for(Role.OPS_CENTRE)).json()["items"]
    assert {t["department"] for t in everything} == {"enforcement", "fire_emergency"}
    assert client.get("/api/tickets", headers=headers_for(Role.OPERATOR)).status_code == 403


def test_lifecycle_with_history_evidence_and_audit(client: TestClient, seeded: dict[str, str],
                                                   admin: dict[str, str]) -> None:
    chen = _login(client, "chen", Role.ENFORCEMENT)
    ticket = seeded["shed"]
    detail = client.get(f"/api/tickets/{ticket}", headers=chen).json()
    assert detail["ticket"]["status"] == "dispatched" and "accept" in detail["actions"]  # routed: dispatched
    assert client.get(detail["evidence"]["before_url"]).headers["content-type"] == "image/jpeg"
    version = detail["ticket"]["version"]
    wrong = client.post(f"/api/tickets/{ticket}/transitions", json={"action": "resolve"}, headers=chen)
    assert wrong.status_code == 409 and "cannot resolve from dispatched" in wrong.json()["detail"]
    for action in ("accept", "start", "resolve"):
        r = client.post(f"/api/tickets/{ticket}/transitions", headers=chen,
                        json={"action": action, "note": f"{action} by chen", "expected_version": version})
        assert r.status_code == 200, r.text
        version = r.json()["ticket"]["version"]
    detail = r.json()
    assert detail["ticket"]["status"] == "verifying"  # resolving requests the verification patrol
    stale = client.post(f"/api/tickets/{ticket}/transitions", headers=chen,
                        json={"action": "close", "expected_version": version - 1})
    assert stale.status_code == 409 and "changed meanwhile" in stale.json()["detail"]
    r = client.post(f"/api/tickets/{ticket}/transitions", headers=chen,
                    json={"action": "close", "note": "fixed on site", "expected_version": version})
    assert r.status_code == 200 and r.json()["ticket"]["status"] == "closed" and r.json()["actions"] == []
    steps = [(e["from_status"], e["to_status"]) for e in r.json()["history"]]
    assert steps[-1] == ("verifying", "closed") and ("dispatched", "accepted") in steps
    actions = [e["action"] for e in audit_of(client, admin, ticket)]
    assert actions == ["ticket.close", "ticket.resolve", "ticket.start", "ticket.accept"]


def test_reject_needs_a_reason(client: TestClient, seeded: dict[str, str], headers_for: Headers) -> None:
    ops = headers_for(Role.OPS_CENTRE)
    r = client.post(f"/api/tickets/{seeded['smoke']}/transitions", json={"action": "reject"}, headers=ops)
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = client.post(f"/api/tickets/{seeded['smoke']}/transitions", json={"action": "reject", "note": "chimney"},
                    headers=ops)
    assert r.status_code == 200 and r.json()["ticket"]["status"] == "rejected"


def test_filters_stats_and_overdue(client: TestClient, seeded: dict[str, str], headers_for: Headers) -> None:
    ops = headers_for(Role.OPS_CENTRE)
    by_cat = client.get("/api/tickets", params={"category": "fire"}, headers=ops).json()["items"]
    assert [t["class_name"] for t in by_cat] == ["smoke"]
    inside = client.get("/api/tickets", params={"bbox": "113.13,23.03,113.14,23.04"}, headers=ops).json()["items"]
    assert [t["class_name"] for t in inside] == ["steel_shed"]
    assert client.get("/api/tickets", params={"status": "closed"}, headers=ops).json()["items"] == []
    assert client.get("/api/tickets", params={"status": "bogus"}, headers=ops).status_code == 422
    assert client.get("/api/tickets", params={"overdue": True}, headers=ops).json()["items"] == []
    soon = client.get("/api/tickets", params={"due_within_h": 24 * 30}, headers=ops).json()["items"]
    assert len(soon) == 2
    stats = client.get("/api/tickets/stats", headers=ops).json()["departments"]
    assert {s["key"]: s["open"] for s in stats} == {"enforcement": 1, "fire_emergency": 1}


def test_review_queue_accept_reject_defer(client: TestClient, seeded: dict[str, str], headers_for: Headers,
                                          admin: dict[str, str]) -> None:
    env = _login(client, "zhao", Role.ENVIRONMENTAL)
    assert client.get("/api/review", headers=headers_for(Role.ENFORCEMENT)).status_code == 403
    queue = client.get("/api/review", headers=env).json()
    assert queue["total"] == 1 and queue["items"][0]["class_name"] == "garbage_dump"
    item = queue["items"][0]["id"]
    assert client.post(f"/api/review/{item}/reject", json={"reason": ""}, headers=env).status_code == 422
    deferred = client.post(f"/api/review/{item}/defer", json={"until": "2099-01-01T00:00:00Z"}, headers=env)
    assert deferred.status_code == 200 and deferred.json()["status"] == "deferred"
    assert client.get("/api/review", headers=env).json()["total"] == 0
    assert [e["action"] for e in audit_of(client, admin, item)] == ["review.defer"]


def test_accepting_a_review_item_opens_a_ticket(client: TestClient, seeded: dict[str, str]) -> None:
    env = _login(client, "zhao", Role.ENVIRONMENTAL)
    item = client.get("/api/review", headers=env).json()["items"][0]["id"]
    r = client.post(f"/api/review/{item}/accept", json={"note": "dump confirmed"}, headers=env)
    assert r.status_code == 200 and r.json()["class_name"] == "garbage_dump"
    assert client.post(f"/api/review/{item}/accept", headers=env).status_code in (409, 422)
    rejected_other = client.get("/api/review", headers=env).json()
    assert rejected_other["total"] == 0


def test_rules_and_subscriptions_are_admin_business(client: TestClient, seeded: dict[str, str],
                                                    admin: dict[str, str], headers_for: Headers) -> None:
    rules = client.get("/api/rules", headers=headers_for(Role.OPS_CENTRE))
    assert rules.status_code == 200 and rules.json()["departments"]
    doc = rules.json()
    doc["rules"] = doc["rules"][:-1]
    assert client.put("/api/rules", json=doc, headers=headers_for(Role.OPS_CENTRE)).status_code == 403
    replaced = client.put("/api/rules", json=doc, headers=admin)
    assert replaced.status_code == 200 and len(replaced.json()["rules"]) == len(rules.json()["rules"]) - 1
    bad = client.put("/api/rules", json={**doc, "colour": "red"}, headers=admin)
    assert bad.status_code == 422 and "colour" in bad.json()["detail"]
    assert [e["action"] for e in audit_of(client, admin, "district")] == ["rules.replace"]
    sub = {"id": "city-ops", "url": "https://ops.example.gov/hooks", "secret": "s3cret-key"}
    assert client.put("/api/subscriptions/city-ops", json=sub, headers=headers_for(Role.OPS_CENTRE)).status_code == 403
    r = client.put("/api/subscriptions/city-ops", json=sub, headers=admin)
    assert r.status_code == 200 and "secret" not in r.json()
    assert [s["id"] for s in client.get("/api/subscriptions", headers=admin).json()] == ["city-ops"]
    assert [e["action"] for e in audit_of(client, admin, "city-ops")] == ["subscription.put"]
