"""The vehicle's own geofence (ArduPilot FENCE_* parameters) checked against a plan before flight.

``MAV_CMD_DO_FENCE_ENABLE`` with p2 = 0 switches on every type in FENCE_TYPE, including a circle
around home (150 m in SITL's defaults, 300 m firmware default) that a survey can easily leave. So the
executor reads the fence parameters, names the type mask it enables (its polygon and, when the plan
fits under it, the maximum altitude), and refuses — or, if the operator allows, adapts — when the
plan would leave a fence the vehicle keeps on by itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntFlag, StrEnum


class FenceType(IntFlag):
    """ArduPilot's FENCE_TYPE bits (also the p2 mask of MAV_CMD_DO_FENCE_ENABLE)."""

    NONE = 0
    ALT_MAX = 1
    CIRCLE = 2
    POLYGON = 4
    ALT_MIN = 8


#: The parameters read before every flight.
FENCE_PARAMS = ("FENCE_ENABLE", "FENCE_TYPE", "FENCE_RADIUS", "FENCE_ALT_MAX", "FENCE_MARGIN")


class FencePolicy(StrEnum):
    """What to do when the plan would leave a fence the vehicle enforces by itself."""

    REFUSE = "refuse"
    #: Switch the vehicle's circle off when the plan brings its own polygon, else raise FENCE_RADIUS;
    #: raise FENCE_ALT_MAX to the plan's altitude (never above the ceiling the plan was validated for).
    ADAPT = "adapt"


@dataclass(frozen=True)
class VehicleFence:
    """The vehicle's fence parameters; None where the vehicle did not answer (a PX4, or an old firmware)."""

    enabled: bool
    types: FenceType
    radius_m: float | None
    alt_max_m: float | None
    margin_m: float

    @classmethod
    def from_params(cls, values: dict[str, float | None]) -> VehicleFence:
        types = values.get("FENCE_TYPE")
        return cls(enabled=(values.get("FENCE_ENABLE") or 0.0) >= 1.0,
                   # no FENCE_TYPE (not ArduPilot): the uploaded polygon is the only fence we know of
                   types=FenceType(int(types) & 0xF) if types is not None else FenceType.POLYGON,
                   radius_m=values.get("FENCE_RADIUS"), alt_max_m=values.get("FENCE_ALT_MAX"),
                   margin_m=values.get("FENCE_MARGIN") or 0.0)


@dataclass(frozen=True)
class FenceDecision:
    """What the executor does with the fence: parameters to set, types to switch off and on (p2 masks)."""

    set_params: tuple[tuple[str, float], ...] = ()
    disable_types: FenceType = FenceType.NONE
    enable_types: FenceType = FenceType.NONE
    refusal: str | None = None
    notes: tuple[str, ...] = ()


def decide_fence(fence: VehicleFence, *, reach_m: float, top_altitude_m: float, has_polygon: bool,
                 policy: FencePolicy, ceiling_m: float, slack_m: float = 10.0) -> FenceDecision:
    """How to fly a plan reaching ``reach_m`` from home and up to ``top_altitude_m`` inside the vehicle's fence.

    With its own polygon the plan's fence is enabled as POLYGON (+ ALT_MAX when the plan fits under it);
    a fence type the vehicle already enforces (FENCE_ENABLE 1) that the plan would leave is refused,
    or adapted under FencePolicy.ADAPT.
    """
    margin = fence.margin_m + slack_m
    active = fence.types if fence.enabled else FenceType.NONE
    wanted = FenceType.POLYGON & fence.types if has_polygon else FenceType.NONE
    alt_fits = fence.alt_max_m is None or top_altitude_m <= fence.alt_max_m - fence.margin_m
    if has_polygon and FenceType.ALT_MAX in fence.types and alt_fits:
        wanted |= FenceType.ALT_MAX
    params: list[tuple[str, float]] = []
    disable = FenceType.NONE
    problems: list[str] = []
    notes: list[str] = []
    circle_short = fence.radius_m is not None and reach_m > fence.radius_m - margin
    if FenceType.CIRCLE in active and circle_short:
        assert fence.radius_m is not None
        what = (f"the plan reaches {reach_m:.0f} m from home but the vehicle's circle fence (FENCE_RADIUS) "
                f"is {fence.radius_m:.0f} m")
        if policy == FencePolicy.REFUSE:
            problems.append(what)
        elif has_polygon:
            disable |= FenceType.CIRCLE
            notes.append(f"{what}: circle switched off, the plan's polygon keeps the vehicle in")
        else:
            radius = float(math.ceil(reach_m + margin))
            params.append(("FENCE_RADIUS", radius))
            notes.append(f"{what}: FENCE_RADIUS raised to {radius:.0f} m")
    if FenceType.ALT_MAX in active and not alt_fits:
        assert fence.alt_max_m is not None
        what = (f"the plan climbs to {top_altitude_m:g} m but the vehicle's altitude fence (FENCE_ALT_MAX) is "
                f"{fence.alt_max_m:g} m")
        raised = min(ceiling_m, top_altitude_m + fence.margin_m + 5.0)
        if policy == FencePolicy.REFUSE or raised < top_altitude_m + fence.margin_m:
            problems.append(what)
        else:
            params.append(("FENCE_ALT_MAX", raised))
            notes.append(f"{what}: FENCE_ALT_MAX raised to {raised:g} m")
    if problems:
        return FenceDecision(refusal="; ".join(problems) + " (fly with the fence policy 'adapt' to let the "
                             "executor change the vehicle's fence, or re-plan)")
    return FenceDecision(set_params=tuple(params), disable_types=disable, enable_types=wanted, notes=tuple(notes))
