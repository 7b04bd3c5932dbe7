"""The material registry: which function paints each kind of world object.

The painter looks a kind up here (``MATERIALS[o.kind](painter, o)``); adding a kind to the world
means adding its function to one of the material modules and an entry below."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.paint.land import (
    paint_bare_soil,
    paint_burn_scar,
    paint_construction_site,
    paint_covered_soil,
    paint_field,
    paint_garbage_dump,
    paint_ploughed_field,
    paint_yard,
)
from sim.paint.roads import paint_road
from sim.paint.structures import (
    paint_building,
    paint_greenhouse,
    paint_red_roof,
    paint_rooftop_addition,
    paint_steel_shed,
)
from sim.paint.vegetation import paint_tree
from sim.paint.veils import paint_haze, paint_open_fire, paint_smoke, paint_steam
from sim.paint.water import paint_muddy_water, paint_pond, paint_pool, paint_river, paint_water_discoloration
from sim.world import WorldObject

if TYPE_CHECKING:
    from sim.paint.painter import Painter

Material = Callable[["Painter", WorldObject], None]

MATERIALS: dict[str, Material] = {
    "yard": paint_yard,
    "field": paint_field,
    "ploughed_field": paint_ploughed_field,
    "covered_soil": paint_covered_soil,
    "bare_soil": paint_bare_soil,
    "burn_scar": paint_burn_scar,
    "garbage_dump": paint_garbage_dump,
    "construction_site": paint_construction_site,
    "river": paint_river,
    "pond": paint_pond,
    "muddy_water": paint_muddy_water,
    "pool": paint_pool,
    "water_discoloration": paint_water_discoloration,
    "road": paint_road,
    "building": paint_building,
    "red_roof": paint_red_roof,
    "greenhouse": paint_greenhouse,
    "steel_shed": paint_steel_shed,
    "rooftop_addition": paint_rooftop_addition,
    "tree": paint_tree,
    "smoke": paint_smoke,
    "steam": paint_steam,
    "haze": paint_haze,
    "open_fire": paint_open_fire,
}
