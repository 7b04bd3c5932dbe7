// dockpatrol console: sign-in, role-aware screens, the map. Plain ES modules, no build step.
import { all, api, follow, forget, login, setUnauthorizedHandler, token } from "./api.js";
import { applyLabels, currentLang, t, toggleLang } from "./i18n.js";
import * as mapView from "./map.js";
import { STATUS_COLOURS } from "./map.js";
import { renderReview, renderSla, renderTickets } from "./tickets.js";
import { bars, errorText, fmtTime, guarded, h, section, statusChip, toast } from "./ui.js";

// `needs`: an API path the screen works with; the screen is offered only when this server has it.
const SCREENS = {
  map: { roles: null, render: renderOverview },
  operator: { roles: ["admin", "operator"], render: renderOperator },
  tickets: { roles: ["admin", "enforcement", "environmental", "fire", "ops_centre"], needs: "/api/tickets",
    render: (panel) => renderTickets(panel, { me: state.me }) },
  review: { roles: ["admin", "environmental"], needs: "/api/review", render: renderReview },
  ops: { roles: ["admin", "ops_centre"], render: renderOps },
  admin: { roles: ["admin"], render: renderAdmin },
};

// `base`: the promise of the district's outlines (grids, areas, no-fly zones), which every screen waits for.
const state = { me: null, docks: [], areas: null, grids: null, nofly: null, mapReady: false, paths: new Set(), base: null };

// ---- sign-in ---------------------------------------------------------------------------------------

function showLogin() {
  document.getElementById("app").hidden = true;
  document.getElementById("login").hidden = false;
  applyLabels();
  document.getElementById("username").focus();
}

async function start() {
  setUnauthorizedHandler(() => {
    forget();
    location.hash = "";
    showLogin();
  });
  for (const b of document.querySelectorAll(".lang-toggle")) {
    b.addEventListener("click", () => {
      toggleLang();
      applyLabels();
      if (state.me) {
        showWhoami();
        mapView.relabelLayers();
        renderTabs();
        route();
      }
    });
  }
  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = document.getElementById("login-error");
    err.hidden = true;
    try {
      await login(ev.target.username.value.trim(), ev.target.password.value);
      ev.target.password.value = "";
      await enter();
    } catch (e) {
      err.textContent = `${t("login.failed")}: ${e.message}`;
      err.hidden = false;
    }
  });
  document.getElementById("logout").addEventListener("click", () => {
    forget();
    location.hash = "";
    location.reload();
  });
  window.addEventListener("hashchange", route);
  if (token()) {
    try {
      await enter();
      return;
    } catch {
      forget();
    }
  }
  showLogin();
}

async function enter() {
  state.me = await api("/api/auth/me");
  const doc = await api("/openapi.json").catch(() => ({ paths: {} }));
  state.paths = new Set(Object.keys(doc.paths || {}));
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  showWhoami();
  applyLabels();
  if (!state.mapReady) {
    mapView.createMap(document.getElementById("map"));
    state.mapReady = true;
  }
  renderTabs();
  state.base = loadOutlines();
  route();
  await state.base;
  await loadLayers();
  setInterval(tickClock, 1000);
  tickClock();
}

function showWhoami() {
  document.getElementById("whoami").textContent = `${state.me.name} · ${state.me.roles.map((r) => t(`role.${r}`)).join(" / ")}`;
}

