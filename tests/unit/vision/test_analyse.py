"""GSD-aware detection: frame GSD from the georeferencing, tiles sized so the model sees its own scale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from affine import Affine
from pyproj import CRS

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.taxonomy import CLASS_NAMES
from tests.unit.vision.test_slicing import RedBoxDetector, frame_with
from vision.analyse import analyse_frame, ground_sample_distance_m, merge_frame_detections, tile_wh_for_frame
from vision.detections import Detections
from vision.georef import FrameGeoref, OrthoGeoref
from vision.slicing import Merge

CAM = CameraModel(400, 300, 73.7)


class ScaleAwareRedBoxDetector(RedBoxDetector):
    """The red-box finder, stating the ground resolution it was 'trained' at and recording input sizes."""

    def __init__(self, input_gsd_m: float | None) -> None:
        super().__init__((64, 64))
        self.input_gsd_m = input_gsd_m
        self.sizes: list[tuple[int, int]] = []

    def __call__(self, images):
        self.sizes += [tuple(im.shape[1::-1]) for im in images]
        return super().__call__(images)


@pytest.mark.parametrize(("altitude_m", "pitch_deg"), [(60.0, -90.0), (120.0, -90.0), (60.0, -70.0)])
def test_frame_gsd_from_the_georeferencing(altitude_m: float, pitch_deg: float) -> None:
    georef = FrameGeoref.for_pose(CAM, GeoPose(113.15, 23.03, altitude_m, 30.0, pitch_deg))
    gsd = ground_sample_distance_m(georef, width_px=400, height_px=300)
    nadir = CAM.gsd_m(altitude_m)
    if pitch_deg == -90.0:
        assert gsd == pytest.approx(nadir, rel=1e-3)
    else:
        assert gsd > nadir * 1.05  # a tilted view sees the centre from further away, at a coarser GSD


def test_ortho_gsd_is_its_pixel_size() -> None:
    georef = OrthoGeoref(Affine(0.05, 0, 700000, 0, -0.05, 2548000), CRS.from_epsg(32649))
    assert ground_sample_distance_m(georef, width_px=1000, height_px=800) == pytest.approx(0.05, rel=2e-3)


@pytest.mark.parametrize(("frame_gsd_m", "tile"), [(0.05, (128, 128)), (0.1, (64, 64)), (0.2, (32, 32)),
                                                   (0.025, (256, 256)), (None, None)])
def test_tiles_are_sized_from_the_frame_gsd(frame_gsd_m: float | None, tile) -> None:
    assert tile_wh_for_frame(ScaleAwareRedBoxDetector(0.1), frame_gsd_m) == tile
    assert tile_wh_for_frame(RedBoxDetector(), 0.05) is None  # a model without a stated GSD keeps its tiles


def test_frames_from_two_altitudes_reach_the_model_at_one_scale() -> None:
    """The same 6 m × 4.5 m object photographed from 60 m and 120 m is as many input pixels each time."""
    widths = []
    for altitude in (60.0, 120.0):
        gsd = CAM.gsd_m(altitude)
        w_px, h_px = round(6.0 / gsd), round(4.5 / gsd)
        image = frame_with([(200, 150, 200 + w_px, 150 + h_px)])
        detector = ScaleAwareRedBoxDetector(input_gsd_m=CAM.gsd_m(60.0) * 2)  # trained at half resolution
        georef = FrameGeoref.for_pose(CAM, GeoPose(113.15, 23.03, altitude))
        dets, findings = analyse_frame(image, detector=detector, georef=georef, seen_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       full_frame=False)
        assert len(dets) == 1 and len(findings) == 1
        assert all(size == (64, 64) for size in detector.sizes)
        widths.append(w_px)
        # boxes come back in frame pixels
        assert dets.xyxy[0, 0] == pytest.approx(200, abs=3) and dets.xyxy[0, 2] == pytest.approx(200 + w_px, abs=3)
        assert findings[0].area_m2 == pytest.approx(27.0, rel=0.25)
    assert widths[0] == pytest.approx(2 * widths[1], abs=1)


def _boxes(rows: list[tuple[float, float, float, float, float, str]]) -> Detections:
    return Detections([r[:4] for r in rows], [r[4] for r in rows], [CLASS_NAMES.index(r[5]) for r in rows])


def test_overlapping_pieces_of_a_region_become_one_region_and_objects_stay_apart() -> None:
    # a plume and a site cut by tiles into pieces that overlap only their neighbours a little; two sheds
    # touching the same way are two sheds
    dets = _boxes([
        (0, 0, 100, 80, 0.9, "water_discoloration"), (90, 0, 200, 80, 0.7, "water_discoloration"),
        (190, 10, 260, 70, 0.8, "water_discoloration"),
        (0, 200, 60, 260, 0.6, "steel_shed"), (55, 200, 115, 260, 0.95, "steel_shed"),
        (400, 400, 450, 450, 0.5, "water_discoloration"),  # a stain of its own, apart from the plume
    ])
    merged = merge_frame_detections(dets)
    names = [CLASS_NAMES[int(c)] for c in merged.class_id]
    assert sorted(names) == ["steel_shed", "steel_shed", "water_discoloration", "water_discoloration"]
    plume = merged.xyxy[(merged.class_id == CLASS_NAMES.index("water_discoloration")) & (merged.confidence > 0.85)]
    assert plume.tolist() == [[0, 0, 260, 80]]
    assert merged.confidence.tolist() == sorted(merged.confidence.tolist(), reverse=True)
    assert len(merge_frame_detections(dets, merge=Merge.NONE)) == len(dets)
