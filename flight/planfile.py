"""Reading the plan a flight flies: dockpatrol's plan.json or a QGroundControl .plan, told apart by content.

The formats themselves belong to missions/ (missions.planfile, missions.qgc); this module only picks
the reader, bounds the file size and names the file in every error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockpatrol.errors import InvalidInput
from missions.types import MissionPlan


def is_qgc_plan(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("fileType") == "Plan"


def plan_from_document(doc: Any, *, name: str = "plan") -> MissionPlan:
    """A MissionPlan from a parsed plan.json (``format: dockpatrol-plan``) or QGC .plan document."""
    if is_qgc_plan(doc):
        from missions.qgc import from_qgc

        return from_qgc(doc, dock_id=name)
    if not isinstance(doc, Mapping):
        raise InvalidInput("expected a JSON object (a dockpatrol plan.json or a QGroundControl .plan)")
    from missions.planfile import plan_from_dict

    return plan_from_dict(doc)


def read_plan_file(path: str | Path) -> MissionPlan:
    """Read and validate a plan file; InvalidInput names the file and the first problem."""
    from missions.planfile import read_plan_document

    return read_plan_document(path, lambda doc: plan_from_document(doc, name=Path(path).stem))
