"""`dockpatrol models list|validate` through the CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from api.cli import main
from dockpatrol.taxonomy import CLASS_NAMES


def write_card(d: Path, name: str, **overrides) -> Path:
    raw = {"name": name, "version": "0", "weights": "rand.pt", "input_size_px": 128, "synthetic_training_data": True,
           "classes": [{"id": i, "name": c, "taxonomy": c, "threshold": 0.3} for i, c in enumerate(CLASS_NAMES)]}
    raw.update(overrides)
    path = d / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_validate_and_list_a_good_card(random_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = write_card(random_model_dir, "cli-good")
    assert main(["models", "validate", str(card)]) == 0
    assert "ok      cli-good.yaml" in capsys.readouterr().out
    assert main(["models", "list", "--models-dir", str(random_model_dir)]) == 0
    assert "cli-good" in capsys.readouterr().out


def test_validate_refuses_unknown_class_and_class_count(random_model_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_card(random_model_dir, "cli-bad", classes=[{"id": 0, "taxonomy": "graffiti", "threshold": 0.3}])
    few = write_card(random_model_dir, "cli-few", classes=[{"id": 0, "taxonomy": "smoke", "threshold": 0.3}])
    assert main(["models", "validate", str(bad), str(few)]) == 1
    err = capsys.readouterr().err
    assert "invalid cli-bad.yaml" in err and "'graffiti'" in err
    assert "invalid cli-few.yaml" in err and "9 classes" in err
    assert "error: 2 of 2 model cards are invalid" in err


def test_validate_refuses_swapped_class_names(random_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    classes = [{"id": i, "name": c, "taxonomy": c, "threshold": 0.3} for i, c in enumerate(CLASS_NAMES)]
    classes[0]["name"], classes[1]["name"] = classes[1]["name"], classes[0]["name"]
    swapped = write_card(random_model_dir, "cli-swapped", classes=classes)
    assert main(["models", "validate", str(swapped)]) == 1
    err = capsys.readouterr().err
    assert "invalid cli-swapped.yaml" in err
    assert "class 0 is 'rooftop_addition' in the card but 'steel_shed' in the weights" in err
    assert "class 1 is 'steel_shed' in the card but 'rooftop_addition' in the weights" in err