function tickClock() {
  document.getElementById("clock").textContent = new Date().toLocaleTimeString(currentLang() === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}

function allowed(screen) {
  const { roles, needs } = SCREENS[screen];
  if (needs && !state.paths.has(needs)) return false;
  return !roles || state.me.roles.some((r) => roles.includes(r));
}

function renderTabs() {
  const nav = document.getElementById("tabs");
  nav.replaceChildren();
  for (const name of Object.keys(SCREENS)) {
    if (!allowed(name)) continue;
    nav.append(h("a", { href: `#/${name}`, class: "tab", "data-testid": `tab-${name}`, "data-screen": name }, t(`tab.${name}`)));
  }
}

function route() {
  if (!state.base) return;
  let screen = (location.hash.match(/^#\/(\w+)/) || [])[1] || defaultScreen();
  if (!SCREENS[screen] || !allowed(screen)) screen = defaultScreen();
  if (location.hash !== `#/${screen}`) history.replaceState(null, "", `#/${screen}`);  // the address names the screen
  for (const a of document.querySelectorAll(".tab")) a.classList.toggle("active", a.dataset.screen === screen);
  // Each visit renders into its own element: a slow render of a screen already left writes into a
  // detached element, never over the screen now shown.
  const panel = document.getElementById("panel");
  const view = h("div", { class: "screen", "data-screen": screen }, h("p", { class: "muted" }, t("common.loading")));
  panel.replaceChildren(view);
  panel.dataset.screen = screen;
  state.base
    .then(() => SCREENS[screen].render(view))
    .then(() => mapView.invalidate(), (err) => view.replaceChildren(h("p", { class: "error" }, errorText(err))));
}

function defaultScreen() {
  const r = state.me.roles;
  if (r.includes("operator")) return "operator";
  if (r.includes("ops_centre")) return "ops";
  if (r.includes("environmental") && allowed("review")) return "review";
  if (allowed("tickets")) return "tickets";
  return "map";
}

// ---- shared map data ---------------------------------------------------------------------------------

/** The outlines the screens' forms choose from, drawn and framed on the map. */
async function loadOutlines() {
  const [grids, areas, nofly] = await Promise.all([api("/api/grids"), api("/api/areas"), api("/api/no-fly-zones")]);
  state.grids = grids;
  state.areas = areas;
  state.nofly = nofly;
  mapView.drawGrids(grids);
  mapView.drawAreas(areas);
  mapView.drawNoFly(nofly);
  mapView.fitTo(grids.features.length ? grids : areas);
}

/** The live layers: docks, mosaics, findings, recent tracks, open tickets, patrols in the air. */
async function loadLayers() {
  await refreshDocks();
  // The mosaic base layer is optional: without it the map still shows the outlines.
  mapView.setMosaics(await api("/api/mosaics").catch(() => []));
  const findings = await api("/api/findings", { params: { limit: 500 } });
  mapView.drawFindings(findings.items);
  const flights = await api("/api/flights", { params: { limit: 5 } });
  for (const f of flights.items) mapView.drawTrack(await api(`/api/flights/${encodeURIComponent(f.id)}/track`));
  if (allowed("tickets")) {
    const open = await api("/api/tickets", { params: { status: "new,dispatched,accepted,in_progress,reopened", limit: 500 } });
    mapView.drawTickets(open.items, { onClick: (tk) => { location.hash = "#/tickets"; } });
  }
  const flying = await api("/api/flights", { params: { status: "flying", limit: 20 } });
  for (const f of flying.items) followFlight(f.id);
}

/** Live positions of a flying patrol, drawn as they are stored; the stream ends when it lands. */
function followFlight(id) {
  follow(`/api/flights/${encodeURIComponent(id)}/live`, (event, data) => {
    if (event === "positions") mapView.extendTrack(id, data);
    if (event === "status" && data.status !== "flying") refreshDocks();
  }).catch(() => {});
}

async function refreshDocks() {
  state.docks = await all("/api/docks");
  mapView.drawDocks(state.docks, { onClick: (d) => highlightDock(d.id) });
  redrawDockViews();
}

// The parts of a screen drawn from the dock list. Each is redrawn in place whenever the docks are
// fetched again (after sign-in, a status change, a followed patrol landing), so a screen opened
// before the first fetch, or left open while a patrol lands, shows the docks as they are now.
const DOCK_VIEWS = {
  cards: () => dockList(false),
  actions: () => dockList(true),
  select: (old) => dockSelect(old ? old.value : ""),
};

function dockView(kind, old = null) {
  const el = DOCK_VIEWS[kind](old);
  el.dataset.dockView = kind;
  return el;
}

function redrawDockViews() {
  for (const el of document.querySelectorAll("[data-dock-view]")) el.replaceWith(dockView(el.dataset.dockView, el));
}

function highlightDock(id) {
  const card = document.querySelector(`[data-dock-card="${CSS.escape(id)}"]`);
  if (card) {
    card.scrollIntoView({ behavior: "smooth", block: "nearest" });
    card.classList.add("flash");
    setTimeout(() => card.classList.remove("flash"), 1200);
  }
}

// ---- overview ----------------------------------------------------------------------------------------

async function renderOverview(panel) {
  const stats = await api("/api/stats");
  const flights = await api("/api/flights", { params: { limit: 8 } });
  const total = (o) => Object.values(o).reduce((a, b) => a + b, 0);
  panel.replaceChildren(
    h("div", { class: "kpis" },
      kpi(t("overview.docks"), total(stats.docks_by_status), "kpi-docks"),
      kpi(t("overview.areas"), stats.areas),
      kpi(t("overview.flights"), total(stats.flights_by_status)),
      kpi(t("overview.findings"), total(stats.findings_by_category))),
    section("overview.fleet", bars(stats.docks_by_status, (k) => t(`status.${k}`), (k) => STATUS_COLOURS[k] || "#888"),
      dockView("cards")),
    section("overview.findingsByCat", bars(stats.findings_by_category, (k) => t(`cat.${k}`), (k) => mapView.CATEGORY_COLOURS[k] || "#888")),
    section("overview.recentFlights", flights.items.length
      ? h("ul", { class: "list" }, flights.items.map((f) => h("li", {},
          h("button", { class: "link", onclick: async () => mapView.drawTrack(await api(`/api/flights/${encodeURIComponent(f.id)}/track`), { replace: true }) }, f.id),
          " ", statusChip(f.status), h("span", { class: "muted" }, ` ${f.dock_id || ""} · ${fmtTime(f.started_at)}`))))
      : h("p", { class: "muted" }, t("common.none"))),
  );
}

function kpi(label, value, testid) {
  return h("div", { class: "kpi", "data-testid": testid }, h("div", { class: "kpi-value" }, value), h("div", { class: "kpi-label" }, label));
}

function dockList(withActions) {
  return h("ul", { class: "docks" }, state.docks.map((d) => h("li", { class: "dock-card", "data-dock-card": d.id, "data-testid": "dock-card" },
    h("div", { class: "dock-head" },
      h("button", { class: "link dock-name", onclick: () => mapView.flyToDock(d) }, `${d.id} · ${d.name}`),
      statusChip(d.status)),
    h("div", { class: "muted small" }, `${(d.max_range_m / 1000).toFixed(1)} km · ${(d.endurance_s / 60).toFixed(0)} ${t("unit.min")} · ${d.vehicle_url}`),
    withActions ? h("div", { class: "actions" },
      d.status === "maintenance"
        ? h("button", { class: "small", onclick: () => setDockStatus(d, "ready") }, t("operator.setReady"))
        : h("button", { class: "small ghost", onclick: () => setDockStatus(d, "maintenance") }, t("operator.setMaintenance"))) : null)));
}

function dockSelect(chosen) {
  return h("select", { name: "dock", "data-testid": "plan-dock" }, h("option", { value: "" }, t("operator.nearest")),
    state.docks.map((d) => h("option", { value: d.id, selected: d.id === chosen }, `${d.id} · ${d.name}`)));
}

async function setDockStatus(d, status) {
  await guarded(async () => {
    await api(`/api/docks/${encodeURIComponent(d.id)}`, { method: "PATCH", body: { status } });
    await refreshDocks();
    toast(`${d.id}: ${t(`status.${status}`)}`);
  });
}

// ---- operator ----------------------------------------------------------------------------------------

async function renderOperator(panel) {
  const [missions, schedules] = await Promise.all([api("/api/missions", { params: { limit: 20 } }), api("/api/schedules", { params: { limit: 100 } })]);
  const areaSelect = h("select", { name: "area", "data-testid": "plan-area" },
    state.areas.features.map((f) => h("option", { value: f.id }, `${f.id} · ${f.properties.name}`)));
  const dockChoice = dockView("select");
  const planForm = h("form", { class: "form-row", onsubmit: async (ev) => {
    ev.preventDefault();
    await guarded(async () => {
      const m = await api("/api/missions", { method: "POST", body: { area_id: areaSelect.value, dock_id: ev.target.elements.dock.value || null } });
      mapView.drawRoute(m.route, { focus: true });
      toast(`${m.id}: ${t("status.planned")}`);
      route();
    });
  } }, h("label", {}, t("operator.area"), areaSelect), h("label", {}, t("operator.dock"), dockChoice),
  h("button", { class: "primary", type: "submit", "data-testid": "plan-submit" }, t("operator.planBtn")));

  panel.replaceChildren(
    section("operator.plan", planForm),
    section("operator.missions", missions.items.length ? h("ul", { class: "list missions" }, missions.items.map(missionRow))
      : h("p", { class: "muted" }, t("operator.noMissions"))),
    section("operator.docks", dockView("actions")),
    section("operator.schedules", h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, "ID"), h("th", {}, t("operator.area")), h("th", {}, "RRULE / cron"), h("th", {}, "→"))),
      h("tbody", {}, schedules.items.map((s) => h("tr", { class: s.enabled ? "" : "disabled" },
        h("td", {}, s.id), h("td", {}, s.area_id), h("td", { class: "mono" }, s.rule), h("td", {}, fmtTime(s.next_at))))))),
  );
}

