"""Frames processed as they arrive: photo ready → raw stored (or spooled) → ingest → detect → tickets.

:class:`FrameFeed` runs beside a flight. Each camera-feedback event wakes it; it takes the photos the
media source has ready, stores each raw before anything reads it, and hands it to a worker that runs
the persisted jobs of that frame, so the first finding (and ticket) exists while the drone is still
flying. It measures capture → finding and capture → ticket latency per frame.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pipeline.ledger import Ledger, job_key
from pipeline.spool import RawSpool

log = logging.getLogger("dockpatrol.frames")

PHOTO_SUFFIXES = (".jpg", ".jpeg")
#: The job that turns a frame's findings into tickets, when the tickets pipeline is installed.
TICKETS_JOB = "tickets.open"
_INDEX = re.compile(r"(\d+)")


class MediaSource(Protocol):
    """Where a flight's photos come from: files, in capture order, in ``directory``.

    ``ready()`` lists the complete photos so far (during the flight); ``collect()`` the final list
    once the vehicle has landed.
    """

    @property
    def directory(self) -> Path: ...

    def ready(self) -> list[Path]: ...

    def collect(self) -> list[Path]: ...


def photos_in(directory: Path) -> list[Path]:
    """Complete photos in a media folder, in capture order (temporary and hidden files excluded)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".") and p.is_file())


def raw_key_for(flight_id: str, photo: Path) -> str:
    return f"flights/{flight_id}/raw/{photo.name}"


def owner_tag() -> dict[str, Any]:
    """Who runs a flight: recovery tells a dead owner's flight from a live one by it."""
    return {"host": platform.node(), "pid": os.getpid()}


def raw_spool() -> RawSpool:
    """This process's spool for raw frames, under the data directory, in front of the configured store."""
    from dockpatrol.settings import get_settings
    from storage.platform import object_store

    return _spool(get_settings().data_dir / "spool", object_store())


@lru_cache(maxsize=4)
def _spool(directory: Path, store: Any) -> RawSpool:
    """One spool (and its lock) per directory and store: settings that change (tests) get a fresh one."""
    return RawSpool(directory, store=store)


@dataclass(frozen=True)
class FrameJob:
    """What analysing a frame of this flight needs."""

    flight_id: str
    card_name: str
    scenarios: tuple[str, ...]
    area_id: str | None
    #: analyse as soon as ingested; False holds frames stored until their attitude is known (fixed cameras)
    analyse: bool = True


