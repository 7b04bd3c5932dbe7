"""Ticket refusals keep their meaning over HTTP: not allowed is 403, a lost race or wrong state 409."""

from __future__ import annotations

import pytest

from api.problems import status_for
from dockpatrol.errors import Conflict, Forbidden
from tests.unit.tickets.conftest import ticket
from tickets.lifecycle import InvalidTransition
from tickets.types import Action, TicketStatus


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Forbidden("enf:wang may not accept ticket GC-1"), 403),
        (Conflict("ticket GC-1 was changed by someone else"), 409),
        (InvalidTransition(ticket(TicketStatus.CLOSED), Action.ACCEPT), 409),
    ],
)
def test_ticket_errors_map_to_http_statuses(exc: Exception, status: int) -> None:
    assert status_for(exc) == status  # type: ignore[arg-type]
