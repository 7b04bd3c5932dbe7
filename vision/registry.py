"""Model cards in ``models/``: one YAML per weights file mapping its classes onto the taxonomy.

A card names the weights (.pt, optional .onnx), the input size, each model class's taxonomy
class and confidence threshold, the training data and measured metrics. Bringing your own
weights means writing a card; no code changes.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dockpatrol.errors import InvalidInput, NotFound
from dockpatrol.taxonomy import CATEGORY_OF, CLASS_NAMES, Category

CARD_SUFFIXES = (".yaml", ".yml")
MAX_WEIGHTS_BYTES = 512 * 1024 * 1024
MAX_CARD_BYTES = 256 * 1024


@dataclass(frozen=True)
class CardClass:
    """One class the model outputs: its id and name in the weights, the taxonomy class it means, its threshold."""

    model_id: int
    model_name: str
    taxonomy: str | None  # None: the model knows it, dockpatrol ignores it
    threshold: float


@dataclass(frozen=True)
class ModelCard:
    """A validated model card; paths are resolved against the card's directory."""

    name: str
    version: str
    card_path: Path
    weights_path: Path
    onnx_path: Path | None
    input_size_px: int
    classes: tuple[CardClass, ...]
    synthetic_training_data: bool
    tile_px: int = 0  # native frame pixels per model input side; 0 = input_size_px (no resize)
    onnx_int8_path: Path | None = None  # statically quantised ONNX (CPU), calibrated on representative tiles
    gsd_m: float | None = None  # ground metres per model-input pixel the model was trained at
    gsd_range_m: tuple[float, float] | None = None  # the spread of input GSDs seen in training
    description: str = ""
    sha256: Mapping[str, str] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def taxonomy_ids(self) -> np.ndarray:
        """Model class id → index in ``CLASS_NAMES`` (-1 for ignored classes)."""
        ids = np.full(len(self.classes), -1, dtype=np.int64)
        for c in self.classes:
            if c.taxonomy is not None:
                ids[c.model_id] = CLASS_NAMES.index(c.taxonomy)
        return ids

    def thresholds(self) -> np.ndarray:
        """Confidence threshold per model class id."""
        return np.array([c.threshold for c in sorted(self.classes, key=lambda c: c.model_id)], dtype=np.float32)

    def with_threshold(self, threshold: float) -> ModelCard:
        """The same card with one confidence threshold for every class (to see what the model finds below its
        tuned thresholds: threshold tuning, hard-negative mining)."""
        return replace(self, classes=tuple(replace(c, threshold=threshold) for c in self.classes))

    @property
    def tile_wh(self) -> tuple[int, int]:
        """Tile size in frame pixels; tiles are resized to the input size when it differs."""
        side = self.tile_px or self.input_size_px
        return side, side

    def tile_wh_for(self, frame_gsd_m: float | None) -> tuple[int, int]:
        """Tile size in frame pixels for a frame of ``frame_gsd_m``: the model sees its own scale.

        Without a card ``gsd_m`` (or an unknown frame GSD) this is the fixed ``tile_wh``.
        """
        if self.gsd_m is None or frame_gsd_m is None:
            return self.tile_wh
        return slice_wh_for_gsd((self.input_size_px, self.input_size_px), input_gsd_m=self.gsd_m,
                                frame_gsd_m=frame_gsd_m)

    @property
    def taxonomy_classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.taxonomy for c in self.classes if c.taxonomy is not None))

    @property
    def categories(self) -> frozenset[Category]:
        return frozenset(CATEGORY_OF[c] for c in self.taxonomy_classes)


#: Smallest tile, in frame pixels: below it a frame is upsampled so far that detail is invented.
MIN_TILE_PX = 32


