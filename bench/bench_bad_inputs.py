"""Bad uploads from the field, each in a fresh process: wall time and peak memory until the clear error.

The budget (issue #16) is one clear error within 2 s and 500 MB per input; the peer figures are
what the ingest before these checks measured on the same inputs (issue #16: the 100 MP JPEG
decoded 2.1 GB before failing; the sparse GeoTIFF took 44 s and 2.9 GB and produced 841
findings). Inputs are built in code by tests/unit/vision/bad_inputs.py before the clock starts.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_bad_inputs.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BUDGET_S = 2.0
BUDGET_MB = 500.0
CASES = ("jpeg_100mp_631_bytes", "sparse_geotiff_225mp", "geotiff_12bit_in_16bit", "card_swapped_class_names")


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _swapped_card(tmp: Path) -> Path:
    import yaml

    from vision.registry import DEFAULT_CARD, require_card

    card = require_card(DEFAULT_CARD)
    raw = yaml.safe_load(card.card_path.read_text())
    raw["weights"] = str(card.weights_path)
    raw.pop("onnx", None)
    raw["classes"][0]["name"], raw["classes"][1]["name"] = raw["classes"][1]["name"], raw["classes"][0]["name"]
    path = tmp / "swapped.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def child(case: str) -> None:
    """Build the input, then time the entry point a user would hit; print one JSON line."""
    import tempfile

    from dockpatrol.errors import DockpatrolError
    from tests.unit.vision import bad_inputs
    from vision.ingest import FrameOptions, ingest_bytes

    tmp = Path(tempfile.mkdtemp())
    if case == "card_swapped_class_names":
        from vision.registry import check_class_names, embedded_class_names, load_card

        card_path = _swapped_card(tmp)

        def run() -> object:
            card = load_card(card_path)
            return check_class_names(card, embedded_class_names(card.weights_path), weights_name=card.weights_path.name)
    else:
        data = {"jpeg_100mp_631_bytes": bad_inputs.jpeg_declaring_100mp,
                "sparse_geotiff_225mp": bad_inputs.sparse_geotiff,
                "geotiff_12bit_in_16bit": bad_inputs.twelve_bit_geotiff}[case]()

        def run() -> object:
            out = ingest_bytes(data, source=case, options=FrameOptions(require_pose=True))
            return f"ok: stretch {getattr(out, 'stretch', None)}, max {int(out.rgb.max())}"
    before = _peak_rss_mb()
    started = time.perf_counter()
    try:
        outcome = str(run())
    except DockpatrolError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    print(json.dumps({"case": case, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": before,
                      "outcome": outcome}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    print(f"{'input':28s} {'s':>6s} {'peak MB':>8s} {'(before)':>9s}  within budget ({BUDGET_S:g} s, {BUDGET_MB:g} MB)"
          f"  outcome")
    failed = 0
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True,
                             cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=300)
        if out.returncode:
            print(f"{case}: child failed\n{out.stderr[-2000:]}")
            failed += 1
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ok = r["seconds"] < BUDGET_S and r["peak_rss_mb"] < BUDGET_MB
        failed += not ok
        print(f"{case:28s} {r['seconds']:6.3f} {r['peak_rss_mb']:8.0f} {r['rss_before_mb']:9.0f}  "
              f"{'yes' if ok else 'NO':>5s}  {r['outcome'][:150]}")
    print("peer (ingest before #16, issue #16): 100 MP JPEG 2.1 GB decoded; sparse GeoTIFF 44 s, 2.9 GB")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