function missionRow(m) {
  const s = m.summary || {};
  const facts = [s.altitude_m && `${s.altitude_m.toFixed(0)} m`, s.gsd_cm && `${s.gsd_cm.toFixed(1)} cm/px`,
    s.duration_s && `${(s.duration_s / 60).toFixed(1)} ${t("unit.min")}`, s.frame_count && `${s.frame_count} ${t("unit.photos")}`].filter(Boolean).join(" · ");
  const pending = m.pending ? h("div", { class: "pending", "data-testid": "mission-pending", "data-command": m.pending.command },
    m.pending.command === "launch" ? t("operator.pendingLaunch") : t("operator.pendingAbort")) : null;
  const canLaunch = m.status === "planned" && !m.pending;
  const canAbort = (m.status === "planned" || m.status === "flying") && !(m.pending && m.pending.command === "abort");
  return h("li", { class: "mission", "data-testid": "mission-row", "data-mission": m.id },
    h("div", { class: "dock-head" },
      h("button", { class: "link", onclick: () => mapView.drawRoute(m.route, { focus: true }) }, `${m.id}`),
      statusChip(m.status)),
    h("div", { class: "muted small" }, `${m.area_id} ← ${m.dock_id} · ${facts}`),
    pending,
    h("div", { class: "actions" },
      canLaunch ? h("button", { class: "primary small", "data-testid": "mission-launch", onclick: () => missionCommand(m, "launch") }, t("operator.launch")) : null,
      canAbort ? h("button", { class: "danger small", "data-testid": "mission-abort", onclick: () => missionCommand(m, "abort") }, t("operator.abort")) : null));
}

