"""Twin epochs for change detection: the changes are real twin changes, the scoring counts them right."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping

from missions.planner import PlanOptions
from sim import change_eval
from sim.change_eval import (
    TruthChange,
    cut_by_seams,
    evaluate_pair,
    frozen_at,
    score_changes,
    summary,
    with_changes,
)
from sim.world import DEMO_OFFSET, World
from vision.change import ChangeEvent, ChangeKind


@pytest.fixture(scope="module")
def source() -> World:
    return World.generate(seed=4, size_m=600.0)


def test_frozen_world_does_not_change_with_time(source: World) -> None:
    t0 = source.epoch + DEMO_OFFSET
    frozen = frozen_at(source, t0)
    ids_then = {o.id for o in frozen.objects if o.present_at(t0)}
    ids_later = {o.id for o in frozen.objects if o.present_at(t0 + timedelta(days=300))}
    assert ids_then == ids_later == {o.id for o in source.objects if o.present_at(t0)}


def test_changes_happen_between_the_epochs_and_are_the_truth(source: World) -> None:
    t0 = source.epoch + DEMO_OFFSET
    cx, cy = source.center_m
    bounds = (cx - 250, cy - 250, cx + 250, cy + 250)
    frozen = frozen_at(source, t0)
    at = t0 + timedelta(days=3)
    changed, truth = with_changes(frozen, source=source, at=at, bounds_m=bounds, appear=3, vanish=3, grow=2, seed=1)
    kinds = [t.kind for t in truth]
    assert kinds.count("vanished") == 3 and kinds.count("appeared") == 3 and kinds.count("grew") == 2
    before = {o.id for o in changed.objects if o.present_at(t0)}
    after = {o.id for o in changed.objects if o.present_at(at + timedelta(hours=1))}
    for t in truth:
        if t.kind == "vanished":
            assert t.object_id in before and t.object_id not in after
        elif t.kind == "appeared":
            assert t.object_id not in before and t.object_id in after
        else:
            assert f"{t.object_id}-grown" in after and t.object_id not in after
            assert t.region.area > 0 and t.region.geom_type in ("Polygon", "MultiPolygon")


def _event(poly: shapely.Polygon, epsg: int) -> ChangeEvent:
    from dockpatrol.geo import LocalProjection

    return ChangeEvent(kind=ChangeKind.SURFACE_CHANGE, geometry=mapping(LocalProjection(epsg).geometry_to_lonlat(poly)),
                       area_m2=poly.area, score=0.9)


def test_scoring_counts_hits_misses_and_false_alarms() -> None:
    epsg = 32649
    truth = [TruthChange("a", "bare_soil", "appeared", shapely.box(720000, 2547000, 720010, 2547010), 0.0),
             TruthChange("b", "steel_shed", "vanished", shapely.box(720100, 2547000, 720106, 2547004), 4.0),
             TruthChange("c", "garbage_dump", "appeared", shapely.box(720200, 2547000, 720201, 2547001), 0.0)]
    events = [_event(shapely.box(720002, 2547002, 720012, 2547012), epsg),  # covers most of a
              _event(shapely.box(720106, 2547004, 720110, 2547008), epsg),  # in b's shadow zone, misses b
              _event(shapely.box(720400, 2547000, 720405, 2547005), epsg),  # nothing there
              _event(shapely.box(720500, 2547000, 720501, 2547001), epsg)]  # below the scored area
    score = score_changes(events, truth, epsg=epsg)
    assert (score.truth, score.detected) == (2, 1)  # c is under 4 m²
    assert [t.object_id for t in score.missed] == ["b"]
    assert (score.predictions, score.true_predictions) == (3, 2)
    assert score.recall == pytest.approx(0.5) and score.precision == pytest.approx(2 / 3)


def test_a_change_found_under_smoke_counts_and_a_false_alarm_there_does_not() -> None:
    """Smoke drifts between patrols: a prediction over it is not a false alarm, but it still finds what it covers."""
    epsg = 32649
    scar = shapely.box(720000, 2547000, 720010, 2547010)
    truth = [TruthChange("s", "burn_scar", "appeared", scar, 0.0)]
    smoke = [shapely.box(719990, 2546990, 720100, 2547030)]
    events = [_event(shapely.box(720001, 2547001, 720011, 2547011), epsg),  # the scar, under the smoke
              _event(shapely.box(720060, 2547005, 720066, 2547011), epsg)]  # smoke alone
    score = score_changes(events, truth, epsg=epsg, unscored_m=smoke)
    assert (score.truth, score.detected) == (1, 1)
    assert (score.predictions, score.true_predictions) == (1, 1)
    bare = score_changes(events, truth, epsg=epsg)
    assert (bare.predictions, bare.true_predictions) == (2, 1)


def test_a_raised_change_on_a_seam_is_known_to_be_cut_away(source: World) -> None:
    """Two nadir frames side by side: a shed 18 m up midway between them lands on the other frame's side in each."""
    from dockpatrol.camera import CameraModel, GeoPose

    camera = CameraModel().scaled(400)
    altitude = 80.0
    half = 0.35 * camera.footprint_m(altitude)[0]
    cx, cy = source.center_m
    poses = [GeoPose(lon=float(lon), lat=float(lat), altitude_m=altitude)
             for lon, lat in (source.projection.to_lonlat(cx + dx, cy) for dx in (-half, half))]
    on_seam = TruthChange("on-seam", "rooftop_addition", "appeared", shapely.box(cx - 2, cy - 2, cx + 2, cy + 2), 3.0,
                          base_z_m=15.0)
    under_a_frame = TruthChange("under", "rooftop_addition", "appeared",
                                shapely.box(cx - half - 2, cy - 2, cx - half + 2, cy + 2), 3.0, base_z_m=15.0)
    flat = TruthChange("flat", "bare_soil", "appeared", shapely.box(cx - 2, cy - 2, cx + 2, cy + 2), 0.0)
    assert cut_by_seams([on_seam, under_a_frame, flat], world=source, poses=poses, camera=camera) == ("on-seam",)
    # One frame alone shows everything it sees.
    assert cut_by_seams([on_seam], world=source, poses=poses[:1], camera=camera) == ()


