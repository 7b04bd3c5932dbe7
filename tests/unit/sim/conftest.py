"""Small twin worlds shared by the sim tests (module-scoped: generating one takes a moment)."""

from __future__ import annotations

import pytest

from sim.world import World


@pytest.fixture(scope="session")
def small_world() -> World:
    return World.generate(seed=7, size_m=900.0)


@pytest.fixture(scope="session")
def twin_world() -> World:
    """The held-out evaluation world (seed 101), small."""
    return World.generate(seed=101, size_m=600.0)
