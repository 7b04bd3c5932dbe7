"""Shared fixtures: one small twin world for the georef/ingest/eval tests (generated once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def twin_world():
    world_mod = pytest.importorskip("sim.world")
    return world_mod.World.generate(seed=101, size_m=600.0)
