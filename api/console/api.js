// Talks to the dockpatrol API with the signed-in user's bearer token; errors carry the problem+json detail.
const TOKEN_KEY = "dockpatrol.token";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let onUnauthorized = () => {};

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forget() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem("dockpatrol.me");
}

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const r = await fetch("/api/auth/token", { method: "POST", body });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data);
  sessionStorage.setItem(TOKEN_KEY, data.access_token);
  return data;
}

export async function api(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) {
    onUnauthorized();
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** Every page of a paginated list (the console's lists are small: a district's fleet). */
export async function all(path, params = {}) {
  const items = [];
  for (let offset = 0; ; offset += 500) {
    const page = await api(path, { params: { ...params, offset, limit: 500 } });
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return items;
  }
}

/** Follow a Server-Sent Events stream with the bearer header (EventSource cannot send one). */
export async function follow(path, onEvent, { signal } = {}) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" }, signal });
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1];
      const data = (block.match(/^data: (.*)$/m) || [])[1];
      if (event) onEvent(event, data ? JSON.parse(data) : null);
    }
  }
}
