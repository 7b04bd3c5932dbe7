"""Model cards: schema and taxonomy validation, file checks, lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from dockpatrol.errors import InvalidInput, NotFound
from dockpatrol.taxonomy import CLASS_NAMES, Category
from vision.registry import card_paths, cards_for, check_files, file_sha256, load_card, require_card


def card_dict(**overrides) -> dict:
    raw = {
        "name": "my-model",
        "version": "1.2",
        "weights": "my.pt",
        "input_size_px": 640,
        "synthetic_training_data": False,
        "classes": [
            {"id": 0, "name": "shed", "taxonomy": "steel_shed", "threshold": 0.4},
            {"id": 1, "name": "trash", "taxonomy": "garbage_dump", "threshold": 0.3},
            {"id": 2, "name": "car", "taxonomy": None, "threshold": 0.5},
        ],
    }
    raw.update(overrides)
    return raw


def write(tmp_path: Path, raw: dict | str, name: str = "my.yaml") -> Path:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_user_card_maps_classes_onto_taxonomy(tmp_path: Path) -> None:
    card = load_card(write(tmp_path, card_dict()))
    assert card.weights_path == (tmp_path / "my.pt").resolve()
    assert card.taxonomy_ids().tolist() == [CLASS_NAMES.index("steel_shed"), CLASS_NAMES.index("garbage_dump"), -1]
    assert np.allclose(card.thresholds(), [0.4, 0.3, 0.5])
    assert card.categories == {Category.CONSTRUCTION, Category.POLLUTION}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": [{"id": 0, "name": "x", "taxonomy": "illegal_parking", "threshold": 0.3}]}, "'illegal_parking'"),
        ({"classes": [{"id": 0, "taxonomy": "smoke", "threshold": 1.5}]}, "threshold"),
        ({"classes": [{"id": 1, "taxonomy": "smoke", "threshold": 0.5}]}, "ids must be 0..0"),
        ({"classes": []}, "non-empty"),
        ({"input_size_px": 600}, "multiple of 32"),
        ({"input_size_px": "640"}, "input_size_px"),
        ({"synthetic_training_data": "yes"}, "synthetic_training_data"),
        ({"weights": None}, "weights"),
    ],
)
def test_invalid_cards_are_refused_with_the_reason(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_card(write(tmp_path, card_dict(**change)))


def test_unknown_class_error_names_class_and_card(tmp_path: Path) -> None:
    raw = card_dict(classes=[{"id": 0, "name": "pothole", "taxonomy": "pothole", "threshold": 0.3}])
    with pytest.raises(InvalidInput) as err:
        load_card(write(tmp_path, raw, "roads.yaml"))
    assert "roads.yaml" in str(err.value) and "pothole" in str(err.value) and "steel_shed" in str(err.value)


def test_broken_yaml_and_missing_card(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_card(write(tmp_path, "name: [unclosed"))
    with pytest.raises(InvalidInput, match="mapping"):
        load_card(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(NotFound):
        load_card(tmp_path / "absent.yaml")


def test_check_files_verifies_presence_and_digest(tmp_path: Path) -> None:
    path = write(tmp_path, card_dict())
    with pytest.raises(InvalidInput, match="missing"):
        check_files(load_card(path))
    (tmp_path / "my.pt").write_bytes(b"weights")
    check_files(load_card(path))
    write(tmp_path, card_dict(sha256={"my.pt": "0" * 64}))
    with pytest.raises(InvalidInput, match="sha256"):
        check_files(load_card(path))
    write(tmp_path, card_dict(sha256={"my.pt": file_sha256(tmp_path / "my.pt")}))
    check_files(load_card(path))


def test_lookup_by_name_and_scenario(tmp_path: Path) -> None:
    write(tmp_path, card_dict())
    write(tmp_path, card_dict(name="fire", classes=[{"id": 0, "taxonomy": "smoke", "threshold": 0.3}]), "fire.yml")
    (tmp_path / "notes.txt").write_text("not a card")
    assert [p.name for p in card_paths(tmp_path)] == ["fire.yml", "my.yaml"]
    assert require_card("fire", tmp_path).name == "fire"
    assert require_card("my", tmp_path).name == "my-model"  # by file stem
    assert [c.name for c in cards_for({Category.FIRE}, tmp_path)] == ["fire"]
    with pytest.raises(NotFound, match="known cards: fire, my-model"):
        require_card("nope", tmp_path)


def test_record_metrics_keeps_header_and_validates(tmp_path: Path) -> None:
    from vision.registry import record_metrics

    path = write(tmp_path, "# trained on synthetic scenes\n" + yaml.safe_dump(card_dict()))
    card = record_metrics(path, "twin_eval", {"frames": 8, "recall": 0.7})
    assert card.metrics["twin_eval"] == {"frames": 8, "recall": 0.7}
    assert path.read_text().startswith("# trained on synthetic scenes\n")


def test_card_states_its_ground_resolution(tmp_path: Path) -> None:
    card = load_card(write(tmp_path, card_dict(gsd_m=0.045, gsd_range_m=[0.03, 0.075], tile_px=640)))
    assert (card.gsd_m, card.gsd_range_m) == (0.045, (0.03, 0.075))
    assert card.tile_wh_for(0.0225) == (1280, 1280)  # 640-px input at 4.5 cm from a 2.25 cm frame
    assert card.tile_wh_for(0.09) == (320, 320)
    assert card.tile_wh_for(None) == (640, 640)  # GSD unknown: the fixed tile
    plain = load_card(write(tmp_path, card_dict(tile_px=640), "plain.yaml"))
    assert plain.gsd_m is None and plain.tile_wh_for(0.02) == (640, 640)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"gsd_m": 0}, "gsd_m must be"), ({"gsd_m": "5cm"}, "gsd_m must be"),
     ({"gsd_m": 0.05, "gsd_range_m": [0.06, 0.1]}, "min <= gsd_m"), ({"gsd_range_m": [0.01, 0.1]}, "needs gsd_m")],
)
def test_bad_gsd_fields(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_card(write(tmp_path, card_dict(**change)))