async function missionCommand(m, command) {
  const question = `${t(command === "launch" ? "operator.confirmLaunch" : "operator.confirmAbort")} ${m.id}?`;
  if (!window.confirm(question)) return;
  await guarded(async () => {
    await api(`/api/missions/${encodeURIComponent(m.id)}/${command}`, { method: "POST" });
    route();
    if (command === "launch") watchLaunch(m.id);
  });
}

/** How long a launched mission is watched for its flight, and how often (the service ticks about once a minute). */
const LAUNCH_WATCH_MS = 10 * 60 * 1000;
const LAUNCH_POLL_MS = 2000;

/** Wait for the patrol service to take a launch; its flight's positions then draw on the map live. */
async function watchLaunch(missionId) {
  const deadline = Date.now() + LAUNCH_WATCH_MS;
  while (Date.now() < deadline) {
    const found = await api("/api/flights", { params: { mission_id: missionId, limit: 1 } }).catch(() => null);
    if (found && found.items.length) {
      toast(`${missionId} → ${found.items[0].id}`);
      followFlight(found.items[0].id);
      await refreshDocks();
      if (location.hash === "#/operator") route();
      return;
    }
    const mission = await api(`/api/missions/${encodeURIComponent(missionId)}`).catch(() => null);
    if (mission && !["planned", "flying"].includes(mission.status)) {
      route();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, LAUNCH_POLL_MS));
  }
}

// ---- operations centre ---------------------------------------------------------------------------------

async function renderOps(panel) {
  const stats = await api("/api/stats");
  const audit = await api("/api/audit", { params: { limit: 15 } });
  const hasTickets = Object.keys(stats.tickets_by_department).length > 0;
  const sla = h("div", { class: "stack" });
  if (state.paths.has("/api/tickets/stats")) await renderSla(sla);
  panel.replaceChildren(
    sla,
    section("ops.ticketsByDept", hasTickets ? bars(stats.tickets_by_department, (k) => t(`dept.${k}`), () => "#1864ab") : h("p", { class: "muted" }, t("ops.noTickets"))),
    section("ops.ticketsByStatus", hasTickets ? bars(stats.tickets_by_status, (k) => t(`tstatus.${k}`), () => "#5c7cfa") : h("p", { class: "muted" }, t("ops.noTickets"))),
    section("overview.fleet", bars(stats.docks_by_status, (k) => t(`status.${k}`), (k) => STATUS_COLOURS[k] || "#888")),
    section("ops.audit", auditTable(audit.items)),
  );
}