def process_frame(ledger: Ledger, work: FrameJob, raw_key: str,
                  on_stage: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Ingest, analyse and ticket one stored raw frame, each a persisted idempotent job."""
    ingested = ledger.run("frames.ingest", key=job_key("frames.ingest", work.flight_id, raw_key),
                          flight_id=work.flight_id, raw_key=raw_key)
    if on_stage:
        on_stage("ingested", ingested)
    if ingested["status"] not in ("stored", "analysed") or not work.analyse:
        return ingested
    frame_id = ingested["frame_id"]
    analysed = ledger.run("frames.analyse", key=job_key("frames.analyse", frame_id, work.card_name),
                          about_flight=work.flight_id, frame_id=frame_id, card_name=work.card_name,
                          scenarios=list(work.scenarios), area_id=work.area_id)
    if on_stage:
        on_stage("analysed", analysed)
    if analysed.get("findings") and tickets_installed():
        ticketed = ledger.run(TICKETS_JOB, key=job_key(TICKETS_JOB, frame_id), flight_id=work.flight_id,
                              frame_id=frame_id)
        if on_stage:
            on_stage("ticketed", ticketed)
    return analysed


def tickets_installed() -> bool:
    from pipeline.runner import JOBS, _load_jobs

    _load_jobs()
    return TICKETS_JOB in JOBS


@dataclass
class FrameLatency:
    """Wall-clock seconds from the camera's capture event to each stage of one frame, and from the photo
    being in hand (downloaded from the vehicle, or rendered by the twin) to its findings and ticket."""

    index: int
    findings: int = 0
    to_stored_s: float | None = None
    to_analysed_s: float | None = None
    to_ticket_s: float | None = None
    photo_to_analysed_s: float | None = None
    photo_to_ticket_s: float | None = None


@dataclass
class FeedStats:
    photos: int = 0
    stored: int = 0
    spooled: int = 0
    analysed: int = 0
    failed: list[str] = field(default_factory=list)
    latencies: list[FrameLatency] = field(default_factory=list)
    first_finding_in_air: bool = False

    def as_dict(self) -> dict[str, Any]:
        def q(attr: str) -> dict[str, float] | None:
            return _quantiles(sorted(v for x in self.latencies if x.findings and (v := getattr(x, attr)) is not None))

        return {"photos": self.photos, "stored": self.stored, "spooled": self.spooled, "analysed": self.analysed,
                "failed": list(self.failed), "first_finding_in_air": self.first_finding_in_air,
                "capture_to_finding_s": q("to_analysed_s"), "capture_to_ticket_s": q("to_ticket_s"),
                "photo_to_finding_s": q("photo_to_analysed_s"), "photo_to_ticket_s": q("photo_to_ticket_s")}


def _quantiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "min": round(values[0], 2), "median": round(values[len(values) // 2], 2),
            "max": round(values[-1], 2)}


class FrameFeed:
    """Stores and analyses a flight's photos while it flies; call :meth:`poll` on each capture event."""

    def __init__(self, *, work: FrameJob, media: MediaSource, ledger: Ledger, spool: RawSpool | None = None,
                 workers: int = 1, echo: Callable[[str], None] = log.info) -> None:
        self.work = work
        self.media = media
        self.ledger = ledger
        self.spool = spool or raw_spool()
        self.echo = echo
        self.stats = FeedStats()
        self.airborne = True
        self._taken: set[str] = set()
        self._captured_at: dict[int, float] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"frames-{work.flight_id}")
        self._futures: list[Future[Any]] = []

    def captured(self, index: int) -> None:
        """The vehicle reported photo ``index`` (camera feedback): its latency clock starts now."""
        self._captured_at.setdefault(index, time.monotonic())

    def poll(self, photos: list[Path] | None = None) -> int:
        """Take the photos ready now; returns how many were new."""
        photos = self.media.ready() if photos is None else photos
        with self._lock:
            fresh = [p for p in photos if p.name not in self._taken]
            self._taken.update(p.name for p in fresh)
        for photo in fresh:
            self._store(photo, time.monotonic())
        for key in self.spool.drain() if self.stats.spooled else ():
            self._submit(key, _index_of(Path(key)))
        return len(fresh)

    def _store(self, photo: Path, in_hand: float) -> None:
        key = raw_key_for(self.work.flight_id, photo)
        self.stats.photos += 1
        if self.spool.put(key, photo.read_bytes(), content_type="image/jpeg"):
            self.stats.stored += 1
            self._submit(key, _index_of(photo), in_hand)
        else:
            self.stats.spooled += 1

    def _submit(self, key: str, index: int, in_hand: float | None = None) -> None:
        t0 = self._captured_at.get(index)
        in_hand = in_hand if in_hand is not None else time.monotonic()
        latency = FrameLatency(index=index, to_stored_s=None if t0 is None else time.monotonic() - t0)
        self.stats.latencies.append(latency)
        self._futures.append(self._pool.submit(self._process, key, latency, t0, in_hand))

    def _process(self, key: str, latency: FrameLatency, t0: float | None, in_hand: float) -> None:
        start = t0 if t0 is not None else in_hand

        def on_stage(stage: str, result: dict[str, Any]) -> None:
            t = time.monotonic()
            now = t - start
            if stage == "analysed":
                latency.to_analysed_s, latency.findings = now, int(result.get("findings", 0))
                latency.photo_to_analysed_s = t - in_hand
                self.stats.analysed += 1
                if latency.findings and self.airborne and not self.stats.first_finding_in_air:
                    self.stats.first_finding_in_air = True
                    self.echo(f"first finding of {self.work.flight_id} stored {now:.1f} s after its capture, "
                              "while the vehicle is in the air")
            elif stage == "ticketed":
                latency.to_ticket_s, latency.photo_to_ticket_s = now, t - in_hand

        try:
            process_frame(self.ledger, self.work, key, on_stage)
        except Exception as exc:  # recorded failed in the jobs table; the flight's other frames go on
            self.stats.failed.append(f"{key}: {exc}")
            log.error("frame %s: %s", key, exc)

    def finish(self, photos: list[Path]) -> FeedStats:
        """After landing: take the final photo list, wait for every submitted frame."""
        self.airborne = False
        self.poll(photos)
        for future in self._futures:
            future.result()
        self._pool.shutdown(wait=True)
        return self.stats


def _index_of(photo: Path) -> int:
    match = _INDEX.search(photo.stem)
    return int(match.group(1)) if match else -1
