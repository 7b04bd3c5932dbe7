// Tickets (工单) for the departments and the operations centre, and the review queue for reviewers.
import { api } from "./api.js";
import { currentLang, t } from "./i18n.js";
import * as mapView from "./map.js";
import { bars, fmtTime, guarded, h, section, toast } from "./ui.js";

const TICKET_COLOURS = {
  new: "#1c7ed6", dispatched: "#5c7cfa", accepted: "#7048e8", in_progress: "#f08c00", resolved: "#2b8a3e",
  verifying: "#0c8599", closed: "#868e96", rejected: "#adb5bd", reopened: "#e8590c",
};
const DAY_S = 24 * 3600;

function ticketChip(status) {
  return h("span", { class: `chip status-${status}`, style: `--c:${TICKET_COLOURS[status] || "#667"}` }, t(`tstatus.${status}`));
}

function label(className) {
  const zh = { steel_shed: "彩钢棚", rooftop_addition: "楼顶加建", construction_site: "施工工地", garbage_dump: "垃圾堆放",
    bare_soil: "裸土未覆盖", water_discoloration: "水体异色", smoke: "烟雾", open_fire: "明火", burn_scar: "火烧迹地" };
  return currentLang() === "en" ? className.replaceAll("_", " ") : zh[className] || className;
}

/** "3 h 20 min left" / "overdue by 2 d 4 h": the deadline as a person reads it. */
export function countdown(dueAt, now = Date.now()) {
  if (!dueAt) return { text: "—", cls: "" };
  const s = Math.round((new Date(dueAt).getTime() - now) / 1000);
  const a = Math.abs(s);
  const d = Math.floor(a / DAY_S);
  const hrs = Math.floor((a % DAY_S) / 3600);
  const min = Math.floor((a % 3600) / 60);
  const span = d ? `${d} d ${hrs} h` : hrs ? `${hrs} h ${min} min` : `${min} min`;
  if (s < 0) return { text: `${t("ticket.overdueBy")} ${span}`, cls: "sla-over" };
  return { text: `${t("ticket.left")} ${span}`, cls: s < DAY_S ? "sla-soon" : "sla-ok" };
}

function slaBadge(dueAt) {
  const c = countdown(dueAt);
  return h("span", { class: `sla ${c.cls}`, "data-testid": "sla", "data-due": dueAt || "" }, c.text);
}

// ---- tickets ---------------------------------------------------------------------------------------------

const filters = { view: "open" };

export async function renderTickets(panel, { me }) {
  const params = { limit: 200 };
  if (filters.view === "open") params.status = "new,dispatched,accepted,in_progress,reopened,resolved,verifying";
  if (filters.view === "overdue") params.overdue = "true";
  const page = await api("/api/tickets", { params });
  mapView.drawTickets(page.items, { onClick: (tk) => openTicket(panel, tk.id, { me }) });
  const tabs = h("div", { class: "segmented" }, ["open", "overdue", "all"].map((v) => h("button", {
    class: filters.view === v ? "active" : "", "data-testid": `ticket-filter-${v}`,
    onclick: () => { filters.view = v; renderTickets(panel, { me }); },
  }, t(`ticket.filter${v[0].toUpperCase()}${v.slice(1)}`))));
  const rows = page.items.map((tk) => h("li", { class: "ticket-row", "data-testid": "ticket-row", "data-ticket": tk.id,
    onclick: () => openTicket(panel, tk.id, { me }) },
  h("div", { class: "dock-head" }, h("strong", {}, tk.number), ticketChip(tk.status)),
  h("div", { class: "ticket-line" }, h("span", {}, `${label(tk.class_name)} · ${t(`dept.${tk.department}`)}`), slaBadge(tk.due_at)),
  h("div", { class: "muted small" }, `${t("ticket.grid")} ${tk.jurisdiction_id || "—"} · ${fmtTime(tk.created_at)} · ${t("ticket.sightings")} ${tk.sightings}`)));
  panel.replaceChildren(section("tab.tickets", tabs,
    h("p", { class: "muted small" }, `${page.total} · ${me.sees_all_departments ? t("ticket.filterAll") : t(`dept.${me.department}`)}`),
    rows.length ? h("ul", { class: "list tickets" }, rows) : h("p", { class: "muted" }, t("ticket.none"))));
}

