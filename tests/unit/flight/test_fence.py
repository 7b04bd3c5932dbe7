"""decide_fence: the plan against the vehicle's own FENCE_* parameters, refused or adapted."""

from __future__ import annotations

import pytest

from flight.fence import FencePolicy, FenceType, VehicleFence, decide_fence

SITL = {"FENCE_ENABLE": 0.0, "FENCE_TYPE": 7.0, "FENCE_RADIUS": 150.0, "FENCE_ALT_MAX": 100.0, "FENCE_MARGIN": 2.0}
ALL_ON = {**SITL, "FENCE_ENABLE": 1.0}


def _decide(params: dict[str, float | None], *, reach_m: float = 272.0, top_m: float = 66.7, polygon: bool = True,
            policy: FencePolicy = FencePolicy.REFUSE) -> object:
    return decide_fence(VehicleFence.from_params(params), reach_m=reach_m, top_altitude_m=top_m, has_polygon=polygon,
                        policy=policy, ceiling_m=120.0)


def test_the_plans_polygon_is_enabled_with_the_altitude_fence_never_the_circle() -> None:
    decision = _decide(SITL)
    assert decision.refusal is None and decision.set_params == ()
    assert decision.enable_types == FenceType.POLYGON | FenceType.ALT_MAX
    assert FenceType.CIRCLE not in decision.enable_types


def test_a_plan_above_fence_alt_max_enables_only_the_polygon() -> None:
    assert _decide({**SITL, "FENCE_ALT_MAX": 60.0}).enable_types == FenceType.POLYGON


@pytest.mark.parametrize(("params", "reach_m", "top_m", "words"), [
    (ALL_ON, 272.0, 66.7, "reaches 272 m from home but the vehicle's circle fence (FENCE_RADIUS) is 150 m"),
    ({**ALL_ON, "FENCE_RADIUS": 300.0}, 295.0, 66.7, "FENCE_RADIUS) is 300 m"),  # inside, but not by the margin
    ({**ALL_ON, "FENCE_ALT_MAX": 50.0}, 100.0, 66.7, "climbs to 66.7 m but the vehicle's altitude fence"),
])
def test_a_plan_leaving_the_fence_the_vehicle_enforces_is_refused_with_the_reason(
        params: dict[str, float], reach_m: float, top_m: float, words: str) -> None:
    decision = _decide(params, reach_m=reach_m, top_m=top_m)
    assert decision.refusal is not None and words in decision.refusal and "adapt" in decision.refusal


def test_adapting_switches_the_circle_off_when_the_plan_brings_a_polygon() -> None:
    decision = _decide(ALL_ON, policy=FencePolicy.ADAPT)
    assert decision.refusal is None and decision.disable_types == FenceType.CIRCLE and decision.set_params == ()
    assert any("circle switched off" in n for n in decision.notes)


def test_adapting_raises_the_radius_and_the_altitude_without_a_polygon_but_never_above_the_ceiling() -> None:
    decision = _decide({**ALL_ON, "FENCE_ALT_MAX": 50.0}, polygon=False, policy=FencePolicy.ADAPT)
    assert dict(decision.set_params) == {"FENCE_RADIUS": 284.0, "FENCE_ALT_MAX": pytest.approx(73.7)}
    too_high = _decide({**ALL_ON, "FENCE_ALT_MAX": 50.0}, top_m=119.0, polygon=False, policy=FencePolicy.ADAPT)
    assert too_high.refusal is not None and "altitude fence" in too_high.refusal


def test_a_vehicle_without_fence_parameters_gets_the_polygon_only() -> None:
    decision = _decide(dict.fromkeys(SITL))
    assert decision.refusal is None and decision.enable_types == FenceType.POLYGON
