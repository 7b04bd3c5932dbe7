"""The weather gate: a ``WeatherSource`` protocol, a constant source, operator marks, and flight limits.

The scheduler asks a source for the worst conditions over a flight's window and lets the
limits say, in words, why it may not fly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from dockpatrol.errors import InvalidInput


@dataclass(frozen=True)
class Weather:
    """Conditions over a time window (the worst expected in it)."""

    wind_m_s: float = 0.0
    gust_m_s: float = 0.0
    rain_mm_h: float = 0.0
    visibility_m: float = 10_000.0
    note: str = ""

    def worst(self, other: Weather) -> Weather:
        """The worse of two conditions, element by element."""
        notes = "; ".join(n for n in dict.fromkeys((self.note, other.note)) if n)
        return Weather(max(self.wind_m_s, other.wind_m_s), max(self.gust_m_s, other.gust_m_s),
                       max(self.rain_mm_h, other.rain_mm_h), min(self.visibility_m, other.visibility_m), notes)


@dataclass(frozen=True)
class WeatherLimits:
    """What a dock quadcopter may fly in; defaults suit an IP55 airframe of ~9 kg."""

    max_wind_m_s: float = 10.0
    max_gust_m_s: float = 15.0
    max_rain_mm_h: float = 1.0
    #: below this the imagery is useless for detection even where flight is allowed
    min_visibility_m: float = 1000.0

    def verdict(self, w: Weather) -> str | None:
        """None when flyable, else the first limit broken, in words."""
        why = None
        if w.wind_m_s > self.max_wind_m_s:
            why = f"wind {w.wind_m_s:g} m/s over the {self.max_wind_m_s:g} m/s limit"
        elif w.gust_m_s > self.max_gust_m_s:
            why = f"gusts {w.gust_m_s:g} m/s over the {self.max_gust_m_s:g} m/s limit"
        elif w.rain_mm_h > self.max_rain_mm_h:
            why = f"rain {w.rain_mm_h:g} mm/h over the {self.max_rain_mm_h:g} mm/h limit"
        elif w.visibility_m < self.min_visibility_m:
            why = f"visibility {w.visibility_m:g} m under the {self.min_visibility_m:g} m minimum"
        if why and w.note:
            why += f" ({w.note})"
        return why


@runtime_checkable
class WeatherSource(Protocol):
    """Anything that can say what the weather will be at a place over a time window."""

    def conditions(self, *, lon: float, lat: float, start: datetime, end: datetime) -> Weather:
        """Worst conditions expected at (lon, lat) between start and end (UTC, timezone-aware)."""
        ...


@dataclass(frozen=True)
class ConstantWeather:
    """The same weather everywhere, always: the default source, configured by settings."""

    weather: Weather = field(default_factory=lambda: Weather(wind_m_s=3.0))

    def conditions(self, *, lon: float, lat: float, start: datetime, end: datetime) -> Weather:
        return self.weather


@dataclass(frozen=True)
class WeatherMark:
    """An operator's statement about the weather over a window (e.g. a typhoon warning, 台风预警)."""

    start: datetime
    end: datetime
    weather: Weather

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInput("weather mark times must be timezone-aware")
        if not self.end > self.start:
            raise InvalidInput(f"weather mark ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")


@dataclass(frozen=True)
class MarkedWeather:
    """A source with operator marks laid over it: inside a mark the mark is the truth, elsewhere the base."""

    base: WeatherSource
    marks: tuple[WeatherMark, ...] = ()

    def conditions(self, *, lon: float, lat: float, start: datetime, end: datetime) -> Weather:
        hits = sorted((m for m in self.marks if m.start < end and m.end > start), key=lambda m: m.start)
        if not hits:
            return self.base.conditions(lon=lon, lat=lat, start=start, end=end)
        result: Weather | None = None
        cursor = start
        for m in hits:
            if m.start > cursor:
                gap = self.base.conditions(lon=lon, lat=lat, start=cursor, end=m.start)
                result = gap if result is None else result.worst(gap)
            result = m.weather if result is None else result.worst(m.weather)
            cursor = max(cursor, m.end)
        if cursor < end:
            tail = self.base.conditions(lon=lon, lat=lat, start=cursor, end=end)
            result = tail if result is None else result.worst(tail)
        assert result is not None
        return result


def with_marks(base: WeatherSource, marks: Sequence[WeatherMark]) -> WeatherSource:
    """``base`` with operator marks applied (the base itself when there are none)."""
    return MarkedWeather(base, tuple(marks)) if marks else base


def marks_from_json(doc: object) -> list[WeatherMark]:
    """Operator marks from a JSON list: {"start", "end", "wind_m_s", "gust_m_s", "rain_mm_h", "visibility_m", "note"}."""
    raws = doc.get("marks") if isinstance(doc, dict) else doc
    if not isinstance(raws, list):
        raise InvalidInput("weather marks must be a JSON list (or {\"marks\": [...]})")
    out = []
    for i, raw in enumerate(raws, start=1):
        where = f"weather mark #{i}"
        if not isinstance(raw, dict):
            raise InvalidInput(f"{where}: expected an object")
        times = []
        for key in ("start", "end"):
            try:
                t = datetime.fromisoformat(str(raw[key]).replace("Z", "+00:00"))
            except KeyError:
                raise InvalidInput(f"{where}: missing {key!r}") from None
            except ValueError:
                raise InvalidInput(f"{where}: {key} {raw[key]!r} is not an ISO 8601 time") from None
            if t.tzinfo is None:
                raise InvalidInput(f"{where}: {key} {raw[key]!r} needs a time zone (e.g. +08:00 or Z)")
            times.append(t)
        values = {}
        for key in ("wind_m_s", "gust_m_s", "rain_mm_h", "visibility_m"):
            if raw.get(key) is not None:
                try:
                    values[key] = float(raw[key])
                except (TypeError, ValueError):
                    raise InvalidInput(f"{where}: {key} must be a number, got {raw[key]!r}") from None
        out.append(WeatherMark(times[0], times[1], Weather(**values, note=str(raw.get("note", "")))))
    return out
