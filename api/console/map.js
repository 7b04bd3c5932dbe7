// The map: no internet tiles. Jurisdiction grids and patrol areas are the base outlines; docks,
// no-fly zones, findings, flight tracks and planned routes are layers on top.
import * as L from "./vendor/leaflet/leaflet-src.esm.js";
import { t } from "./i18n.js";

export const STATUS_COLOURS = {
  ready: "#1a9e5c", charging: "#d69a00", flying: "#1f6feb", maintenance: "#8a6d3b", offline: "#c0392b",
};
export const CATEGORY_COLOURS = { construction: "#e8590c", pollution: "#2b8a3e", fire: "#c92a2a" };

let map;
const layers = {};
let layerControl;
let legend;
// Base layers: outlines only, or one patrol mosaic per area served as XYZ tiles by the API (never the internet).
let outlinesOnly;
let mosaics = [];

export function createMap(el) {
  map = L.map(el, { zoomControl: true, attributionControl: false, minZoom: 10, maxZoom: 20, zoomSnap: 0.25 });
  map.setView([23.03, 113.15], 13);
  for (const name of ["grids", "areas", "nofly", "routes", "tracks", "findings", "tickets", "docks"]) {
    layers[name] = L.layerGroup().addTo(map);
  }
  outlinesOnly = L.layerGroup().addTo(map);
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  const note = L.control({ position: "bottomright" });
  note.onAdd = () => {
    const div = L.DomUtil.create("div", "map-note");
    div.dataset.i18n = "map.nobase";
    div.textContent = t("map.nobase");
    return div;
  };
  note.addTo(map);
  legend = L.control({ position: "bottomleft" });
  legend.onAdd = () => L.DomUtil.create("div", "map-legend");
  legend.addTo(map);
  relabelLayers();
  return map;
}

function fillLegend() {
  const box = legend.getContainer();
  box.replaceChildren();
  const row = (colour, text, shape) => {
    const r = L.DomUtil.create("div", "legend-row", box);
    const sw = L.DomUtil.create("span", `legend-swatch ${shape}`, r);
    sw.style.setProperty("--c", colour);
    L.DomUtil.create("span", "", r).textContent = text;
  };
  for (const [status, colour] of Object.entries(STATUS_COLOURS)) row(colour, t(`status.${status}`), "dot");
  for (const [cat, colour] of Object.entries(CATEGORY_COLOURS)) row(colour, t(`cat.${cat}`), "square");
  row("#c92a2a", t("layer.nofly"), "hatch");
}

export function relabelLayers() {
  fillLegend();
  if (layerControl) layerControl.remove();
  const overlays = {};
  for (const name of ["grids", "areas", "nofly", "docks", "findings", "tickets", "tracks", "routes"]) {
    overlays[t(`layer.${name === "nofly" ? "nofly" : name}`)] = layers[name];
  }
  const bases = { [t("layer.nobase")]: outlinesOnly };
  for (const m of mosaics) bases[`${t("layer.mosaic")}: ${m.name}`] = m.layer;
  layerControl = L.control.layers(bases, overlays, { collapsed: true, position: "topright" }).addTo(map);
}

// The newest mosaic per area (from /api/mosaics) as base layers; tiles sit in the tile pane, under every overlay.
export function setMosaics(list) {
  for (const m of mosaics) m.layer.remove();
  mosaics = list.map((m) => {
    const [west, south, east, north] = m.bounds;
    const day = m.captured_at ? m.captured_at.slice(0, 10) : m.flight_id;
    return {
      name: `${m.area_name} (${day})`,
      layer: L.tileLayer(m.tile_url, {
        bounds: L.latLngBounds([south, west], [north, east]), minZoom: m.min_zoom, maxZoom: 20,
        maxNativeZoom: Math.min(m.max_zoom, 20), className: "mosaic-tiles",
      }),
    };
  });
  relabelLayers();
}

export function invalidate() {
  if (map) setTimeout(() => map.invalidateSize(), 0);
}

export function drawGrids(fc) {
  layers.grids.clearLayers();
  L.geoJSON(fc, {
    style: { color: "#7d8fa3", weight: 1, dashArray: "4 3", fill: true, fillColor: "#ffffff", fillOpacity: 0.35 },
    onEachFeature: (f, lyr) => lyr.bindTooltip(f.properties.name, { sticky: true, className: "map-tip" }),
  }).addTo(layers.grids);
}

export function drawAreas(fc, { onClick } = {}) {
  layers.areas.clearLayers();
  L.geoJSON(fc, {
    style: { color: "#1864ab", weight: 2, fillColor: "#4dabf7", fillOpacity: 0.18 },
    onEachFeature: (f, lyr) => {
      lyr.bindTooltip(`${f.id} · ${f.properties.name}`, { sticky: true, className: "map-tip" });
      if (onClick) lyr.on("click", () => onClick(f));
    },
  }).addTo(layers.areas);
}

export function drawNoFly(fc) {
  layers.nofly.clearLayers();
  L.geoJSON(fc, {
    style: { color: "#c92a2a", weight: 1.5, fillColor: "#ff8787", fillOpacity: 0.25, dashArray: "2 4" },
    onEachFeature: (f, lyr) => lyr.bindTooltip(`⛔ ${f.properties.name}`, { sticky: true, className: "map-tip" }),
  }).addTo(layers.nofly);
}