def slice_wh_for_gsd(input_wh: tuple[int, int], *, input_gsd_m: float, frame_gsd_m: float) -> tuple[int, int]:
    """Frame pixels per tile so that, resized to ``input_wh``, one input pixel covers ``input_gsd_m`` of ground."""
    if not (input_gsd_m > 0 and frame_gsd_m > 0):
        raise InvalidInput(f"ground sample distances must be positive, got model {input_gsd_m}, frame {frame_gsd_m}")
    factor = input_gsd_m / frame_gsd_m
    return tuple(max(MIN_TILE_PX, round(side * factor)) for side in input_wh)  # type: ignore[return-value]


def _req(raw: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in raw:
        raise InvalidInput(f"{where}: missing field {key!r}")
    value = raw[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidInput(f"{where}: field {key!r} must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _parse_classes(raw: Any, where: str) -> tuple[CardClass, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{where}: 'classes' must be a non-empty list of {{id, name, taxonomy, threshold}}")
    out = []
    for i, item in enumerate(raw):
        here = f"{where}: classes[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{here} must be a mapping, got {item!r}")
        model_id = _req(item, "id", int, here)
        model_name = str(item.get("name", item.get("taxonomy", model_id)))
        taxonomy = item.get("taxonomy")
        if taxonomy is not None and taxonomy not in CATEGORY_OF:
            raise InvalidInput(
                f"{here}: unknown taxonomy class {taxonomy!r} for model class {model_name!r}; "
                f"known classes: {', '.join(CLASS_NAMES)} (or null to ignore the class)"
            )
        threshold = _req(item, "threshold", (int, float), here)
        if not 0.0 < float(threshold) <= 1.0:
            raise InvalidInput(f"{here}: threshold must be in (0, 1], got {threshold}")
        out.append(CardClass(model_id, model_name, taxonomy, float(threshold)))
    ids = sorted(c.model_id for c in out)
    if ids != list(range(len(out))):
        raise InvalidInput(f"{where}: class ids must be 0..{len(out) - 1} without gaps or repeats, got {ids}")
    return tuple(sorted(out, key=lambda c: c.model_id))


def parse_gsd(raw: Mapping[str, Any], where: str) -> tuple[float | None, tuple[float, float] | None]:
    """A card's ``gsd_m`` and ``gsd_range_m``, checked: metres per input pixel, the range around it."""
    gsd = raw.get("gsd_m")
    if gsd is None:
        if raw.get("gsd_range_m") is not None:
            raise InvalidInput(f"{where}: gsd_range_m needs gsd_m (the ground resolution at the model input)")
        return None, None
    if isinstance(gsd, bool) or not isinstance(gsd, int | float) or not 0.001 <= gsd <= 10.0:
        raise InvalidInput(f"{where}: gsd_m must be metres per input pixel within 0.001..10, got {gsd!r}")
    span = raw.get("gsd_range_m")
    if span is None:
        return float(gsd), None
    if (not isinstance(span, list) or len(span) != 2 or not all(isinstance(v, int | float) for v in span)
            or not 0 < span[0] <= gsd <= span[1]):
        raise InvalidInput(f"{where}: gsd_range_m must be [min, max] metres with min <= gsd_m ({gsd}) <= max, "
                           f"got {span!r}")
    return float(gsd), (float(span[0]), float(span[1]))


def parse_card(raw: Any, *, card_path: Path) -> ModelCard:
    """A ModelCard from parsed YAML; raises InvalidInput naming the card and the offending field."""
    where = f"model card {card_path.name}"
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: expected a mapping at the top level")
    base = card_path.parent
    weights = Path(_req(raw, "weights", str, where))
    onnx = raw.get("onnx")
    if onnx is not None and not isinstance(onnx, str):
        raise InvalidInput(f"{where}: field 'onnx' must be a file name, got {onnx!r}")
    onnx_int8 = raw.get("onnx_int8")
    if onnx_int8 is not None and not isinstance(onnx_int8, str):
        raise InvalidInput(f"{where}: field 'onnx_int8' must be a file name, got {onnx_int8!r}")
    input_size = _req(raw, "input_size_px", int, where)
    if input_size < 32 or input_size % 32:
        raise InvalidInput(f"{where}: input_size_px must be a positive multiple of 32, got {input_size}")
    tile = raw.get("tile_px", 0)
    if not isinstance(tile, int) or isinstance(tile, bool) or tile < 0:
        raise InvalidInput(f"{where}: tile_px must be a whole number of pixels, got {tile!r}")
    if "synthetic_training_data" not in raw or not isinstance(raw["synthetic_training_data"], bool):
        raise InvalidInput(f"{where}: field 'synthetic_training_data' must be true or false")
    gsd, gsd_range = parse_gsd(raw, where)
    sha = raw.get("sha256") or {}
    if not isinstance(sha, Mapping):
        raise InvalidInput(f"{where}: 'sha256' must map file names to hex digests")
    return ModelCard(
        name=_req(raw, "name", str, where),
        version=str(_req(raw, "version", (str, int, float), where)),
        card_path=card_path,
        weights_path=(base / weights).resolve(),
        onnx_path=(base / onnx).resolve() if onnx else None,
        onnx_int8_path=(base / onnx_int8).resolve() if onnx_int8 else None,
        input_size_px=input_size,
        classes=_parse_classes(raw.get("classes"), where),
        synthetic_training_data=raw["synthetic_training_data"],
        tile_px=tile,
        gsd_m=gsd,
        gsd_range_m=gsd_range,
        description=str(raw.get("description", "")),
        sha256={str(k): str(v) for k, v in sha.items()},
        training=dict(raw.get("training") or {}),
        metrics=dict(raw.get("metrics") or {}),
    )


def load_card(path: Path) -> ModelCard:
    """Read and validate one card file (schema and taxonomy; files are checked by :func:`check_files`)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"model card {path} does not exist")
    if path.stat().st_size > MAX_CARD_BYTES:
        raise InvalidInput(f"model card {path.name} is larger than {MAX_CARD_BYTES} bytes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"model card {path.name} is not valid YAML: {exc}") from None
    return parse_card(raw, card_path=path.resolve())


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_files(card: ModelCard) -> None:
    """Raise InvalidInput unless the card's weights exist, are of sane size and match recorded digests."""
    for path in (card.weights_path, card.onnx_path, card.onnx_int8_path):
        if path is None:
            continue
        if not path.is_file():
            raise InvalidInput(f"model card {card.card_path.name}: weights file {path.name} is missing")
        size = path.stat().st_size
        if not 0 < size <= MAX_WEIGHTS_BYTES:
            raise InvalidInput(f"model card {card.card_path.name}: {path.name} is {size} bytes")
        want = card.sha256.get(path.name)
        if want and file_sha256(path) != want:
            raise InvalidInput(f"model card {card.card_path.name}: {path.name} does not match its sha256 digest")


class _Stub:
    """Stands in for any class a checkpoint pickle names; keeps the state it is given, runs no code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Stub:
        return _Stub(*args)


_SAFE_GLOBALS = frozenset({("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "int", "float",
                                                     "str", "bool")} | {("collections", "OrderedDict")})


class _InertUnpickler(pickle.Unpickler):
    """Reads a torch checkpoint's object graph without importing or executing anything it names."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        return _Stub

    def persistent_load(self, pid: Any) -> None:
        return None  # tensor storages: not needed for the names, never loaded


def _names_from(obj: Any) -> dict[int, str] | None:
    names = obj.get("names") if isinstance(obj, dict) else None
    if isinstance(names, dict) and names:
        return {int(k): str(v) for k, v in names.items()}
    if isinstance(names, list | tuple) and names:
        return dict(enumerate(str(v) for v in names))
    return None


def embedded_class_names(path: Path) -> dict[int, str]:
    """Class names stored in ultralytics weights (.pt checkpoint or .onnx export), read without torch.

    The .pt pickle is read with an unpickler that resolves no classes (nothing in the file runs);
    an .onnx file carries the names in its metadata. Empty when the file holds none.
    """
    import ast
    import zipfile

    path = Path(path)
    try:
        if path.suffix == ".onnx":
            import onnx

            meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            parsed = ast.literal_eval(meta.get("names", "{}"))
            return _names_from({"names": parsed}) or {}
        with zipfile.ZipFile(path) as zf:
            pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
            root = _InertUnpickler(io.BytesIO(zf.read(pkl))).load()
    except (OSError, ValueError, SyntaxError, StopIteration, zipfile.BadZipFile, pickle.UnpicklingError,
            EOFError) as exc:
        raise InvalidInput(f"cannot read the class names stored in {path.name}: {exc}") from None
    model = root.get("ema") or root.get("model") if isinstance(root, dict) else None
    state = getattr(model, "state", None)
    return _names_from(state) or _names_from(root) or {}


def check_class_names(card: ModelCard, names: Mapping[int, str], *, weights_name: str) -> None:
    """Raise InvalidInput unless the weights' embedded class names match the card's, id for id.

    A card whose names are swapped would route one class's detections to another team; the
    names stored in the weights are the only ground truth a card can be checked against.
    """
    if not names:
        return
    if len(names) != len(card.classes):
        raise InvalidInput(f"model card {card.card_path.name}: {weights_name} has {len(names)} classes, "
                           f"the card lists {len(card.classes)}")
    wrong = [(c.model_id, c.model_name, names.get(c.model_id)) for c in card.classes
             if names.get(c.model_id) != c.model_name]
    if wrong:
        listed = "; ".join(f"class {i} is {mine!r} in the card but {theirs!r} in the weights"
                           for i, mine, theirs in wrong)
        raise InvalidInput(f"model card {card.card_path.name} does not match {weights_name}: {listed}")


def card_paths(models_dir: Path | None = None) -> list[Path]:
    """Every card file in the models directory, sorted by name."""
    if models_dir is None:
        from dockpatrol.settings import get_settings

        models_dir = get_settings().models_dir
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.iterdir() if p.suffix in CARD_SUFFIXES and p.is_file())


