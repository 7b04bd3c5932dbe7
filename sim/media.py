"""The simulated drone's camera card: each capture rendered through the twin into a media folder.

Rendering runs on a worker thread so the vehicle's clock never waits for it; files appear
atomically as ``<index:05d>.jpg`` like photos on a real camera's SD card.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from dockpatrol.camera import CameraModel
from sim.vehicle_model import CaptureRecord
from sim.world import World

log = logging.getLogger("dockpatrol.sim.media")


class TwinCameraCard:
    """A capture hook for SimVehicle that writes rendered JPEGs to ``media_dir``."""

    def __init__(self, *, world: World, camera: CameraModel, media_dir: Path, seed: int = 0) -> None:
        self.world = world
        self.camera = camera
        self.media_dir = media_dir
        self.seed = seed
        self.written: list[Path] = []
        self.failed: list[tuple[int, str]] = []
        self._queue: queue.Queue[CaptureRecord | None] = queue.Queue()
        media_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="twin-camera", daemon=True)
        self._thread.start()

    def __call__(self, record: CaptureRecord) -> None:
        self._queue.put(record)

    def close(self, timeout_s: float = 600.0) -> list[Path]:
        """Finish every queued photo and return the files written, in capture order."""
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)
        return sorted(self.written)

    def _run(self) -> None:
        from sim.camera import render_frame

        while (rec := self._queue.get()) is not None:
            try:
                frame = render_frame(self.world, self.camera, rec.pose, rec.captured_at, seed=self.seed + rec.index)
                path = self.media_dir / f"{rec.index:05d}.jpg"
                tmp = path.with_suffix(".jpg.tmp")
                tmp.write_bytes(frame.to_jpeg())
                tmp.replace(path)
                self.written.append(path)
            except Exception as exc:  # a photo that fails to render is reported, the flight goes on
                log.warning("photo %d: rendering failed: %s", rec.index, exc)
                self.failed.append((rec.index, str(exc)))
