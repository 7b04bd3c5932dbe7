"""The object store unreachable for part of a flight: raw frames spool to local disk and are uploaded
in order when it returns; every photo is stored once, ingested once and analysed. The outage is a TCP
proxy in front of the shared S3 server, closed and reopened (the server itself keeps running)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.s3]
DEADLINE_S = 240.0


class Proxy:
    """Forwards 127.0.0.1:<port> to the S3 server; :meth:`down` refuses and cuts connections until :meth:`up`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxy(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    from dockpatrol.settings import reset_settings_cache
    from storage import platform

    host, port = s3_endpoint.rsplit(":", 1)
    p = Proxy((host, int(port)))
    p.up()
    monkeypatch.setenv("DOCKPATROL_S3_ENDPOINT", f"127.0.0.1:{p.port}")
    monkeypatch.setenv("DOCKPATROL_S3_BUCKET", f"outage-{uuid.uuid4().hex[:10]}")
    reset_settings_cache()
    platform.reset()  # a new store, so a new spool in front of it
    yield p
    p.down()
    platform.reset()


def test_frames_spool_while_the_store_is_down_and_none_is_lost(proxy: Proxy, isolated_data_dir: Path) -> None:
    from api.demo_district import seed
    from dockpatrol.camera import CameraModel
    from pipeline.frames import raw_spool
    from pipeline.ledger import Ledger, RetryPolicy
    from pipeline.patrol import PatrolOptions, run_patrol
    from pipeline.runner import InProcessRunner
    from sim.demo import TwinVehicle, area_around, demo_world
    from sim.world import DEMO_OFFSET
    from storage.platform import database, object_store
    from storage.repositories import areas, flights, jobs

    world = demo_world()
    with database().unit_of_work() as session:
        district = seed(session)
    lon, lat = world.hotspots(limit=1)[0]
    patrol = area_around(lon, lat, district, area_id="AO", size_m=(160.0, 110.0))
    area = replace(patrol.area, gsd_cm=5.0)
    with database().unit_of_work() as session:
        areas.upsert(session=session, area=area)
    options = PatrolOptions(camera=CameraModel().scaled(1600))
    twin = TwinVehicle(world=world, camera=options.camera, media_dir=isolated_data_dir / "media" / "F-outage",
                       speedup=6.0)
    store = object_store()
    outage: dict[str, int] = {}

    def cut_and_restore() -> None:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and len(twin.ready()) < 2:
            time.sleep(0.05)
        proxy.down()
        while time.monotonic() < deadline and raw_spool().state().frames < 2:
            time.sleep(0.05)
        outage["spooled"] = raw_spool().state().frames
        proxy.up()

    chaos = threading.Thread(target=cut_and_restore, daemon=True)
    chaos.start()
    run = run_patrol(area=area, dock=patrol.dock, at=world.epoch + DEMO_OFFSET, vehicle=twin, media=twin,
                     options=options, flight_id="F-outage",
                     ledger=Ledger(runner=InProcessRunner(workers=1), retry=RetryPolicy(base_delay_s=0.5)))
    chaos.join(timeout=60)
    assert outage.get("spooled", 0) >= 2, outage  # frames waited on disk during the outage
    assert run.pipeline["spooled"] >= 2
    photos = sorted(p.name for p in (isolated_data_dir / "media" / "F-outage").glob("*.jpg"))
    raw = sorted(o.key.rsplit("/", 1)[-1] for o in store.list("flights/F-outage/raw/"))
    assert photos and raw == photos  # none lost
    for name in photos:
        assert store.get(f"flights/F-outage/raw/{name}") == (isolated_data_dir / "media" / "F-outage" / name).read_bytes()
    with database().unit_of_work() as session:
        frames = flights.frames_of_flight(session=session, flight_id="F-outage")
        mission = flights.require_mission(session=session, mission_id=run.mission_id)
        ingests = Counter(j.kwargs["raw_key"] for j in jobs.listing(session=session, flight_id="F-outage")
                          if j.name == "frames.ingest")
    assert len(frames) == len(photos) and {str(f.status) for f in frames} == {"analysed"}
    assert set(ingests.values()) == {1} and len(ingests) == len(photos)  # none duplicated
    assert raw_spool().state().frames == 0
    assert str(mission.status) == "completed"
