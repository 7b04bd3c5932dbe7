"""Vehicle connection URLs accepted for docks: a scheme allow-list checked before anything is stored."""

from __future__ import annotations

import re

from dockpatrol.errors import InvalidInput

SCHEMES = ("sim", "udp", "udpin", "udpout", "tcp", "tcpin", "serial")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$")


def check_vehicle_url(url: str) -> str:
    """Return ``url`` if it is ``sim:``, ``udp[in|out]:host:port``, ``tcp:host:port`` or a serial device."""
    if url.startswith("/dev/") or url.startswith("serial:"):
        return url
    scheme, _, rest = url.partition(":")
    if scheme not in SCHEMES:
        raise InvalidInput(f"vehicle URL {url!r}: scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
    if scheme == "sim":
        return url
    if not _HOST_PORT.match(rest) or not 0 < int(rest.rsplit(":", 1)[1]) < 65536:
        raise InvalidInput(f"vehicle URL {url!r}: expected {scheme}:HOST:PORT, e.g. {scheme}:127.0.0.1:14550")
    return url
