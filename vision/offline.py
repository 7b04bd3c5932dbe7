"""Ultralytics, configured once so it never reaches the network.

Call :func:`configure_ultralytics` before the first ``import ultralytics`` (the vision adapter
does). It pins the config directory inside the data directory, puts a bundled TTF where
ultralytics looks for Arial (so plotting never downloads a font), turns off hub sync,
auto-install and requirement checks, and gives torch every core (ultralytics drops it to one
thread on small machines). Ultralytics' import also calls ``cv2.setNumThreads(0)``; that tears
down OpenCV's thread pool under any OpenCV call other threads have in flight, and a pool worker
then dies of SIGFPE (the patrol day's first detection loads it while the twin renders). The import
here keeps OpenCV's threads as they are; training turns them off itself (``train_yolo``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_configured: Path | None = None


def _bundled_ttf() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def configure_ultralytics(config_dir: Path | None = None) -> Path:
    """Set ultralytics' offline environment and settings; returns the config directory. Idempotent."""
    global _configured
    if _configured is not None and config_dir is None:
        return _configured
    if config_dir is None:
        from dockpatrol.settings import get_settings

        config_dir = get_settings().data_dir / "ultralytics"
    config_dir = config_dir.resolve()
    config_dir.mkdir(parents=True, exist_ok=True)
    # ultralytics reads fonts and settings from the "Ultralytics" sub-directory of YOLO_CONFIG_DIR
    user_dir = config_dir / "Ultralytics"
    user_dir.mkdir(exist_ok=True)
    font = _bundled_ttf()
    for name in _FONT_NAMES:
        target = user_dir / name
        if not target.exists():
            shutil.copyfile(font, target)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["YOLO_VERBOSE"] = os.environ.get("YOLO_VERBOSE", "False")
    os.environ["ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with _opencv_threads_kept():
        from ultralytics.utils import SETTINGS

    wanted = {"sync": False, "hub": False, "clearml": False, "comet": False, "dvc": False,
              "mlflow": False, "neptune": False, "raytune": False, "tensorboard": False, "wandb": False}
    update = {k: v for k, v in wanted.items() if k in SETTINGS and SETTINGS[k] != v}
    if update:
        SETTINGS.update(update)
    set_torch_threads()
    _configured = config_dir
    return config_dir


@contextmanager
def _opencv_threads_kept() -> Iterator[None]:
    """Within it, ``cv2.setNumThreads`` does nothing (ultralytics calls it on import, see the module docstring)."""
    import cv2

    real = cv2.setNumThreads
    cv2.setNumThreads = lambda _threads: None
    try:
        yield
    finally:
        cv2.setNumThreads = real


def set_torch_threads(threads: int | None = None) -> int:
    """Use every core for torch's intra-op pool (ultralytics sets 1 on ≤2-core machines)."""
    import torch

    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n
