"""Which vehicle addresses a dock may point at: the built-in simulator, serial devices, and hosts the
admin allow-lists (by default loopback and the private networks a district's dock LAN uses)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy.orm import Session

from dockpatrol.errors import InvalidInput

SIM_URL = "sim:"
SETTING_KEY = "vehicle_url_allow_list"
#: Loopback and RFC 1918 / RFC 4193 private ranges; public addresses need the admin's explicit entry.
DEFAULT_ALLOW_LIST: tuple[str, ...] = ("sim:", "serial", "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12",
                                       "192.168.0.0/16", "::1/128", "fc00::/7")


def check_allow_entry(entry: str) -> str:
    """An allow-list entry: ``sim:``, ``serial``, a CIDR network or a host name."""
    text = entry.strip()
    if text in ("sim:", "serial"):
        return text
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        pass
    if not text or len(text) > 253 or not all(p.isascii() and (p.replace("-", "").isalnum()) for p in text.split(".")):
        raise InvalidInput(f"allow-list entry {entry!r} is not sim:, serial, a CIDR network or a host name")
    return text.lower()


def allow_list(session: Session) -> list[str]:
    from storage.repositories import audit

    stored = audit.get_setting(session=session, key=SETTING_KEY)
    return list(stored) if isinstance(stored, list) else list(DEFAULT_ALLOW_LIST)


def check_vehicle_url(url: str, allowed: list[str]) -> str:
    """``url`` if it parses and its host is allow-listed; InvalidInput naming both otherwise."""
    from flight.connection import parse_vehicle_url

    if url == SIM_URL:  # the built-in simulator stands in for this dock's drone
        if SIM_URL in allowed:
            return url
        raise InvalidInput("vehicle URL 'sim:' (the built-in simulator) is not on the allow-list")
    address: Any = parse_vehicle_url(url)
    if address.scheme == "serial":
        if "serial" in allowed:
            return url
        raise InvalidInput(f"vehicle URL {url!r}: serial devices are not on the allow-list")
    if address.scheme in ("udpin", "tcpin"):  # we listen locally; the vehicle comes to us
        return url
    host = address.host.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in allowed:
        if entry in ("sim:", "serial"):
            continue
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return url
            except ValueError:
                continue
        elif host == entry:
            return url
    raise InvalidInput(f"vehicle URL {url!r}: host {host!r} is not on the admin's vehicle allow-list "
                       f"({', '.join(allowed)})")