def list_cards(models_dir: Path | None = None) -> list[ModelCard]:
    """Every valid card; an invalid one raises (``dockpatrol models validate`` reports all of them)."""
    return [load_card(p) for p in card_paths(models_dir)]


def require_card(name: str, models_dir: Path | None = None) -> ModelCard:
    """The card called ``name`` (its ``name`` field or file stem); raises NotFound listing the known ones."""
    cards = list_cards(models_dir)
    for card in cards:
        if name in (card.name, card.card_path.stem):
            return card
    known = ", ".join(c.name for c in cards) or "none"
    raise NotFound(f"no model card named {name!r}; known cards: {known}")


def cards_for(categories: set[Category] | frozenset[Category], models_dir: Path | None = None) -> list[ModelCard]:
    """Cards whose classes cover at least one of the area's scenarios."""
    return [c for c in list_cards(models_dir) if c.categories & set(categories)]


def update_card(card_path: Path, change: Callable[[dict[str, Any]], None]) -> ModelCard:
    """Apply ``change`` to a card file's YAML mapping and write it back, keeping its header comments;
    a change that would make the card invalid is refused before anything is written."""
    text = Path(card_path).read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise InvalidInput(f"model card {Path(card_path).name} is not a mapping")
    change(raw)
    parse_card(raw, card_path=Path(card_path).resolve())  # refuse to write a card we would not load
    Path(card_path).write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_card(card_path)


def record_metrics(card_path: Path, key: str, value: Any) -> ModelCard:
    """Store a measured result under ``metrics.<key>`` of a card file, keeping its header comments."""
    return update_card(card_path, lambda raw: raw.setdefault("metrics", {}).__setitem__(key, value))


DEFAULT_CARD = "dockpatrol-demo-yolo11n"
