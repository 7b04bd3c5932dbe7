"""Outbox delivery over real HTTP to a receiver on 127.0.0.1 that fails, times out, comes back, and
survives a delivery process killed mid-request (SIGKILL); Open311 POST /requests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from pipeline import tickets as svc
from pipeline.outbox import DeliveryOptions, deliver_once
from storage.db import make_engine, session_factory, unit_of_work
from storage.migrate import upgrade
from storage.repositories import tickets as repo
from tickets.delivery import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, Subscription, SubscriptionKind, verify
from tickets.sla import ManualClock
from tickets.types import Action, Actor, Candidate, Role

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECRET = "hook-secret"
OPS = Actor("ops", frozenset({Role.OPERATOR}))


class Receiver:
    """A city system: dedups by idempotency key, checks signatures, and misbehaves on a script."""

    def __init__(self) -> None:
        self.script: list[str] = []  # per request, in order: "503", "hang", "ok" (default ok when empty)
        self.total = 0
        self.processed: set[str] = set()  # keys acted on; a repeated key is acknowledged, not acted on again
        self.duplicates = 0
        self.seen: Counter[str] = Counter()  # key → times received
        self.bad_signatures = 0
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.open311: list[dict[str, list[str]]] = []
        self.order: dict[str, list[str]] = {}  # ticket id → topics in arrival order
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.total += 1
                    step = receiver.script.pop(0) if receiver.script else "ok"
                key = self.headers.get(IDEMPOTENCY_HEADER, "")
                receiver.seen[key] += 1
                if step == "503":
                    return self._answer(503, b"down for maintenance")
                if step == "hang":  # slower than the client's timeout, then it answers nobody
                    threading.Event().wait(1.5)
                    return self._answer(200, b"late")
                if step == "block":  # record, then stall until the test has killed the sender
                    self._process(key, body)
                    receiver.arrived.set()
                    receiver.release.wait(30)
                    return self._answer(200, b"{}")
                if self.path.startswith("/requests"):
                    form = parse_qs(body.decode())
                    receiver.open311.append(form)
                    return self._answer(201, json.dumps([{"service_request_id": f"SR-{len(receiver.open311)}"}])
                                        .encode(), "application/json")
                try:
                    verify(SECRET, body, self.headers.get(SIGNATURE_HEADER), now=datetime.now(UTC),
                           tolerance_s=10**9)
                except Exception:
                    receiver.bad_signatures += 1
                    return self._answer(401, b"bad signature")
                self._process(key, body)
                event = json.loads(body)
                with receiver.lock:
                    seen = receiver.order.setdefault(event["ticket"]["id"], [])
                    if event["topic"] not in seen:
                        seen.append(event["topic"])
                self._answer(200, b"{}")

            def _process(self, key: str, body: bytes) -> None:
                with receiver.lock:
                    if key in receiver.processed:
                        receiver.duplicates += 1
                    else:
                        json.loads(body)  # a real receiver would act on it here
                        receiver.processed.add(key)

            def _answer(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    upgrade(make_engine(url))
    return url


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    return session_factory(make_engine(db_url))


def point(i: int) -> dict[str, Any]:
    lon, lat = 113.136 + i * 0.001, 23.035
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 2e-5, lat], [lon + 2e-5, lat + 2e-5],
                                                [lon, lat + 2e-5], [lon, lat]]]}


def make_tickets(sessions: sessionmaker[Session], subscription: Subscription, n: int) -> int:
    """n tickets (triage queue: no grids) each dispatched once; returns the number of outbox rows."""
    with unit_of_work(sessions) as s:
        repo.save_subscription(session=s, subscription=subscription)
        objs = [Candidate(key=f"o{i}", class_name="steel_shed", category="construction", score=0.9,
                          geometry=point(i), seen_at=T0) for i in range(n)]
        for tid in svc.ticket_objects(session=s, objects=objs, at=T0).created:
            svc.transition(session=s, ref=tid, action=Action.DISPATCH, actor=OPS, at=T0)
        return len(repo.list_outbox(session=s, limit=10_000))


def outbox_status(sessions: sessionmaker[Session]) -> Counter[str]:
    with unit_of_work(sessions) as s:
        return Counter(e.status for e in repo.list_outbox(session=s, limit=10_000))


def test_receiver_fails_times_out_and_comes_back(sessions: sessionmaker[Session], receiver: Receiver) -> None:
    n_events = make_tickets(sessions, Subscription(id="city", kind=SubscriptionKind.WEBHOOK, url=receiver.url + "/hook",
                                                   secret=SECRET, max_attempts=20), 3)
    assert n_events == 3 * 3  # created, status_changed and dispatched per ticket
    receiver.script = ["503", "503", "hang", "503", "hang"]
    clock = ManualClock(T0)
    opts = DeliveryOptions(timeout_s=0.3, lease_s=30, batch=5)
    with httpx.Client(timeout=0.3) as client:
        for _ in range(30):
            deliver_once(sessions=sessions, client=client, now=clock.now, options=opts, worker="w")
            if outbox_status(sessions)["delivered"] == n_events:
                break
            clock.advance(timedelta(hours=1))  # past any back-off
    assert outbox_status(sessions) == Counter({"delivered": n_events})
    with unit_of_work(sessions) as s:
        keys = {e.idempotency_key for e in repo.list_outbox(session=s, limit=100)}
    assert receiver.processed == keys  # every event arrived and was acted on once
    assert receiver.total == n_events + 5 and receiver.bad_signatures == 0  # 5 failed tries, then one each
    for ticket_id, topics in receiver.order.items():  # per ticket, events arrived in the order they happened
        assert topics == ["ticket.created", "ticket.status_changed", "ticket.dispatched"], ticket_id
    with unit_of_work(sessions) as s:
        retried = [e for e in repo.list_outbox(session=s, limit=100) if e.attempts > 1]
    assert len(retried) >= 1 and all("HTTP 503" in e.last_error or "Timeout" in e.last_error for e in retried)


def test_dead_letter_after_max_attempts_then_manual_replay(sessions: sessionmaker[Session],
                                                           receiver: Receiver) -> None:
    n_events = make_tickets(sessions, Subscription(id="city", kind=SubscriptionKind.WEBHOOK, url=receiver.url + "/hook",
                                                   secret=SECRET, max_attempts=3), 1)
    receiver.script = ["503"] * (3 * n_events)
    clock = ManualClock(T0)
    with httpx.Client(timeout=2) as client:
        for _ in range(3 * n_events):  # in order per ticket: each event dies in turn
            deliver_once(sessions=sessions, client=client, now=clock.now, worker="w")
            clock.advance(timedelta(hours=1))
        assert outbox_status(sessions) == Counter({"dead": n_events})
        with unit_of_work(sessions) as s:
            assert {e.attempts for e in repo.list_outbox(session=s)} == {3}
        deliver_once(sessions=sessions, client=client, now=clock.now, worker="w")
        assert outbox_status(sessions) == Counter({"dead": n_events})  # dead stays dead
        with unit_of_work(sessions) as s:
            assert len(repo.replay(session=s, at=clock.now(), dead=True)) == n_events
        for _ in range(n_events):
            deliver_once(sessions=sessions, client=client, now=clock.now, worker="w")
    assert outbox_status(sessions) == Counter({"delivered": n_events})
    assert len(receiver.processed) == n_events


def test_killed_delivery_process_loses_nothing_and_duplicates_nothing(db_url: str, sessions: sessionmaker[Session],
                                                                      receiver: Receiver) -> None:
    n_events = make_tickets(sessions, Subscription(id="city", kind=SubscriptionKind.WEBHOOK, url=receiver.url + "/hook",
                                                   secret=SECRET), 2)
    receiver.script = ["ok", "ok", "block"]  # the third delivery is received, then the sender dies
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "DOCKPATROL_DATABASE_URL": db_url}
    cmd = [sys.executable, "-m", "api.cli", "outbox", "deliver", "--follow", "--poll-s", "0.1", "--lease-s", "1",
           "--timeout-s", "20"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert receiver.arrived.wait(60), "the delivery never reached the receiver"
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    receiver.release.set()
    assert outbox_status(sessions)["delivered"] == 2  # the killed one is still pending, not lost
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while outbox_status(sessions)["delivered"] < n_events and time.monotonic() < deadline:
            receiver.arrived.wait(0.2)  # poll the condition with a bounded deadline
    finally:
        second.send_signal(signal.SIGTERM)  # a service stop: it finishes what it holds and exits cleanly
        try:
            stopped = second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
            stopped = None
    assert stopped == 0
    assert outbox_status(sessions) == Counter({"delivered": n_events})
    assert len(receiver.processed) == n_events and receiver.duplicates == 1
    # at-least-once: exactly the killed delivery arrived twice; the receiver's dedup absorbed it
    assert sum(receiver.seen.values()) == n_events + 1
    assert sorted(receiver.seen.values()).count(2) == 1


def test_open311_post_requests_keeps_the_service_request_id(sessions: sessionmaker[Session],
                                                            receiver: Receiver) -> None:
    sub = Subscription(id="city311", kind=SubscriptionKind.OPEN311, url=receiver.url, api_key="key-1",
                       service_codes={"steel_shed": "ILLEGAL-STRUCTURE"})
    make_tickets(sessions, sub, 2)
    with httpx.Client(timeout=2) as client:
        report = deliver_once(sessions=sessions, client=client, now=lambda: T0, worker="w")
    assert report.delivered == 2  # only ticket.created goes to Open311
    assert sorted(f["service_code"][0] for f in receiver.open311) == ["ILLEGAL-STRUCTURE"] * 2
    assert {f["api_key"][0] for f in receiver.open311} == {"key-1"}
    assert float(receiver.open311[0]["lat"][0]) == pytest.approx(23.035, abs=1e-4)
    with unit_of_work(sessions) as s:
        refs = sorted(t.external_ref or "" for t in repo.list_tickets(session=s))
        assert refs == ["SR-1", "SR-2"]
        assert repo.find(session=s, ref="SR-2").external_ref == "SR-2"
