"""A self-contained HTML report of one patrol: map, evidence crops and, when ground truth is known
(the digital twin's, or a field survey's), how the findings compare with it.

Everything is inline (SVG map drawn from the geometries, crops as data URIs), so the report
opens offline and can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import shape

from dockpatrol.taxonomy import CATEGORY_OF, DEPARTMENT_OF, LABELS_ZH
from pipeline.patrol import PatrolRun, Sighting

CATEGORY_COLOUR = {"construction": "#d9480f", "pollution": "#2b8a3e", "fire": "#c92a2a"}


@dataclass(frozen=True)
class TruthCheck:
    """Findings compared with known ground truth: which sighting matched which object, what was missed."""

    source: str  # who knows the truth, e.g. "twin" (the digital twin) or "survey"
    matched: Mapping[str, str]  # a sighting's first finding id → the truth object it matched
    points: tuple[tuple[str, float, float], ...]  # (class, lon, lat) of every truth object in view
    missed: tuple[tuple[str, str], ...]  # (object id, class) in view that no sighting matched

    def match_of(self, sighting: Sighting) -> str | None:
        return self.matched.get(sighting.finding_ids[0]) if sighting.finding_ids else None


def _svg(area_geojson: dict[str, Any], footprints: Sequence[dict[str, Any]], run: PatrolRun,
         truth_points: Sequence[tuple[str, float, float]], size_px: int = 520) -> str:
    geoms = [shape(area_geojson)] + [shape(f) for f in footprints]
    minx = min(g.bounds[0] for g in geoms)
    miny = min(g.bounds[1] for g in geoms)
    maxx = max(g.bounds[2] for g in geoms)
    maxy = max(g.bounds[3] for g in geoms)
    span = max(maxx - minx, maxy - miny) or 1e-6

    def xy(lon: float, lat: float) -> str:
        return f"{(lon - minx) / span * size_px:.1f},{(maxy - lat) / span * size_px:.1f}"

    def path(geom: dict[str, Any]) -> str:
        ring = shape(geom).exterior.coords
        return "M" + " L".join(xy(x, y) for x, y in ring) + " Z"

    parts = [f'<svg viewBox="-10 -10 {size_px + 20} {size_px + 20}" width="{size_px}" xmlns="http://www.w3.org/2000/svg">',
             '<rect x="-10" y="-10" width="100%" height="100%" fill="#f4f1ea"/>']
    parts += [f'<path d="{path(f)}" fill="#74c0fc" fill-opacity="0.12" stroke="#4dabf7" stroke-width="0.6"/>'
              for f in footprints]
    parts.append(f'<path d="{path(area_geojson)}" fill="none" stroke="#1c7ed6" stroke-width="2.5"/>')
    for cls, lon, lat in truth_points:
        x, y = xy(lon, lat).split(",")
        parts.append(f'<circle cx="{x}" cy="{y}" r="9" fill="none" stroke="#495057" stroke-width="1.5" '
                     f'stroke-dasharray="3 2"><title>truth: {html.escape(cls)}</title></circle>')
    for s in run.sightings:
        x, y = xy(s.lon, s.lat).split(",")
        colour = CATEGORY_COLOUR.get(s.category, "#000")
        parts.append(f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}"><title>{html.escape(s.class_name)} '
                     f'{s.score:.2f}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(run: PatrolRun, *, area_name: str, area_geojson: dict[str, Any],
                  footprints: Sequence[dict[str, Any]], evidence: dict[str, bytes], at: datetime, model: str,
                  truth: TruthCheck | None = None) -> str:
    """The report as one HTML document."""
    truth_points = truth.points if truth else ()
    rows = []
    for s in sorted(run.sightings, key=lambda s: (-s.score, s.class_name)):
        crop = evidence.get(s.evidence_key or "")
        img = (f'<img src="data:image/jpeg;base64,{base64.b64encode(crop).decode()}" alt="{s.class_name}">'
               if crop else "")
        department = DEPARTMENT_OF[CATEGORY_OF[s.class_name]]
        if truth is None:
            verdict = "-"
        elif truth.match_of(s):
            verdict = f"✔ matches {truth.source} truth"
        else:
            verdict = f"✘ no {truth.source} object (false alarm)"
        rows.append(
            f"<tr><td>{img}</td><td><b>{LABELS_ZH[s.class_name]}</b><br>{s.class_name}</td>"
            f"<td>{LABELS_ZH[str(department)]}<br>{department}</td><td>{s.score:.2f}</td><td>{s.frames}</td>"
            f"<td>{s.lat:.6f}, {s.lon:.6f}</td><td>{verdict}</td></tr>")
    missed = "".join(f"<li>{html.escape(cls)} ({html.escape(oid)})</li>" for oid, cls in truth.missed) if truth else ""
    found_true = sum(1 for s in run.sightings if truth and truth.match_of(s))
    truth_kpi = (f" · true <b>{found_true}</b> · {html.escape(truth.source)} objects in view <b>{len(truth.points)}</b>"
                 if truth else "")
    source = html.escape(truth.source) if truth else ""
    frames = ", ".join(f"{k} {v}" for k, v in sorted(run.frames.items()))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>巡查报告 Patrol report {html.escape(run.flight_id)}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",system-ui,sans-serif;margin:24px;color:#212529;max-width:1100px}}
h1{{font-size:22px;margin:0 0 4px}} .sub{{color:#495057;margin-bottom:16px}}
.grid{{display:grid;grid-template-columns:540px 1fr;gap:20px;align-items:start}}
table{{border-collapse:collapse;width:100%;font-size:13px}} td,th{{border-bottom:1px solid #dee2e6;padding:6px;text-align:left;vertical-align:middle}}
img{{width:150px;border-radius:4px}} .kpi{{display:inline-block;background:#f1f3f5;border-radius:6px;padding:8px 12px;margin:0 8px 8px 0}}
.note{{color:#868e96;font-size:12px;margin-top:16px}}
</style></head><body>
<h1>巡查报告 Patrol report — {html.escape(area_name)}</h1>
<div class="sub">{html.escape(run.area_id)} · dock {html.escape(run.dock_id)} · {at.isoformat()} · flight {html.escape(run.flight_id)}</div>
<div>
<span class="kpi">altitude <b>{run.altitude_m:.0f} m</b> · GSD <b>{run.gsd_cm:.1f} cm</b></span>
<span class="kpi">photos <b>{run.photos}</b> · frames {html.escape(frames)}</span>
<span class="kpi">objects found <b>{len(run.sightings)}</b>{truth_kpi}</span>
</div>
<p>{html.escape(run.flight_summary)}</p>
<div class="grid"><div>{_svg(area_geojson, footprints, run, truth_points)}
<div class="note">Blue outline: patrol area · light blue: photo footprints · dots: findings (orange construction, green pollution, red fire){f' · dashed circles: {source} ground truth' if truth else ''}.</div></div>
<div><table><tr><th>evidence</th><th>finding</th><th>department</th><th>score</th><th>frames</th><th>lat, lon</th><th>check</th></tr>
{''.join(rows) or '<tr><td colspan="7">no findings</td></tr>'}</table>
{f'<h3>Missed {source} objects</h3><ul>{missed}</ul>' if missed else ''}</div></div>
<p class="note">Detector {html.escape(model)}.{f' The check column compares each finding with the {source} ground truth.' if truth else ''}</p>
</body></html>"""
