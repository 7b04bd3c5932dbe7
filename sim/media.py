"""The simulated drone's camera card: each capture rendered through the twin into a media folder.

Rendering runs on a worker thread so the vehicle's clock never waits for it; files appear
atomically as ``<index:05d>.jpg`` like photos on a real camera's SD card. The camera's ``mount``
says what the photo sees: a gimbal looks straight down whatever the airframe does; a camera fixed to
the airframe (as on the SITL set-up of issue 10) looks where the banking vehicle points it, and its
JPEG knows only position and heading — its attitude is in the autopilot's CAMERA_FEEDBACK.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from pathlib import Path

from dockpatrol.camera import CameraModel, CameraMount, GeoPose, camera_attitude
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

    def true_pose(self, rec: CaptureRecord) -> GeoPose:
        """Where the camera really looked: the gimbal's pose, or the airframe's attitude for a fixed camera."""
        if self.camera.mount == CameraMount.GIMBAL:
            return rec.pose
        yaw, pitch, roll = camera_attitude(CameraMount.FIXED, vehicle_yaw_deg=rec.pose.yaw_deg,
                                           vehicle_roll_deg=rec.vehicle_roll_deg,
                                           vehicle_pitch_deg=rec.vehicle_pitch_deg)
        return GeoPose(rec.pose.lon, rec.pose.lat, rec.pose.altitude_m, yaw, pitch, roll)

    def _run(self) -> None:
        from sim.camera import render_frame

        while (rec := self._queue.get()) is not None:
            try:
                frame = render_frame(self.world, self.camera, self.true_pose(rec), rec.captured_at,
                                     seed=self.seed + rec.index)
                if self.camera.mount == CameraMount.FIXED:
                    # no gimbal to ask: the photo records where it was taken and the heading, nothing more
                    told = frame.reported_pose
                    frame = dataclasses.replace(frame, reported_pose=GeoPose(
                        told.lon, told.lat, told.altitude_m, yaw_deg=rec.pose.yaw_deg))
                path = self.media_dir / f"{rec.index:05d}.jpg"
                tmp = path.with_suffix(".jpg.tmp")
                tmp.write_bytes(frame.to_jpeg())
                tmp.replace(path)
                self.written.append(path)
            except Exception as exc:  # a photo that fails to render is reported, the flight goes on
                log.warning("photo %d: rendering failed: %s", rec.index, exc)
                self.failed.append((rec.index, str(exc)))
