"""The painter's material registry: every kind the world makes has a material, and the scene order knows it."""

from __future__ import annotations

from dockpatrol.taxonomy import CLASS_NAMES
from sim.paint.materials import MATERIALS
from sim.paint.painter import _FLAT_LAYER, _STRUCTURES, _VEILS
from sim.world import BACKGROUND_KINDS, DISTRACTOR_KINDS, World


def test_every_kind_the_world_makes_has_a_material() -> None:
    made = {o.kind for o in World.generate(seed=7, size_m=900.0).objects}
    expected = set(BACKGROUND_KINDS) | set(DISTRACTOR_KINDS) | set(CLASS_NAMES)
    assert made <= expected <= set(MATERIALS)


def test_every_material_has_a_place_in_the_scene_order() -> None:
    placed = set(_FLAT_LAYER) | set(_STRUCTURES) | set(_VEILS) | {"tree", "rooftop_addition", "open_fire"}
    assert set(MATERIALS) == placed
    assert all(fn.__name__ == f"paint_{kind}" for kind, fn in MATERIALS.items())
