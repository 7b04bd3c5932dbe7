"""Small twin worlds shared by the sim tests (module-scoped: generating one takes a moment)."""

from __future__ import annotations

import pytest

from sim.world import World


@pytest.fixture(scope="session")
def small_world() -> World:
    return World.generate(seed=7, size_m=900.0)
