"""An S3 outage during a flight: raw frames wait on local disk and reach the store in order when it
returns; none lost, none duplicated. The outage is a real S3 server (moto) stopped and started again."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockpatrol.errors import StorageError
from pipeline.spool import RawSpool
from storage.objects import MinioObjectStore

DEADLINE_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """A moto S3 server of our own on ``port``, which the test stops and starts (the shared one stays up)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        moto = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:  # ready when it accepts connections
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"moto_server did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture
def s3(s3_endpoint: str) -> Iterator[S3Server]:
    del s3_endpoint  # the shared server must exist (the suite's S3 tier); this test runs its own beside it
    server = S3Server(_free_port())
    server.start()
    yield server
    server.stop()


def _store(port: int) -> MinioObjectStore:
    return MinioObjectStore(endpoint=f"127.0.0.1:{port}", access_key="test", secret_key="testtesttest",
                            bucket="spool-test", timeout_s=2.0, retries=0)


@pytest.mark.s3
def test_frames_spool_during_an_outage_and_upload_in_order(s3: S3Server, tmp_path: Path) -> None:
    """A moto server keeps its objects in memory: a restart empties it, so what is there after the
    outage is exactly what the spool delivered."""
    warnings: list[str] = []
    spool = RawSpool(tmp_path / "spool", store=_store(s3.port), max_bytes=10_000, warn_fraction=0.5,
                     warn=warnings.append)
    frames = [(f"flights/F1/raw/{i:05d}.jpg", bytes([i]) * 1000) for i in range(1, 9)]
    assert spool.put(*frames[0]) is True  # the store is up
    s3.stop()
    assert [spool.put(k, d) for k, d in frames[1:6]] == [False] * 5
    assert spool.state().frames == 5
    assert any("unreachable" in w for w in warnings) and any("full" in w for w in warnings)
    s3.start()  # back, and empty: recreate the bucket a real server would have kept
    _store(s3.port).exists("flights/F1/raw/none.jpg")
    assert spool.put(*frames[6]) is True  # first the five waiting, in order, then this one
    assert spool.put(*frames[7]) is True
    assert spool.state().frames == 0
    store = _store(s3.port)
    keys = [o.key for o in store.list("flights/F1/raw/")]
    assert keys == [k for k, _ in frames[1:]]  # frame 1 went before the restart emptied the server
    for key, data in frames[1:]:
        assert hashlib.sha256(store.get(key)).digest() == hashlib.sha256(data).digest()
    assert [o.modified_at for o in store.list("flights/F1/raw/")] == sorted(
        o.modified_at for o in store.list("flights/F1/raw/"))


@pytest.mark.s3
def test_a_full_spool_refuses_loudly(s3: S3Server, tmp_path: Path) -> None:
    spool = RawSpool(tmp_path / "spool", store=_store(s3.port), max_bytes=2_500, warn=lambda _: None)
    s3.stop()
    assert spool.put("flights/F1/raw/00001.jpg", b"a" * 1000) is False
    assert spool.put("flights/F1/raw/00002.jpg", b"b" * 1000) is False
    with pytest.raises(StorageError, match=r"spool .* is full.*00003\.jpg"):
        spool.put("flights/F1/raw/00003.jpg", b"c" * 1000)
    assert spool.pending_keys() == ["flights/F1/raw/00001.jpg", "flights/F1/raw/00002.jpg"]