/** Before and after side by side; ``single`` shows one image full width (an object has no "before"). */
function evidencePair(beforeUrl, afterUrl, { beforeKey = "ticket.before", afterKey = "ticket.after",
  missingKey = "ticket.noEvidence", single = false } = {}) {
  const img = (url, key) => h("figure", { class: "evidence" },
    url ? h("img", { src: url, alt: t(key), loading: "lazy" }) : h("div", { class: "no-image" }, t(missingKey)),
    h("figcaption", {}, t(key)));
  if (single) return h("div", { class: "evidence-single", "data-testid": "evidence" }, img(afterUrl || beforeUrl, "review.evidence"));
  return h("div", { class: "evidence-pair", "data-testid": "evidence" }, img(beforeUrl, beforeKey), img(afterUrl, afterKey));
}

export async function openTicket(panel, id, ctx) {
  const d = await api(`/api/tickets/${encodeURIComponent(id)}`);
  const tk = d.ticket;
  mapView.focusTicket(tk);
  const note = h("textarea", { rows: 2, placeholder: t("ticket.note"), "data-testid": "ticket-note" });
  // Transfer needs a target department: the operations centre does it from the rules screen or the API.
  const actions = h("div", { class: "actions wrap" }, d.actions.filter((a) => a !== "transfer").map((a) => h("button", {
    class: a === "reject" ? "danger small" : "primary small", "data-testid": `action-${a}`,
    onclick: () => guarded(async () => {
      await api(`/api/tickets/${encodeURIComponent(tk.id)}/transitions`, { method: "POST",
        body: { action: a, note: note.value, expected_version: tk.version } });
      toast(`${tk.number}: ${t(`action.${a}`)}`);
      await openTicket(panel, id, ctx);
    }),
  }, t(`action.${a}`))));
  panel.replaceChildren(
    h("button", { class: "link", "data-testid": "ticket-back", onclick: () => renderTickets(panel, ctx) }, `← ${t("ticket.back")}`),
    h("section", { class: "card ticket-detail", "data-testid": "ticket-detail" },
      h("div", { class: "dock-head" }, h("h2", { class: "ticket-number" }, tk.number), ticketChip(tk.status)),
      h("div", { class: "ticket-title" }, `${label(tk.class_name)} · ${t(`cat.${tk.category}`)}`),
      h("div", { class: "facts" },
        h("span", {}, `${t("common.department")}: ${t(`dept.${tk.department}`)}`),
        h("span", {}, `${t("ticket.grid")}: ${tk.jurisdiction_id || "—"}`),
        h("span", {}, `${t("ticket.score")}: ${(tk.score * 100).toFixed(0)}%`),
        h("span", {}, `${t("ticket.sightings")}: ${tk.sightings}`)),
      h("div", { class: "sla-big" }, `${t("ticket.due")} ${fmtTime(tk.due_at)} · `, slaBadge(tk.due_at)),
      evidencePair(d.evidence.before_url, d.evidence.after_url, { missingKey: "ticket.notReinspected" }),
      d.actions.length ? h("div", { class: "act" }, note, actions) : null),
    section("ticket.history", h("ol", { class: "timeline", "data-testid": "history" }, d.history.map((e) => h("li", {},
      h("div", { class: "muted small" }, `${fmtTime(e.at)} · ${e.actor}`),
      h("div", {}, e.from_status ? `${t(`tstatus.${e.from_status}`)} → ${t(`tstatus.${e.to_status}`)}` : t(`tstatus.${e.to_status || "new"}`),
        e.action ? h("span", { class: "muted" }, `  (${e.action})`) : null),
      e.note ? h("div", { class: "note" }, e.note) : null)))),
  );
}

// ---- review queue ---------------------------------------------------------------------------------------

let reviewKeys = null;

