"""The detection taxonomy: 9 classes in 3 categories, each category owned by one department."""

from __future__ import annotations

import math
from enum import StrEnum


class Category(StrEnum):
    """A scenario family; a patrol area's scenarios pick which detectors run."""

    CONSTRUCTION = "construction"
    POLLUTION = "pollution"
    FIRE = "fire"


class Department(StrEnum):
    """Who receives a category's tickets."""

    ENFORCEMENT = "enforcement"
    ENVIRONMENTAL = "environmental"
    FIRE_EMERGENCY = "fire_emergency"


CLASSES_BY_CATEGORY: dict[Category, tuple[str, ...]] = {
    Category.CONSTRUCTION: ("steel_shed", "rooftop_addition", "construction_site"),
    Category.POLLUTION: ("garbage_dump", "bare_soil", "water_discoloration"),
    Category.FIRE: ("smoke", "open_fire", "burn_scar"),
}

#: Canonical class order; class ids in bundled datasets and weights follow it.
CLASS_NAMES: tuple[str, ...] = tuple(c for cs in CLASSES_BY_CATEGORY.values() for c in cs)

CATEGORY_OF: dict[str, Category] = {c: cat for cat, cs in CLASSES_BY_CATEGORY.items() for c in cs}

#: Height above the surrounding ground (m) at which a class's boxes are placed when a frame is taken to the ground.
#: A box outlines what the camera sees of an object: its top and, off nadir, the walls below it. On flat-ground
#: georeferencing a raised top is pushed away from the nadir by parallax (a rooftop addition 15 m up, 30 m off
#: nadir at 60 m AGL lands 7.5 m out), so raised classes are placed at a prior: a rooftop addition at the roof of
#: a typical three- to four-storey building plus half the addition, a steel shed at half its walls. Classes not
#: listed lie on the ground.
HEIGHT_PRIOR_M: dict[str, float] = {"rooftop_addition": 12.0, "steel_shed": 2.0}

#: Classes that are extents on the ground (a site, a spill, a scar, a plume) rather than discrete objects: nothing
#: in an image separates two overlapping detections of one of them, so overlapping detections are one region.
#: Sheds, rooftop additions and fires are objects; two of them side by side stay two.
REGION_CLASSES: frozenset[str] = frozenset({
    "construction_site", "garbage_dump", "bare_soil", "water_discoloration", "smoke", "burn_scar",
})

DEPARTMENT_OF: dict[Category, Department] = {
    Category.CONSTRUCTION: Department.ENFORCEMENT,
    Category.POLLUTION: Department.ENVIRONMENTAL,
    Category.FIRE: Department.FIRE_EMERGENCY,
}

#: How much more a category's unseen hazard weighs: fire spreads in minutes, pollution in days.
CATEGORY_URGENCY: dict[str, float] = {Category.FIRE: 3.0, Category.POLLUTION: 2.0, Category.CONSTRUCTION: 1.5}


def review_weight(*, score: float, area_m2: float | None, category: str | None) -> float:
    """Review-queue order for objects and changes alike: score × log(1 + area m²) × category urgency.

    The log keeps one huge, faint field from burying a small fire; an unknown area counts as 1 m².
    """
    area = 1.0 if area_m2 is None else max(area_m2, 0.0)
    return score * math.log1p(area) * CATEGORY_URGENCY.get(category or "", 1.0)


#: Console labels, Chinese first as the operations centre reads them.
LABELS_ZH: dict[str, str] = {
    "construction": "违建治理",
    "pollution": "环保监测",
    "fire": "森林防火",
    "steel_shed": "彩钢棚",
    "rooftop_addition": "楼顶加建",
    "construction_site": "施工工地",
    "garbage_dump": "垃圾堆放",
    "bare_soil": "裸土未覆盖",
    "water_discoloration": "水体异色",
    "smoke": "烟雾",
    "open_fire": "明火",
    "burn_scar": "火烧迹地",
    "enforcement": "城管执法",
    "environmental": "生态环境",
    "fire_emergency": "消防应急",
}


def category_of(class_name: str) -> Category:
    """Category of a taxonomy class; raises InvalidInput naming the unknown class."""
    from dockpatrol.errors import InvalidInput

    try:
        return CATEGORY_OF[class_name]
    except KeyError:
        raise InvalidInput(
            f"unknown taxonomy class {class_name!r}; known classes: {', '.join(CLASS_NAMES)}"
        ) from None


def parse_category(value: str) -> Category:
    """Category from its name (case-insensitive); raises InvalidInput listing the valid ones."""
    from dockpatrol.errors import InvalidInput

    try:
        return Category(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"unknown scenario {value!r}; choose one of: {', '.join(c.value for c in Category)}"
        ) from None
