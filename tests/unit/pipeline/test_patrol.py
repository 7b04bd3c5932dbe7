"""The patrol's seams without flying: the default vehicle link and the folder media source."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockpatrol.errors import ConfigError, InvalidInput
from missions.types import Dock
from pipeline.patrol import FolderMedia, dock_vehicle

AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


async def _url_of(dock: Dock) -> str:
    async with dock_vehicle(dock, at=AT) as url:
        return url


def test_dock_vehicle_is_the_docks_own_autopilot() -> None:
    dock = Dock(id="D1", name="d", lon=113.15, lat=23.03, vehicle_url="udp:10.0.0.7:14550")
    assert asyncio.run(_url_of(dock)) == "udp:10.0.0.7:14550"


def test_a_simulated_dock_needs_the_twin() -> None:
    with pytest.raises(ConfigError, match="D2's vehicle is the built-in simulator"):
        asyncio.run(_url_of(Dock(id="D2", name="d", lon=113.15, lat=23.03, vehicle_url="sim:")))


def test_folder_media_lists_photos_in_capture_order(tmp_path: Path) -> None:
    for name in ("00002.JPG", "00001.jpg", "notes.txt", "00003.jpeg"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in FolderMedia(tmp_path).collect()] == ["00001.jpg", "00002.JPG", "00003.jpeg"]
    with pytest.raises(InvalidInput, match="does not exist"):
        FolderMedia(tmp_path / "missing").collect()


def _stored_frame(frame_id: str, name: str) -> None:
    from flight.types import Flight
    from storage.platform import database
    from storage.repositories import flights
    from vision.types import Frame

    with database().unit_of_work() as session:
        if flights.get_flight(session=session, flight_id="F1") is None:
            flights.save_flight(session=session, flight=Flight(id="F1"))
        flights.save_frame(session=session, frame=Frame(
            id=frame_id, object_key=f"flights/F1/raw/{name}", sha256=frame_id, flight_id="F1", lon=113.15,
            lat=23.03, altitude_above_ground_m=60.0, yaw_deg=0.0, pitch_deg=-90.0, roll_deg=0.0))


def _capture(index: int, roll_deg: float) -> object:
    from flight.camera import CaptureInfo

    return CaptureInfo(index=index, time_utc_us=0, latitude_deg=23.03, longitude_deg=113.15, absolute_altitude_m=70.0,
                       relative_altitude_m=60.0, roll_deg=roll_deg, pitch_deg=0.0, yaw_deg=90.0, source="test")


def test_a_fixed_camera_takes_the_vehicle_attitude_after_landing() -> None:
    """Frames of an airframe-fixed camera: level ones stay to be analysed with the vehicle's yaw, a banked
    one and one without camera feedback are set aside with the reason; a gimbal's frames are untouched."""
    from dockpatrol.camera import CameraModel, CameraMount
    from pipeline.patrol import place_by_vehicle_attitude
    from storage.platform import database
    from storage.repositories import flights
    from vision.types import FrameStatus

    for i in (1, 2, 3):
        _stored_frame(f"FR-{i}", f"{i:05d}.jpg")
    captures = (_capture(1, 1.0), _capture(2, 40.0))
    assert place_by_vehicle_attitude("F1", captures, camera=CameraModel(), echo=lambda _: None) == 0
    notes: list[str] = []
    set_aside = place_by_vehicle_attitude("F1", captures, camera=CameraModel(mount=CameraMount.FIXED),
                                          echo=notes.append)
    with database().unit_of_work() as session:
        frames = {f.id: f for f in flights.frames_of_flight(session=session, flight_id="F1")}
    assert set_aside == 2 and "2 of 3 frames kept but not analysed" in notes[0]
    assert frames["FR-1"].status is FrameStatus.STORED  # level enough: analysed, with the vehicle's attitude
    assert (frames["FR-1"].yaw_deg, frames["FR-1"].roll_deg) != (0.0, 0.0)
    assert frames["FR-2"].status is FrameStatus.TOO_TILTED and frames["FR-2"].error
    assert frames["FR-3"].status is FrameStatus.TOO_TILTED and frames["FR-3"].error
