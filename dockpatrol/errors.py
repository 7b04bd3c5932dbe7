"""The one error hierarchy: every failure a user can act on is a DockpatrolError with a plain message."""

from __future__ import annotations


class DockpatrolError(Exception):
    """Root of every error dockpatrol raises on purpose; the message is meant for a person."""

    title = "dockpatrol error"


class NotFound(DockpatrolError, LookupError):
    """A named thing (dock, area, ticket, object key) does not exist."""

    title = "Not found"


class Conflict(DockpatrolError):
    """The request clashes with current state (duplicate id, wrong lifecycle state, busy vehicle)."""

    title = "Conflict"


class InvalidInput(DockpatrolError, ValueError):
    """Input failed validation; the message names the field or place and what is wrong."""

    title = "Invalid input"


class ConfigError(InvalidInput):
    """A setting (environment variable, URL, path) is malformed or points nowhere usable."""

    title = "Invalid configuration"


class StorageError(DockpatrolError):
    """The database or object store failed or refused an operation."""

    title = "Storage error"


class GeorefError(DockpatrolError):
    """A pixel could not be placed on the ground (missing pose, ray above the horizon, outside DEM)."""

    title = "Georeferencing error"


class FlightError(DockpatrolError):
    """A vehicle operation failed; ``result`` is the plugin's result enum and ``call`` the failing call."""

    title = "Flight error"

    def __init__(self, result: object, call: str, detail: str = "") -> None:
        self.result = result
        self.call = call
        self.detail = detail
        name = getattr(result, "name", str(result))
        super().__init__(f"{call} failed: {name}" + (f" ({detail})" if detail else ""))


class Unavailable(DockpatrolError):
    """A dependency (server, vehicle, model file) cannot be reached right now; retrying may help."""

    title = "Service unavailable"


class Forbidden(DockpatrolError):
    """The actor may not do this (missing role, another department's ticket, a bad signature)."""

    title = "Forbidden"
