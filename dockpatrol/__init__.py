"""dockpatrol core: settings, errors, taxonomy, geodesy and camera model shared by every package."""

__version__ = "0.1.0"
