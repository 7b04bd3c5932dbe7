"""Shared fixtures: one small twin world for the georef/ingest/eval tests (generated once per session)."""

from __future__ import annotations

import pytest

from sim.world import World


@pytest.fixture(scope="session")
def twin_world() -> World:
    return World.generate(seed=101, size_m=600.0)


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory: pytest.TempPathFactory):
    """A directory holding ``rand.pt``: an untrained 9-class yolo11n, for plumbing tests."""
    import vision.ultralytics_adapter as adapter

    d = tmp_path_factory.mktemp("models")
    adapter.save_random_model(d / "rand.pt", seed=1)
    return d
