// Shared module of the shlyuz web console (docs/console.md). No build step: an ES module served from /ui/api.js.
// Every console page imports it: the session scope (X-Shlyuz-Scope) kept in localStorage, a fetch wrapper that sends
// it, JSON error display, a small DOM helper, and mountShell() which draws the top bar (navigation + scope selector).

export const SCOPE_KEY = "shlyuz.scope";
export const SCOPE_HEADER = "X-Shlyuz-Scope";
const SCOPE_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

// Pages of the console, in navigation order: [id, href, label].
export const PAGES = [
  ["home", "/ui/", "Overview"],
  ["journal", "/ui/journal.html", "Journal"],
  ["chains", "/ui/chains.html", "Chain runs"],
  ["services", "/ui/services.html", "Services"],
  ["fixtures", "/ui/fixtures.html", "Fixtures"],
  ["session", "/ui/session.html", "Session"],
  ["portal", "/ui/portal.html", "Portal"],
  ["con", "/ui/con.html", "State Corporation"],
  ["inbox", "/ui/inbox.html", "АРМ РШЭП inbox"],
];

/** The session scope chosen in the console ("" = the default scope, no header sent). */
export function getScope() {
  try {
    return localStorage.getItem(SCOPE_KEY) || "";
  } catch {
    return "";
  }
}

/** Set the scope ("" clears it); throws Error for an invalid name. Notifies scope listeners. */
export function setScope(value) {
  const scope = (value || "").trim();
  if (scope && !SCOPE_RE.test(scope)) {
    throw new Error("a scope is 1-64 letters, digits, '-' or '_' (starting with a letter or digit)");
  }
  if (scope) localStorage.setItem(SCOPE_KEY, scope);
  else localStorage.removeItem(SCOPE_KEY);
  window.dispatchEvent(new CustomEvent("shlyuz:scope", { detail: { scope } }));
  return scope;
}

/** Call cb(scope) whenever the scope changes (in this tab). */
export function onScopeChange(cb) {
  window.addEventListener("shlyuz:scope", (ev) => cb(ev.detail.scope));
}

/** Headers for a request: the scope header when a scope is set, plus `extra`. */
export function scopeHeaders(extra = {}) {
  const headers = { ...extra };
  const scope = getScope();
  if (scope) headers[SCOPE_HEADER] = scope;
  return headers;
}