@pytest.mark.slow
def test_twin_epochs_end_to_end(tmp_path: Path) -> None:
    """A small area: changes are found, the illumination-only pair stays (almost) quiet."""
    sparse = {"front_overlap": 0.25, "side_overlap": 0.25}  # a third of the planner's frames: a quicker test
    changed = evaluate_pair(seed=4, workdir=tmp_path / "c", size_m=160.0, appear=3, vanish=3, grow=2, **sparse)
    lit = evaluate_pair(seed=4, workdir=tmp_path / "i", size_m=160.0, illumination_only=True, **sparse)
    assert changed.score.truth >= 3
    assert changed.score.recall >= 0.6
    assert changed.score.precision >= 0.5
    assert lit.score.predictions <= 2
    pooled = summary([changed, lit])
    assert pooled["pairs"] == 1 and pooled["illumination_changes"] == [lit.score.predictions]


def _first_pair_asked(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, object]:
    """The arguments ``main(argv)`` gives the first pair it evaluates (stopped there)."""
    asked: list[dict[str, object]] = []

    def record(**kwargs: object) -> change_eval.PairResult:
        asked.append(kwargs)
        raise _Stop

    monkeypatch.setattr(change_eval, "evaluate_pair", record)
    with pytest.raises(_Stop):
        change_eval.main(["--seeds", "3", *argv])
    return asked[0]


@pytest.mark.parametrize(("argv", "flown"), [
    (["--frame-gsd-m", "0.03", "--mosaic-gsd-m", "0.03"], {"frame_gsd_m": 0.03, "mosaic_gsd_m": 0.03}),
    ([], {"frame_gsd_m": 0.08, "mosaic_gsd_m": 0.1,
          "front_overlap": PlanOptions.front_overlap, "side_overlap": PlanOptions.side_overlap}),
    (["--front-overlap", "0.5", "--side-overlap", "0.3"], {"front_overlap": 0.5, "side_overlap": 0.3}),
])
def test_the_evaluation_flies_the_gsd_and_overlaps_it_is_given(monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                                              flown: dict[str, float]) -> None:
    asked = _first_pair_asked(monkeypatch, argv)
    assert {k: asked[k] for k in flown} == flown


@pytest.mark.parametrize("value", ["0", "-0.03", "nan", "three"])
def test_the_evaluation_refuses_a_gsd_that_is_not_a_positive_length(value: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        change_eval.main(["--frame-gsd-m", value])
    assert exc.value.code == 2
    assert "metres" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "-0.1", "nan", "most"])
def test_the_evaluation_refuses_an_overlap_outside_0_to_095(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        change_eval.main(["--side-overlap", value])
    assert exc.value.code == 2
    assert "overlap" in capsys.readouterr().err


def test_survey_poses_lay_out_lines_as_the_planner_does() -> None:
    """Lines a footprint width × (1 − side overlap) apart, centred on the area; shots a footprint height ×
    (1 − front overlap) apart, from the run-on before the area to past it: every point is seen."""
    from dockpatrol.camera import CameraModel
    from sim.world import World

    world = World.generate(seed=2, size_m=600.0)
    camera = CameraModel().scaled(800)
    altitude = camera.altitude_for_gsd_m(0.1)
    fw, fh = camera.footprint_m(altitude)
    cx, cy = world.center_m
    bounds = (cx - 100, cy - 100, cx + 100, cy + 100)
    poses = change_eval.survey_poses(world, bounds_m=bounds, camera=camera, altitude_m=altitude,
                                     front_overlap=0.75, side_overlap=0.5, run_on_m=10.0)
    xy = np.array([world.projection.to_metric(p.lon, p.lat) for p in poses])
    xs, ys = np.unique(np.round(xy[:, 0], 3)), np.unique(np.round(xy[:, 1], 3))
    assert np.allclose(np.diff(xs), 0.5 * fw, atol=0.01) and np.allclose(np.diff(ys), 0.25 * fh, atol=0.01)
    assert xs.mean() == pytest.approx(cx, abs=0.01)
    assert len(xs) == math.ceil(200 / (0.5 * fw)) and ys[0] == pytest.approx(bounds[1] - 10.0, abs=0.01)
    assert ys[-1] >= bounds[3] + 10.0 - 0.25 * fh
    assert len(poses) == len(xs) * len(ys)
    corners = shapely.union_all([shapely.box(x - fw / 2, y - fh / 2, x + fw / 2, y + fh / 2) for x, y in xy])
    assert corners.covers(shapely.box(*bounds))


class _Stop(Exception):
    """Stops the evaluation once the first pair's settings are recorded."""
