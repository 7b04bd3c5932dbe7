"""Missions: docks, patrol areas, route planning, safety and scheduling (pure; no web or database code).

Entry points the CLI and API call:
- ``areas``: ``load_areas``/``areas_from_features``, ``load_no_fly_zones``, ``load_jurisdictions``,
  ``load_docks``, ``validate_polygon`` (GeoJSON/KML in, validated types out).
- ``planner``: ``plan_survey``, ``plan_corridor``, ``plan_orbit``, ``plan_feature`` → ``PatrolPlan``
  (one ``MissionPlan`` per sortie).
- ``safety``: ``check_plan``, ``coverage_fraction``, ``Router``.
- ``scheduler``: ``schedule`` → ``Timetable`` (entries and unscheduled requests with reasons).
- ``weather``: ``WeatherSource``, ``ConstantWeather``, ``MarkedWeather``, ``WeatherLimits``.
- ``planfile``: plan.json ``write_plan``/``read_plan``; ``qgc``: QGroundControl ``write_qgc``/``read_qgc``.
"""