function auditTable(items) {
  return h("table", { class: "table", "data-testid": "audit-table" },
    h("thead", {}, h("tr", {}, h("th", {}, t("common.when")), h("th", {}, t("common.who")), h("th", {}, t("common.what")), h("th", {}, t("common.resource")))),
    h("tbody", {}, items.map((e) => h("tr", {}, h("td", {}, fmtTime(e.at)), h("td", {}, e.actor), h("td", { class: "mono" }, e.action),
      h("td", {}, `${e.resource_type} ${e.resource_id}`)))));
}

// ---- admin ---------------------------------------------------------------------------------------------

async function renderAdmin(panel) {
  const [users, tokens, allow, audit] = await Promise.all([api("/api/users"), api("/api/tokens"),
    api("/api/settings/vehicle-allow-list"), api("/api/audit", { params: { limit: 20 } })]);
  const roles = ["admin", "operator", "enforcement", "environmental", "fire", "ops_centre"];
  const userForm = h("form", { class: "form-grid", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    await guarded(async () => {
      await api("/api/users", { method: "POST", body: { username: f.username.value, password: f.password.value, display_name: f.display.value, roles: [f.role.value] } });
      toast(t("common.saved"));
      route();
    });
  } }, h("input", { name: "username", placeholder: t("login.username"), required: true, pattern: "[a-z0-9_.\\-]+" }),
  h("input", { name: "display", placeholder: t("common.name") }),
  h("input", { name: "password", type: "password", placeholder: t("login.password"), minlength: 10, required: true }),
  h("select", { name: "role" }, roles.map((r) => h("option", { value: r }, t(`role.${r}`)))),
  h("button", { class: "primary", type: "submit" }, t("admin.addUser")));
  const tokenOut = h("p", { class: "token-once", hidden: true });
  const tokenForm = h("form", { class: "form-grid", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    await guarded(async () => {
      const created = await api("/api/tokens", { method: "POST", body: { name: f.name.value, roles: [f.role.value] } });
      await renderAdmin(panel);
      const out = panel.querySelector(".token-once");
      out.textContent = `${t("admin.tokenOnce")} ${created.token}`;
      out.hidden = false;
    });
  } }, h("input", { name: "name", placeholder: "dock-D3", required: true }),
  h("select", { name: "role" }, roles.map((r) => h("option", { value: r }, t(`role.${r}`)))),
  h("button", { class: "primary", type: "submit" }, t("admin.issueToken")));
  const allowInput = h("textarea", { rows: 3, class: "mono" }, allow.entries.join("\n"));
  panel.replaceChildren(
    section("admin.users", h("table", { class: "table", "data-testid": "users-table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("login.username")), h("th", {}, t("common.roles")), h("th", {}, t("common.department")), h("th", {}, t("common.status")))),
      h("tbody", {}, users.items.map((u) => h("tr", { class: u.active ? "" : "disabled" }, h("td", {}, u.username, h("div", { class: "muted small" }, u.display_name)),
        h("td", {}, u.roles.map((r) => t(`role.${r}`)).join(", ")), h("td", {}, u.department ? t(`dept.${u.department}`) : "—"),
        h("td", {}, u.active ? "✓" : "✗"))))), userForm),
    section("admin.tokens", h("ul", { class: "list" }, tokens.map((tk) => h("li", {},
      h("strong", {}, tk.name), " ", h("span", { class: "muted small" }, `${tk.roles.join(",")} · ${fmtTime(tk.created_at)}`),
      tk.revoked_at ? h("span", { class: "chip" }, "✗") : h("button", { class: "small danger", onclick: async () => {
        await guarded(() => api(`/api/tokens/${tk.id}/revoke`, { method: "POST" }));
        route();
      } }, t("admin.revoke"))))), tokenForm, tokenOut),
    section("admin.allowList", allowInput, h("button", { class: "primary small", onclick: async () => {
      await guarded(async () => {
        await api("/api/settings/vehicle-allow-list", { method: "PUT", body: { entries: allowInput.value.split(/\s+/).filter(Boolean) } });
        toast(t("common.saved"));
      });
    } }, t("admin.save"))),
    section("admin.audit", auditTable(audit.items)),
  );
}

start();
