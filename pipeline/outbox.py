"""The outbox worker: leases due deliveries, sends them with httpx (signed webhook or Open311), and
records the outcome — delivered, retry later (exponential back-off with jitter), or dead-letter.

At-least-once: a worker killed mid-delivery leaves its lease to expire and another attempt follows;
receivers deduplicate by the ``Idempotency-Key`` header. Each claim and each outcome is its own
short transaction, so no database lock is held while waiting on the network.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from dockpatrol.errors import InvalidInput, NotFound
from pipeline.runner import job
from storage.db import unit_of_work
from storage.repositories import tickets as repo
from storage.repositories.tickets import OutboxEntry
from tickets.delivery import (
    Subscription,
    SubscriptionKind,
    backoff_s,
    open311_form,
    open311_request_id,
    webhook_request,
)

log = logging.getLogger("dockpatrol.outbox")

#: Statuses worth retrying: the receiver is down, overloaded or slow. Other 4xx will not heal by waiting.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliveryOptions:
    timeout_s: float = 10.0
    lease_s: float = 60.0
    batch: int = 20
    base_s: float = 2.0
    cap_s: float = 900.0


@dataclass(frozen=True)
class PassReport:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.dead


class PermanentFailure(Exception):
    """The receiver refused the message for good (e.g. 400, 404): retrying will not help."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def send(client: httpx.Client, entry: OutboxEntry, sub: Subscription, *, now: datetime) -> dict[str, Any]:
    """POST one entry; returns what to keep of the response. Raises httpx errors or PermanentFailure."""
    if sub.kind is SubscriptionKind.OPEN311:
        try:
            form = open311_form(entry.payload["ticket"], subscription=sub)
        except InvalidInput as exc:
            raise PermanentFailure(str(exc)) from None
        url = sub.url.rstrip("/") + "/requests.json"
        response = client.post(url, data=form, headers={"Idempotency-Key": entry.idempotency_key})
    else:
        body, headers = webhook_request(entry.payload, secret=sub.secret, idempotency_key=entry.idempotency_key,
                                        now=now)
        response = client.post(sub.url, content=body, headers=headers)
    if response.status_code in RETRYABLE_STATUS:
        response.raise_for_status()
    if not response.is_success:
        raise PermanentFailure(f"HTTP {response.status_code}: {response.text[:300]}")
    if sub.kind is SubscriptionKind.OPEN311:
        try:
            return {"status": response.status_code, "service_request_id": open311_request_id(response.json())}
        except (ValueError, InvalidInput) as exc:
            raise PermanentFailure(f"Open311 answer unusable: {exc}") from None
    return {"status": response.status_code}


def deliver_once(*, sessions: sessionmaker[Session], client: httpx.Client, now: Callable[[], datetime] = _utcnow,
                 options: DeliveryOptions | None = None, worker: str | None = None,
                 rng: random.Random | None = None) -> PassReport:
    """One pass over the due deliveries: claim, send, record. Returns what happened."""
    opts = options or DeliveryOptions()
    who = worker or worker_name()
    start = now()
    with unit_of_work(sessions) as session:
        entries = repo.claim_due(session=session, now=start, worker=who,
                                 lease_until=start + timedelta(seconds=opts.lease_s), limit=opts.batch)
        subs = {s.id: s for s in repo.subscriptions(session=session)}
    delivered = retrying = dead = 0
    for entry in entries:
        sub = subs.get(entry.subscription_id or "")
        error: str | None = None
        permanent = False
        response: dict[str, Any] = {}
        if sub is None:
            error, permanent = f"subscription {entry.subscription_id!r} no longer exists", True
        else:
            try:
                response = send(client, entry, sub, now=now())
            except PermanentFailure as exc:
                error, permanent = str(exc), True
            except httpx.HTTPStatusError as exc:
                error = f"HTTP {exc.response.status_code} from {entry.destination}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__} from {entry.destination}: {exc}"
        with unit_of_work(sessions) as session:
            at = now()
            if error is None:
                repo.mark_delivered(session=session, outbox_id=entry.id, at=at, response=response)
                if response.get("service_request_id") and entry.ticket_id:
                    try:
                        repo.set_external_ref(session=session, ticket_id=entry.ticket_id,
                                              external_ref=response["service_request_id"])
                    except NotFound:
                        log.warning("ticket %s of outbox entry %s is gone", entry.ticket_id, entry.id)
                delivered += 1
                continue
            attempt = entry.attempts + 1
            max_attempts = sub.max_attempts if sub is not None else 1
            is_dead = permanent or attempt >= max_attempts
            retry_at = at + timedelta(seconds=backoff_s(attempt, base_s=opts.base_s, cap_s=opts.cap_s, rng=rng))
            repo.mark_failed(session=session, outbox_id=entry.id, error=error, retry_at=retry_at, dead=is_dead)
            log.warning("delivery %s (%s) attempt %d failed: %s%s", entry.id, entry.topic, attempt, error,
                        " — dead-lettered" if is_dead else f" — retry at {retry_at:%H:%M:%S}")
            if is_dead:
                dead += 1
            else:
                retrying += 1
    return PassReport(delivered=delivered, retrying=retrying, dead=dead)


def follow(*, sessions: sessionmaker[Session], client: httpx.Client, stop: threading.Event, poll_s: float = 2.0,
           options: DeliveryOptions | None = None, on_pass: Callable[[PassReport], None] | None = None) -> None:
    """Deliver until ``stop`` is set, waiting ``poll_s`` between passes that found nothing to do."""
    worker = worker_name()
    while not stop.is_set():
        report = deliver_once(sessions=sessions, client=client, options=options, worker=worker)
        if on_pass is not None and report.attempted:
            on_pass(report)
        if not report.attempted:
            stop.wait(poll_s)


@job("outbox.deliver")
def deliver_job() -> dict[str, int]:
    """One delivery pass as a pipeline job (schedule it every few seconds, or run ``outbox deliver --follow``)."""
    from storage.platform import database

    with make_client() as client:
        report = deliver_once(sessions=database().sessions, client=client)
    return {"delivered": report.delivered, "retrying": report.retrying, "dead": report.dead}


def make_client(options: DeliveryOptions | None = None) -> httpx.Client:
    opts = options or DeliveryOptions()
    return httpx.Client(timeout=httpx.Timeout(opts.timeout_s), follow_redirects=False,
                        headers={"User-Agent": "dockpatrol-outbox/1"})
