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