export async function renderReview(panel) {
  const page = await api("/api/review", { params: { limit: 100 } });
  const items = page.items;
  let index = 0;
  const reason = h("input", { placeholder: t("review.reason"), "data-testid": "review-reason" });
  const holder = h("div", {});
  const decide = (verb) => guarded(async () => {
    const item = items[index];
    if (!item) return;
    if (verb === "reject" && !reason.value.trim()) {
      reason.focus();
      toast(t("review.reason"), "error");
      return;
    }
    const body = verb === "reject" ? { reason: reason.value } : {};
    await api(`/api/review/${encodeURIComponent(item.id)}/${verb}`, { method: "POST", body });
    toast(`${item.id}: ${t(`review.${verb}`)}`);
    items.splice(index, 1);
    index = Math.min(index, items.length - 1);
    reason.value = "";
    show();
  });
  const show = () => {
    const item = items[index];
    if (!item) {
      holder.replaceChildren(h("p", { class: "muted", "data-testid": "review-empty" }, t("review.empty")));
      return;
    }
    mapView.focusGeometry(item.geometry);
    holder.replaceChildren(h("div", { class: "review-item", "data-testid": "review-item", "data-item": item.id },
      h("div", { class: "dock-head" }, h("strong", {}, `${label(item.class_name)} · ${(item.score * 100).toFixed(0)}%`),
        h("span", { class: "muted small" }, `${index + 1} / ${items.length}`)),
      h("div", { class: "muted small" }, `${item.kind} · ${item.reason} · ${fmtTime(item.created_at)}`),
      evidencePair(item.before_url, item.after_url, { beforeKey: "review.before", afterKey: "review.after",
        single: item.kind !== "change" }),
      reason,
      h("div", { class: "actions" },
        h("button", { class: "primary", "data-testid": "review-accept", onclick: () => decide("accept") }, t("review.accept")),
        h("button", { class: "danger", "data-testid": "review-reject", onclick: () => decide("reject") }, t("review.reject")),
        h("button", { "data-testid": "review-defer", onclick: () => decide("defer") }, t("review.defer")))));
  };
  if (reviewKeys) document.removeEventListener("keydown", reviewKeys);
  reviewKeys = (ev) => {
    if (!panel.isConnected || panel.dataset.screen !== "review" || ev.target.matches("input, textarea, select") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key.toLowerCase();
    if (k === "a") decide("accept");
    else if (k === "r") reason.value.trim() ? decide("reject") : reason.focus();
    else if (k === "d") decide("defer");
    else if (k === "j" && index < items.length - 1) { index += 1; show(); }
    else if (k === "k" && index > 0) { index -= 1; show(); }
    else return;
    ev.preventDefault();
  };
  document.addEventListener("keydown", reviewKeys);
  panel.replaceChildren(section("review.title", h("p", { class: "muted small" }, t("review.keys")), holder));
  show();
}

// ---- operations centre: deadlines per department -------------------------------------------------------

export async function renderSla(container) {
  const stats = await api("/api/tickets/stats");
  const late = await api("/api/tickets", { params: { due_within_h: 24, status: "new,dispatched,accepted,in_progress,reopened", limit: 50 } });
  const table = h("table", { class: "table", "data-testid": "sla-table" },
    h("thead", {}, h("tr", {}, h("th", {}, t("common.department")), h("th", {}, t("ops.open")), h("th", {}, t("ops.overdue")),
      h("th", {}, t("ops.dueSoon")), h("th", {}, t("ops.sla")))),
    h("tbody", {}, stats.departments.map((s) => h("tr", {}, h("td", {}, t(`dept.${s.key}`)), h("td", {}, s.open),
      h("td", { class: s.overdue ? "bad" : "" }, s.overdue), h("td", {}, s.due_soon),
      h("td", {}, s.sla_compliance === null ? "—" : `${(s.sla_compliance * 100).toFixed(0)}%`)))));
  // Departments with nothing resolved yet have no compliance figure: left out rather than shown as 0 %.
  const chart = bars(Object.fromEntries(stats.departments.filter((s) => s.sla_compliance !== null)
    .map((s) => [s.key, Math.round(s.sla_compliance * 100)])),
    (k) => t(`dept.${k}`), (k) => ({ enforcement: "#e8590c", environmental: "#2b8a3e", fire_emergency: "#c92a2a" }[k] || "#1864ab"));
  container.replaceChildren(
    section("ops.sla", table, h("div", { class: "chart-title muted small" }, `${t("ops.sla")} (%)`), chart),
    section("ops.overdueList", late.items.length ? h("ul", { class: "list" }, late.items.map((tk) => h("li", {},
      h("strong", {}, tk.number), ticketChip(tk.status), h("span", {}, t(`dept.${tk.department}`)), slaBadge(tk.due_at))))
      : h("p", { class: "muted" }, t("ops.noTickets"))));
}
