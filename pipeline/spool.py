"""Raw frames survive an object-store outage: what the store cannot take waits on local disk, in order.

The spool is a folder of numbered files, each one raw frame with a one-line JSON header (its key and
content type). A frame goes to the spool when the store is unreachable, or when earlier frames are
still waiting (so uploads keep capture order); :meth:`RawSpool.drain` uploads them oldest first once
the store answers and deletes each file only after its upload succeeded. A crash between the two
uploads the same bytes to the same key again: idempotent. The spool is bounded; past
``warn_fraction`` of its size every new frame logs a warning, and a full spool refuses the frame
with a :class:`StorageError` (the photo is still on the vehicle's card) rather than losing it silently.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockpatrol.errors import StorageError, Unavailable
from storage.objects import ObjectStore, validate_key

log = logging.getLogger("dockpatrol.spool")

SUFFIX = ".frame"
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class SpoolState:
    frames: int
    used_bytes: int
    max_bytes: int

    @property
    def fraction(self) -> float:
        return self.used_bytes / self.max_bytes if self.max_bytes else 1.0


class RawSpool:
    """Puts raw frames into ``store``, spooling them to ``directory`` while it is unreachable."""

    def __init__(self, directory: Path, *, store: ObjectStore, max_bytes: int = 8 * 1024**3,
                 warn_fraction: float = 0.8, warn: Callable[[str], None] = log.warning) -> None:
        if max_bytes <= 0:
            raise StorageError(f"spool size must be positive, got {max_bytes} bytes")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.max_bytes = max_bytes
        self.warn_fraction = warn_fraction
        self._warn = warn
        self._lock = threading.RLock()

    def _files(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if p.suffix == SUFFIX and not p.name.startswith(TMP_PREFIX))

    def state(self) -> SpoolState:
        with self._lock:
            files = self._files()
            return SpoolState(len(files), sum(p.stat().st_size for p in files), self.max_bytes)

    def pending_keys(self) -> list[str]:
        with self._lock:
            return [_read(p)[0] for p in self._files()]

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        """Store ``data`` under ``key``: True when it reached the store, False when it waits in the spool."""
        validate_key(key)
        with self._lock:
            if self._files():
                self.drain()
            if not self._files():
                try:
                    self.store.put(key, data, content_type=content_type)
                    return True
                except Unavailable as exc:
                    self._warn(f"object store unreachable ({exc}); spooling raw frames to {self.directory}")
            self._spool(key, data, content_type)
            return False

    def _spool(self, key: str, data: bytes, content_type: str) -> None:
        header = json.dumps({"key": key, "content_type": content_type}).encode() + b"\n"
        state = self.state()
        size = len(header) + len(data)
        if state.used_bytes + size > self.max_bytes:
            raise StorageError(f"raw-frame spool {self.directory} is full ({state.used_bytes} of {self.max_bytes} "
                               f"bytes, {state.frames} frames waiting for the object store); {key!r} was not "
                               "stored and stays only on the vehicle's card")
        files = self._files()
        seq = int(files[-1].stem) + 1 if files else 1
        path = self.directory / f"{seq:010d}{SUFFIX}"
        tmp = self.directory / f"{TMP_PREFIX}{path.name}"
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        used = state.used_bytes + size
        if used >= self.warn_fraction * self.max_bytes:
            self._warn(f"raw-frame spool {self.directory} is {used / self.max_bytes:.0%} full "
                       f"({state.frames + 1} frames, {used} of {self.max_bytes} bytes); the object store "
                       "is still unreachable")

    def drain(self) -> list[str]:
        """Upload spooled frames oldest first until the store fails again; returns the keys uploaded."""
        uploaded: list[str] = []
        with self._lock:
            for path in self._files():
                key, content_type, data = _read(path)
                try:
                    self.store.put(key, data, content_type=content_type)
                except Unavailable:
                    break
                path.unlink()
                uploaded.append(key)
        if uploaded:
            log.info("uploaded %d spooled raw frames to the object store", len(uploaded))
        return uploaded

    def sweep(self) -> int:
        """Delete half-written spool files a crash left behind; returns how many."""
        with self._lock:
            stale = [p for p in self.directory.iterdir() if p.name.startswith(TMP_PREFIX)]
            for p in stale:
                p.unlink(missing_ok=True)
            return len(stale)


def _read(path: Path) -> tuple[str, str, bytes]:
    raw = path.read_bytes()
    head, _, data = raw.partition(b"\n")
    meta = json.loads(head)
    return str(meta["key"]), str(meta.get("content_type", "application/octet-stream")), data
