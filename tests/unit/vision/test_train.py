"""Bundling trained weights into a card (vision.train.bundle): measured metrics, thresholds, GSD fields (slow:
ultralytics validates the bundled demo weights on a few twin renders)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockpatrol.errors import InvalidInput
from vision.registry import DEFAULT_CARD, load_card, require_card
from vision.train import bundle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sim.dataset import build_dataset

    root = tmp_path_factory.mktemp("ds")
    summary = build_dataset(out=root, frames=2, val_frames=6, imgsz=320, seed=5, world_size_m=800.0)
    data = Path(summary.data_yaml)
    data.write_text(data.read_text().replace("val: images/val\n", "val: images/val\ntest: images/val\n"))
    return data


def test_bundle_writes_a_valid_gsd_aware_card(tiny_dataset: Path, tmp_path: Path) -> None:
    weights = require_card(DEFAULT_CARD).weights_path
    path = bundle(weights=weights, data=tiny_dataset, models_dir=tmp_path, name="demo-copy", version="0.1.0",
                  command="dockpatrol train …", description="a copy of the demo weights", imgsz=320, onnx=False,
                  gsd_m=0.045, gsd_range_m=(0.03, 0.075))
    card = load_card(path)
    assert (card.name, card.version, card.input_size_px) == ("demo-copy", "0.1.0", 320)
    assert card.gsd_m == pytest.approx(0.045) and card.gsd_range_m == (0.03, 0.075)
    assert all(0.0 < c.threshold < 1.0 for c in card.classes)
    assert card.metrics["per_class"] and card.training["command"] == "dockpatrol train …"


def test_a_gsd_range_that_excludes_the_gsd_is_refused_before_anything_is_written(tiny_dataset: Path,
                                                                                  tmp_path: Path) -> None:
    weights = require_card(DEFAULT_CARD).weights_path
    out = tmp_path / "models"
    with pytest.raises(InvalidInput, match="gsd_range_m"):
        bundle(weights=weights, data=tiny_dataset, models_dir=out, name="bad", version="0.1.0", command="",
               description="d", imgsz=320, onnx=False, gsd_m=0.1, gsd_range_m=(0.03, 0.075))
    assert not out.exists()
