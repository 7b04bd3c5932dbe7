"""The twin's world: deterministic, georeferenced, with all nine classes and states over time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import shape

from dockpatrol.errors import InvalidInput, NotFound
from dockpatrol.taxonomy import CLASS_NAMES
from sim.world import BACKGROUND_KINDS, DEMO_OFFSET, DISTRACTOR_KINDS, World


def test_same_seed_same_geojson_bytes() -> None:
    a = json.dumps(World.generate(seed=3, size_m=500.0).to_geojson()).encode()
    b = json.dumps(World.generate(seed=3, size_m=500.0).to_geojson()).encode()
    c = json.dumps(World.generate(seed=4, size_m=500.0).to_geojson()).encode()
    assert a == b
    assert a != c


def test_default_world_is_in_utm_49n(small_world: World) -> None:
    assert small_world.projection.epsg == 32649


def test_every_class_and_distractor_family_is_present(small_world: World) -> None:
    kinds = {o.kind for o in small_world.objects}
    assert set(CLASS_NAMES) <= kinds
    assert {"pool", "red_roof", "steam", "muddy_water"} <= kinds
    assert kinds <= set(CLASS_NAMES) | set(DISTRACTOR_KINDS) | set(BACKGROUND_KINDS)


def test_objects_are_valid_polygons_inside_the_district(small_world: World) -> None:
    cx, cy = small_world.center_m
    half = small_world.size_m / 2 + 1e-6
    for o in small_world.objects:
        assert o.polygon.is_valid and o.polygon.area > 0, o.id
        x0, y0, x1, y1 = o.polygon.bounds
        assert cx - half <= x0 and x1 <= cx + half and cy - half <= y0 and y1 <= cy + half, o.id
        assert o.is_violation == (o.kind in CLASS_NAMES)
        assert o.removed_at is None or o.removed_at > o.appears_at
    assert len({o.id for o in small_world.objects}) == len(small_world.objects)


def test_geojson_is_lonlat_with_class_and_interval(small_world: World) -> None:
    fc = small_world.to_geojson()
    assert fc["type"] == "FeatureCollection" and fc["properties"]["synthetic"] is True
    feats = {f["id"]: f for f in fc["features"]}
    obj = next(o for o in small_world.objects if o.kind == "steel_shed")
    f = feats[obj.id]
    lon, lat = shape(f["geometry"]).centroid.coords[0]
    assert abs(lon - 113.15) < 0.01 and abs(lat - 23.03) < 0.01
    assert f["properties"]["class"] == "steel_shed" and f["properties"]["is_violation"] is True
    assert datetime.fromisoformat(f["properties"]["appears_at"]) == obj.appears_at
    x, y = small_world.projection.to_metric(lon, lat)
    assert obj.polygon.centroid.distance(shape({"type": "Point", "coordinates": (float(x), float(y))})) < 0.05


def test_violations_follow_their_intervals(small_world: World) -> None:
    for o in small_world.objects:
        if not o.is_violation:
            continue
        before = o.appears_at - timedelta(seconds=1)
        assert o not in small_world.violations_at(before)
        assert o in small_world.violations_at(o.appears_at)
        if o.removed_at is not None:
            assert o not in small_world.violations_at(o.removed_at)


def test_with_removed_ends_an_object_and_leaves_the_rest(small_world: World) -> None:
    obj = next(o for o in small_world.objects if o.kind == "garbage_dump")
    fix_at = max(obj.appears_at, small_world.epoch) + timedelta(days=1)
    if obj.removed_at is not None and obj.removed_at <= fix_at:
        fix_at = obj.appears_at + (obj.removed_at - obj.appears_at) / 2
    fixed = small_world.with_removed(obj.id, fix_at)
    assert fixed.require(obj.id).removed_at == fix_at
    assert obj in small_world.violations_at(fix_at)
    assert obj.id not in {o.id for o in fixed.violations_at(fix_at)}
    assert len(fixed.objects) == len(small_world.objects)
    assert small_world.require(obj.id).removed_at == obj.removed_at  # the original is untouched
    with pytest.raises(NotFound):
        small_world.with_removed("nope-1", fix_at)
    with pytest.raises(InvalidInput):
        small_world.with_removed(obj.id, obj.appears_at - timedelta(days=1))


@pytest.mark.parametrize("seed", [0, 99])
def test_water_plumes_that_coexist_never_touch(seed: int) -> None:
    # two plumes meeting in one river are one stain in any image: the truth must not count two objects there
    plumes = [o for o in World.generate(seed=seed).objects if o.kind == "water_discoloration"]
    assert len(plumes) >= 10
    for i, a in enumerate(plumes):
        for b in plumes[i + 1:]:
            coexist = ((a.removed_at is None or b.appears_at < a.removed_at)
                       and (b.removed_at is None or a.appears_at < b.removed_at))
            assert not coexist or a.polygon.distance(b.polygon) >= 3.0, (a.id, b.id)


def test_hotspots_have_violations_nearby(small_world: World) -> None:
    at = small_world.epoch + DEMO_OFFSET
    spots = small_world.hotspots(at=at)
    assert spots
    x, y = small_world.projection.to_metric(*spots[0])
    present = small_world.violations_at(at)
    near = {o.kind for o in present if o.polygon.centroid.distance(shape({"type": "Point", "coordinates": (float(x), float(y))})) < 80}
    assert len(near) >= 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size_m": 50.0}, "size_m"),
        ({"center_lon": 23.03, "center_lat": 113.15}, "lat, lon order"),
        ({"epoch": datetime(2026, 1, 5)}, "timezone-aware"),
    ],
)
def test_bad_world_parameters_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        World.generate(seed=1, **kwargs)


def test_epoch_default_is_utc() -> None:
    assert World.generate(seed=1, size_m=300.0).epoch == datetime(2026, 1, 5, tzinfo=UTC)