/** An HTTP error from the gateway: status, stable code (from {"error":{"code","message"}}) and message. */
export class ApiFailure extends Error {
  constructor(status, code, message, body) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/**
 * fetch() with the scope header. `body` (an object) is sent as JSON. Resolves to the parsed JSON (or text when the
 * reply is not JSON, or null for 204); rejects with ApiFailure for a non-2xx reply.
 * options: {method, body, headers, signal, raw: true → resolve to the Response itself,
 *           scope: false → do not send X-Shlyuz-Scope (e.g. to read another session's journal entry)}
 */
export async function api(path, options = {}) {
  const { method = "GET", body, headers = {}, signal, raw = false, scope = true } = options;
  const init = { method, headers: scope ? scopeHeaders(headers) : { ...headers }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (raw && resp.ok) return resp;
  const type = resp.headers.get("Content-Type") || "";
  let data = null;
  if (resp.status !== 204) data = type.includes("json") ? await resp.json().catch(() => null) : await resp.text();
  if (!resp.ok) {
    const err = data && data.error ? data.error : { code: `HTTP_${resp.status}`, message: typeof data === "string" ? data.slice(0, 300) : resp.statusText };
    throw new ApiFailure(resp.status, err.code, err.message, data);
  }
  return data;
}

export const apiGet = (path, opts = {}) => api(path, { ...opts, method: "GET" });
export const apiPost = (path, body, opts = {}) => api(path, { ...opts, method: "POST", body });
export const apiPut = (path, body, opts = {}) => api(path, { ...opts, method: "PUT", body });
export const apiDelete = (path, opts = {}) => api(path, { ...opts, method: "DELETE" });

/**
 * el("div", {class: "card", "data-testid": "x", onclick: fn}, "text", childNode, [more]) — builds DOM safely
 * (strings become text nodes, never HTML).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  const add = (child) => {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(add);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  };
  children.forEach(add);
  return node;
}

/** Show an error (ApiFailure or Error) in the page's #error-box (or `box`); cleared by clearError(). */
export function showError(err, box = document.getElementById("error-box")) {
  if (!box) {
    console.error(err);
    return;
  }
  box.replaceChildren(
    el("strong", { class: "error-code", "data-testid": "error-code" }, err instanceof ApiFailure ? err.code : "ERROR"),
    " ",
    el("span", { "data-testid": "error-message" }, err instanceof ApiFailure ? err.message : String(err.message || err)),
    el("button", { class: "close", type: "button", title: "dismiss", onclick: () => clearError(box) }, "×"),
  );
  box.hidden = false;
}

export function clearError(box = document.getElementById("error-box")) {
  if (box) {
    box.replaceChildren();
    box.hidden = true;
  }
}

/** Run an async function, showing any error it throws; resolves to its result or undefined. */
export async function guarded(fn, box) {
  try {
    clearError(box);
    return await fn();
  } catch (err) {
    showError(err, box);
    return undefined;
  }
}

/** "2026-01-15T10:00:00.000+05:00" → "2026-01-15 10:00:00" (the gateway's local time, as given). */
export function fmtTime(iso) {
  if (!iso) return "";
  return String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/([+-]\d\d:\d\d|Z)$/, "");
}

/** Query-string parameter of the page's URL. */
export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

/**
 * Draw the top bar into <header id="shell" data-page="journal"></header>: brand, navigation (the link of
 * data-page is marked active) and the session scope selector. Returns the header element.
 */
export function mountShell(header = document.getElementById("shell")) {
  const active = header.dataset.page || "";
  header.classList.add("topbar");
  header.setAttribute("data-testid", "topbar");
  const nav = el(
    "nav",
    { class: "nav", id: "nav", "data-testid": "nav" },
    PAGES.map(([id, href, label]) =>
      el("a", { href, id: `nav-${id}`, "data-testid": `nav-${id}`, class: id === active ? "active" : null }, label),
    ),
  );
  const input = el("input", {
    id: "scope-input", "data-testid": "scope-input", placeholder: "default", size: 14, value: getScope(),
    title: "session scope sent as X-Shlyuz-Scope (empty: default)",
  });
  const form = el(
    "form",
    { class: "scope-form", id: "scope-form", "data-testid": "scope-form" },
    el("label", { for: "scope-input" }, "session"),
    input,
    el("button", { type: "submit", id: "scope-apply", "data-testid": "scope-apply" }, "use"),
    el("span", { id: "scope-current", "data-testid": "scope-current", class: "badge" }, getScope() || "default"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    try {
      const scope = setScope(input.value);
      document.getElementById("scope-current").textContent = scope || "default";
      clearError();
    } catch (err) {
      showError(err);
    }
  });
  header.replaceChildren(el("a", { class: "brand", href: "/ui/", "data-testid": "brand" }, "shlyuz"), nav, form);
  if (!document.getElementById("error-box")) {
    header.after(el("div", { id: "error-box", class: "error-box", "data-testid": "error-box", role: "alert", hidden: true }));
  }
  return header;
}

/**
 * Re-run `refresh` every `ms` while something is open, showing the state in the badge `liveId` ("following" /
 * "idle"); errors go to the page's error box. `set(true)` starts it (once), `set(false)` stops it.
 */
export function poller(liveId, refresh, ms = 1500) {
  let timer = null;
  const badge = (on) => {
    const live = document.getElementById(liveId);
    if (!live) return;
    live.className = on ? "live on" : "live off";
    live.textContent = on ? "following" : "idle";
  };
  return {
    set(on) {
      if (on && !timer) {
        badge(true);
        timer = setInterval(() => refresh().catch((err) => showError(err)), ms);
      } else if (!on && timer) {
        clearInterval(timer);
        timer = null;
        badge(false);
      }
    },
  };
}

/**
 * A provider's decision as the portal cabinet and the State Corporation page show it: the verdict (approved or
 * refused, with the ground), who decided and when, any result fields, and whether its signature verified.
 * `ids`: the data-testid of the verdict and of the verification line.
 */
export function decisionView(r, ids) {
  const v = r.verification || {};
  const fields = Object.entries(r.result || {});
  return [
    el(
      "div",
      { class: `verdict ${r.decision === "approved" ? "ok" : "bad"}`, "data-testid": ids.decision, "data-decision": r.decision },
      el("strong", {}, r.decision === "approved" ? "Approved" : "Refused"),
      r.reasonCode ? ` — ${r.reasonCode}: ${r.reason || ""}` : "",
      el("div", { class: "muted" }, `${r.decidedBy || ""}, ${fmtTime(r.decidedAt)}`),
      fields.length ? el("div", {}, fields.map(([k, val]) => `${k}: ${val}`).join("; ")) : "",
    ),
    el(
      "div",
      { class: `verdict ${v.verified ? "ok" : "bad"}`, "data-testid": ids.verification, "data-verified": String(!!v.verified) },
      el("strong", {}, v.verified ? "signature verified" : "signature NOT verified"),
      " ",
      v.message || "",
    ),
  ];
}

