"""An imported flight's objects ticketed on PostgreSQL: tickets and review items once, and a second import
of the same spot adds sightings to the open tickets instead of opening new ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.test_import import render_strip


@pytest.fixture(scope="module")
def twin_world():
    world_mod = pytest.importorskip("sim.world")
    return world_mod.World.generate(seed=101, size_m=600.0)


def test_import_tickets_once_and_a_second_flight_adds_sightings(production_env: dict[str, str], twin_world,
                                                                 tmp_path: Path) -> None:
    from pipeline.flight_import import import_flight
    from pipeline.tickets import candidate_key
    from storage.platform import database
    from storage.repositories import tickets as ticket_repo

    first_folder = tmp_path / "flight-a"
    render_strip(twin_world, first_folder)
    first = import_flight(first_folder)
    assert first.tickets is not None and first.objects
    opened, queued = first.tickets.created, first.tickets.review
    assert opened and len(opened) + len(queued) + len(first.tickets.sightings) == len(first.objects)
    keys = {candidate_key(first.flight_id, o.finding_ids) for o in first.objects}
    with database().unit_of_work() as session:
        assert ticket_repo.known_sources(session=session, keys=keys) == keys
        assert all(ticket_repo.require(session=session, ticket_id=t).sightings == 1 for t in opened)

    rerun = import_flight(first_folder)
    assert rerun.tickets is not None and not rerun.did_work
    assert (rerun.tickets.created, rerun.tickets.sightings, rerun.tickets.review) == ((), (), ())
    assert rerun.tickets.already_known == len(first.objects)

    # the same photos as another flight: the open tickets' objects are seen again, not ticketed twice
    second_folder = tmp_path / "flight-b"
    shutil.copytree(first_folder, second_folder)
    second = import_flight(second_folder)
    assert second.tickets is not None and second.flight_id != first.flight_id
    assert second.tickets.created == () and sorted(second.tickets.sightings) == sorted(opened)
    with database().unit_of_work() as session:
        assert all(ticket_repo.require(session=session, ticket_id=t).sightings == 2 for t in opened)
