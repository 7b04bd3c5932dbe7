"""Flying missions over MAVLink: ``Vehicle.connect(url)`` (flight.vehicle) with its mission, action,
telemetry and camera plugins, and ``fly(plan, vehicle)`` (flight.executor) for a whole patrol flight."""