export function drawDocks(docks, { onClick } = {}) {
  layers.docks.clearLayers();
  for (const d of docks) {
    const colour = STATUS_COLOURS[d.status] || "#555";
    const icon = L.divIcon({
      className: "dock-icon",
      html: `<span class="dock-pin" style="--c:${colour}" data-testid="dock-marker" data-dock="${encodeURIComponent(d.id)}"></span>`,
      iconSize: [22, 22], iconAnchor: [11, 11],
    });
    const m = L.marker([d.lat, d.lon], { icon, title: `${d.id} ${d.name}`, keyboard: true }).addTo(layers.docks);
    m.bindTooltip(d.id, { permanent: true, direction: "right", offset: [10, 0], className: "dock-label" });
    m.bindPopup(`<strong></strong><br><span></span>`);
    m.on("popupopen", (ev) => {
      const el = ev.popup.getElement();
      el.querySelector("strong").textContent = `${d.id} · ${d.name}`;
      el.querySelector("span").textContent = `${t(`status.${d.status}`)} · ${(d.max_range_m / 1000).toFixed(1)} km`;
    });
    if (onClick) m.on("click", () => onClick(d));
    L.circle([d.lat, d.lon], { radius: d.max_range_m, color: colour, weight: 0.6, opacity: 0.35, fill: false, dashArray: "1 6", interactive: false })
      .addTo(layers.docks);
  }
}

export function drawFindings(items) {
  layers.findings.clearLayers();
  for (const f of items) {
    const c = CATEGORY_COLOURS[f.category] || "#555";
    L.geoJSON(f.geometry, {
      style: { color: c, weight: 2, fillColor: c, fillOpacity: 0.35 },
      pointToLayer: (_, ll) => L.circleMarker(ll, { radius: 6, color: "#fff", weight: 1.5, fillColor: c, fillOpacity: 0.95 }),
    }).bindTooltip(`${t(`cat.${f.category}`)} · ${f.class_name} · ${(f.score * 100).toFixed(0)}%`, { className: "map-tip" })
      .addTo(layers.findings);
  }
}

export function drawTrack(geojson, { replace = false } = {}) {
  if (replace) layers.tracks.clearLayers();
  if (!geojson || !(geojson.geometry || geojson.type === "FeatureCollection")) return;
  L.geoJSON(geojson, { style: { color: "#1f6feb", weight: 3, opacity: 0.85 } }).addTo(layers.tracks);
}

export function drawRoute(route, { focus = false } = {}) {
  layers.routes.clearLayers();
  if (!route) return;
  const line = L.geoJSON(route, { style: { color: "#7048e8", weight: 2.5, dashArray: "6 4" } }).addTo(layers.routes);
  if (focus) map.fitBounds(line.getBounds(), { padding: [40, 40], maxZoom: 17 });
}

export function fitTo(...collections) {
  const group = L.featureGroup();
  for (const fc of collections) if (fc && fc.features && fc.features.length) L.geoJSON(fc).addTo(group);
  const bounds = group.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
}

export function flyToDock(d) {
  map.setView([d.lat, d.lon], Math.max(map.getZoom(), 15));
}

const liveTracks = {};

/** Extend a live flight's track with new positions ([lon, lat] pairs). */
export function extendTrack(flightId, points) {
  const latlngs = points.map(([lon, lat]) => [lat, lon]);
  if (!liveTracks[flightId]) {
    liveTracks[flightId] = L.polyline([], { color: "#1f6feb", weight: 3.5 }).addTo(layers.tracks);
    const path = liveTracks[flightId].getElement();
    if (path) {
      path.setAttribute("data-testid", "live-track");
      path.setAttribute("data-flight", flightId);
    }
  }
  for (const ll of latlngs) liveTracks[flightId].addLatLng(ll);
}

let focusLayer;

export function drawTickets(items, { onClick } = {}) {
  layers.tickets.clearLayers();
  for (const tk of items) {
    const overdue = tk.due_at && new Date(tk.due_at) < new Date();
    const c = CATEGORY_COLOURS[tk.category] || "#555";
    // Objects are metres across: a marker at the centre keeps them visible at district zoom.
    const shape = L.geoJSON(tk.geometry, { style: { color: c, weight: 2, fillColor: c, fillOpacity: 0.4 } });
    const pin = L.circleMarker(shape.getBounds().getCenter(), {
      radius: 7, color: overdue ? "#c92a2a" : "#fff", weight: overdue ? 3 : 2, fillColor: c, fillOpacity: 0.95,
    });
    L.featureGroup([shape, pin]).bindTooltip(`${tk.number} · ${t(`tstatus.${tk.status}`)}`, { className: "map-tip" })
      .on("click", () => onClick && onClick(tk)).addTo(layers.tickets);
  }
}

/** Bring an object into view and ring it: detections are metres across, too small to see unmarked. */
export function focusGeometry(geometry) {
  if (focusLayer) focusLayer.remove();
  if (!geometry) return;
  const shape = L.geoJSON(geometry, { style: { color: "#fab005", weight: 3, fillOpacity: 0.3 } });
  const centre = shape.getBounds().getCenter();
  const ring = L.marker(centre, { interactive: false, icon: L.divIcon({ className: "", html: '<div class="focus-ring"></div>', iconSize: [34, 34], iconAnchor: [17, 17] }) });
  focusLayer = L.layerGroup([shape, ring]).addTo(map);
  map.setView(centre, 17, { animate: false });
}

export function focusTicket(ticket) {
  focusGeometry(ticket.geometry);
}
