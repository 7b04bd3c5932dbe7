// Small DOM helpers shared by the console's screens (text only: no user data is ever parsed as HTML).
import { ApiError } from "./api.js";
import { currentLang, t } from "./i18n.js";
import { STATUS_COLOURS } from "./map.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 4000);
}

export function statusChip(status) {
  return h("span", { class: `chip status-${status}`, style: `--c:${STATUS_COLOURS[status] || "#667"}` }, t(`status.${status}`));
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB", { hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

export function section(titleKey, ...children) {
  return h("section", { class: "card" }, h("h2", {}, t(titleKey)), ...children);
}

/** What a person reads about a failure: the server's problem detail, or the browser's own message. */
export function errorText(err) {
  return err instanceof ApiError ? err.message : String(err);
}

export async function guarded(fn) {
  try {
    return await fn();
  } catch (err) {
    toast(errorText(err), "error");
    return undefined;
  }
}

export function bars(counts, labelOf, colourOf) {
  const entries = Object.entries(counts);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  if (!entries.length) return h("p", { class: "muted" }, t("common.none"));
  return h("div", { class: "bars" }, entries.map(([k, n]) =>
    h("div", { class: "bar-row" },
      h("span", { class: "bar-label" }, labelOf(k)),
      h("span", { class: "bar-track" }, h("span", { class: "bar", style: `width:${(100 * n) / max}%;background:${colourOf(k)}` })),
      h("span", { class: "bar-value" }, n))));
}
