// The portal page (docs/portal.md): log in by IIN + password or by EDS through NCALayer, build the Application,
// sign it through NCALayer in the browser, submit it, and follow it in the personal cabinet.

import { ApiFailure, api, apiGet, apiPost, clearError, decisionView, el, fmtTime, guarded, mountShell, onScopeChange, poller, showError } from "/ui/api.js";
import { probe, rememberUrl, signXml, signerUrl } from "/ui/ncalayer.js";

mountShell();

const APP_NS = "urn:shlyuz:egov:application:1.0";
const TOKEN_KEY = "shlyuz.portal.token";
const FINAL = new Set(["APPROVED", "REFUSED", "REJECTED", "RESULT_INVALID", "NOT_SENT"]);
const $ = (id) => document.getElementById(id);

let account = null; // the logged-in account (GET /portal/me)
let services = []; // GET /portal/services, portal ones
let selected = null; // the application shown in detail
const polling = poller("cabinet-live", () => refreshCabinet());
let ncalayerUp = false;

// -- session -------------------------------------------------------------------------------------------------------
function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}
function auth() {
  return { headers: { Authorization: `Bearer ${token()}` } };
}

async function loggedIn(login) {
  sessionStorage.setItem(TOKEN_KEY, login.token);
  await showAccount();
}

async function showAccount() {
  if (!token()) return showLoggedOut();
  try {
    account = await apiGet("/portal/me", auth());
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLoggedOut();
    if (err instanceof ApiFailure && err.status === 401) return;
    throw err;
  }
  $("user-name").textContent = account.name || account.account;
  $("user-account").textContent = account.account;
  $("user-methods").textContent = (account.methods || []).join(", ");
  $("logged-out").hidden = true;
  $("logged-in").hidden = false;
  $("apply-panel").hidden = false;
  $("cabinet-panel").hidden = false;
  fillApplicant();
  await refreshCabinet();
}

function showLoggedOut() {
  account = null;
  $("logged-out").hidden = false;
  $("logged-in").hidden = true;
  $("apply-panel").hidden = true;
  $("cabinet-panel").hidden = true;
  polling.set(false);
}

function passwordBody() {
  const body = { iin: $("login-iin").value.trim(), password: $("login-password").value };
  const bin = $("login-bin").value.trim();
  if (bin) body.bin = bin;
  return body;
}

$("password-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(async () => loggedIn(await apiPost("/portal/auth/login", passwordBody())));
});

$("register-submit").addEventListener("click", () =>
  guarded(async () => {
    await apiPost("/portal/register", passwordBody());
    await loggedIn(await apiPost("/portal/auth/login", passwordBody()));
  }),
);

$("eds-login").addEventListener("click", () =>
  guarded(async () => {
    const challenge = await apiPost("/portal/auth/challenge");
    const signed = await signXml(challenge.document, "auth", currentUrl());
    await loggedIn(await apiPost("/portal/auth/eds", { signedXml: signed }));
  }),
);

$("logout").addEventListener("click", () =>
  guarded(async () => {
    try {
      await api("/portal/auth/logout", { method: "POST", ...auth() });
    } finally {
      sessionStorage.removeItem(TOKEN_KEY);
      showLoggedOut();
    }
  }),
);

// -- NCALayer --------------------------------------------------------------------------------------------------------
function currentUrl() {
  const base = $("ncalayer-url").value.trim() || signerUrl();
  const identity = $("ncalayer-identity").value.trim();
  if (!identity) return base;
  // shlyuz ncalayer reads ?identity= when the connection opens (docs/ncalayer.md, "Choosing who signs")
  const url = new URL(base);
  url.searchParams.set("identity", identity);
  return url.toString();
}

async function checkNcalayer() {
  const status = $("ncalayer-status");
  status.className = "live";
  status.textContent = "connecting…";
  try {
    const version = await probe(currentUrl());
    ncalayerUp = true;
    status.className = "live on";
    status.textContent = `NCALayer ${version} at ${currentUrl()}`;
    rememberUrl(currentUrl());
  } catch (err) {
    ncalayerUp = false;
    status.className = "live off";
    status.textContent = `not reachable: ${err.message}`;
  }
  // the test-only fallback: only while NCALayer is not running, and only where the gateway serves /portal/dev/sign
  // (docs/portal.md, "Signing by hand"; not wired by `shlyuz serve`)
  $("devsign-submit").hidden = ncalayerUp || !(await devSignServed());
}

let devSign = null;
async function devSignServed() {
  if (devSign === null) {
    try {
      const spec = await apiGet("/openapi.json");
      devSign = Boolean(spec && spec.paths && spec.paths["/portal/dev/sign"]);
    } catch {
      devSign = false;
    }
  }
  return devSign;
}

$("ncalayer-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  checkNcalayer();
});

// -- the catalogue and the form ------------------------------------------------------------------------------------
async function loadServices() {
  const catalogue = await apiGet("/portal/services");
  services = catalogue.services.filter((s) => s.portal);
  const select = $("service-select");
  select.replaceChildren(
    ...services.map((s) => el("option", { value: s.id, "data-testid": `service-${s.id}` }, `${s.nameEn || s.nameRu} (${s.id})`)),
  );
  showService();
}

function service() {
  return services.find((s) => s.id === $("service-select").value) || null;
}

function showService() {
  const s = service();
  if (!s) return;
  $("service-info").textContent = `→ ${s.system} (${s.serviceId}), applicant: ${s.applicant}`;
  $("permit-box").hidden = s.applicant !== "employer";
  fillApplicant();
}

function fillApplicant() {
  if (!account) return;
  const s = service();
  const input = $("app-applicant");
  if (s && s.applicant === "employer") {
    input.value = account.bin || "";
    input.disabled = true;
  } else {
    input.disabled = false;
    if (!$("app-rep").checked) input.value = account.iin;
  }
}

$("service-select").addEventListener("change", showService);
$("app-rep").addEventListener("change", () => {
  $("app-poa").disabled = !$("app-rep").checked;
  if (!$("app-rep").checked) fillApplicant();
});

function lines(text) {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const at = l.indexOf("=");
      return at < 0 ? [l, l] : [l.slice(0, at).trim(), l.slice(at + 1).trim()];
    });
}

/** "2026-01-15T10:00:00+05:00": now in Kazakhstan's time (UTC+5), as the portal stamps a submission. */
function nowKz() {
  const t = new Date(Date.now() + 5 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, "");
  return `${t}+05:00`;
}

/** The unsigned Application (urn:shlyuz:egov:application:1.0, docs/systems/esobes.md) from the form. */
function applicationXml() {
  const s = service();
  if (!s) throw new Error("choose a service");
  const doc = document.implementation.createDocument(APP_NS, "app:Application", null);
  const root = doc.documentElement;
  const add = (parent, name, text) => {
    const node = doc.createElementNS(APP_NS, `app:${name}`);
    if (text !== undefined && text !== null) node.textContent = String(text);
    parent.appendChild(node);
    return node;
  };
  add(root, "reference", `portal-${Date.now()}`);
  add(root, "service", s.id);
  add(root, "channel", "portal");
  const applicant = add(root, "applicant");
  if (s.applicant === "employer") {
    add(applicant, "bin", account.bin || "");
    add(applicant, "signerIin", account.iin);
  } else {
    const iin = $("app-applicant").value.trim();
    add(applicant, "iin", iin);
    if (iin === account.iin && account.name) add(applicant, "name", account.name);
  }
  if ($("app-rep").checked) {
    const rep = add(root, "representative");
    add(rep, "iin", account.iin);
    add(rep, "poaNumber", $("app-poa").value.trim());
    add(rep, "notarised", "true");
  }
  add(root, "submittedAt", nowKz());
  const fields = lines($("app-fields").value);
  if (fields.length) {
    const box = add(root, "fields");
    for (const [name, value] of fields) add(box, "field", value).setAttribute("name", name);
  }
  const docs = lines($("app-documents").value);
  if (docs.length) {
    const box = add(root, "documents");
    for (const [code, name] of docs) add(box, "document", name).setAttribute("code", code);
  }
  if (s.applicant === "employer") {
    const permit = add(root, "permit");
    add(permit, "subFlow", $("permit-subflow").value);
    if ($("permit-number").value.trim()) add(permit, "permitNumber", $("permit-number").value.trim());
    add(permit, "workerName", $("permit-worker").value.trim());
    add(permit, "citizenship", $("permit-citizenship").value.trim());
    add(permit, "position", $("permit-position").value.trim());
    add(permit, "validFrom", $("permit-from").value);
    add(permit, "validTo", $("permit-to").value);
  }
  return new XMLSerializer().serializeToString(doc);
}

async function submit(signer) {
  const state = $("submit-state");
  state.textContent = "signing…";
  try {
    const signed = await signer(applicationXml());
    $("signed-xml").textContent = signed;
    $("signed-box").hidden = false;
    state.textContent = "submitting…";
    const app = await apiPost("/portal/applications", { document: signed }, auth());
    state.textContent = `submitted: ${app.id} (${app.statusRu})`;
    selected = app.id;
    await refreshCabinet();
  } catch (err) {
    state.textContent = "not submitted";
    throw err;
  }
}

$("apply-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(() => submit((xml) => signXml(xml, "sign", currentUrl())));
});

$("devsign-submit").addEventListener("click", () =>
  guarded(() =>
    submit(async (xml) => {
      const s = service();
      const identity = s && s.applicant === "employer" ? `org/${account.bin}/${account.iin}/sign` : `person/${account.iin}/sign`;
      return (await apiPost("/portal/dev/sign", { identity, document: xml })).signedXml;
    }),
  ),
);

// -- the cabinet -----------------------------------------------------------------------------------------------------
function statusBadge(app) {
  const kind = { APPROVED: "ok", REFUSED: "bad", REJECTED: "bad", RESULT_INVALID: "bad", NOT_SENT: "bad" }[app.status] || "warn";
  return el("span", { class: `badge ${kind}`, id: `status-${app.id}`, "data-testid": "app-status", "data-status": app.status }, `${app.statusRu} (${app.status})`);
}

async function refreshCabinet() {
  if (!token()) return;
  const list = await apiGet("/portal/cabinet/applications", auth());
  const apps = [...list.applications].sort((a, b) => (a.submittedAt < b.submittedAt ? 1 : -1));
  $("cabinet-rows").replaceChildren(
    ...apps.map((app) =>
      el(
        "tr",
        { class: `clickable${app.id === selected ? " selected" : ""}`, "data-testid": "cabinet-row", "data-id": app.id, onclick: () => select(app.id) },
        el("td", {}, fmtTime(app.submittedAt)),
        el("td", {}, app.service),
        el("td", {}, statusBadge(app)),
        el("td", { "data-testid": "app-number" }, app.applicationNumber || ""),
        el("td", {}, app.chainRun ? el("a", { href: `/ui/chains.html?run=${encodeURIComponent(app.chainRun)}`, "data-testid": "app-chain-run", onclick: (e) => e.stopPropagation() }, app.chainRun) : ""),
        el("td", { class: "mono" }, app.id.slice(0, 8)),
      ),
    ),
  );
  if (!apps.length) $("cabinet-rows").append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no applications yet")));
  polling.set(apps.some((a) => !FINAL.has(a.status)));
  const shown = apps.find((a) => a.id === selected);
  if (shown) showDetail(shown);
}


function select(id) {
  selected = id;
  refreshCabinet().catch((err) => showError(err));
}

function showDetail(app) {
  const box = $("app-detail");
  const history = (app.history || []).map((h) =>
    el("li", {}, `${fmtTime(h.at || h.receivedAt || "")} ${h.messageType || ""} ${h.status || ""} ${h.text || h.reason || ""}`.trim()),
  );
  const parts = [
    el("h2", {}, `Application ${app.id}`),
    el(
      "dl",
      { class: "kv" },
      el("dt", {}, "service"), el("dd", {}, `${app.service} → ${app.serviceId}`),
      el("dt", {}, "status"), el("dd", { "data-testid": "detail-status" }, `${app.statusRu} (${app.status})`),
      el("dt", {}, "number"), el("dd", {}, app.applicationNumber || "—"),
      el("dt", {}, "REQUEST messageId"), el("dd", { class: "mono" }, app.messageId || "—"),
      el("dt", {}, "chain run"), el("dd", {}, app.chainRun ? el("a", { href: `/ui/chains.html?run=${encodeURIComponent(app.chainRun)}`, "data-testid": "detail-chain-run" }, app.chainRun) : "—"),
    ),
  ];
  if (history.length) parts.push(el("h2", {}, "What came back"), el("ul", { "data-testid": "detail-history" }, history));
  if (app.result) {
    parts.push(
      el("h2", {}, "Result"),
      ...decisionView(app.result, { decision: "result-decision", verification: "result-verification" }),
      el("button", { type: "button", class: "secondary", "data-testid": "result-download", onclick: () => guarded(() => showResultXml(app.id)) }, "show the signed decision (XML)"),
      el("pre", { id: "result-xml", "data-testid": "result-xml", hidden: true }),
    );
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

async function showResultXml(id) {
  const resp = await api(`/portal/cabinet/applications/${encodeURIComponent(id)}/result`, { ...auth(), raw: true });
  const pre = $("result-xml");
  pre.textContent = `X-Signature-Verified: ${resp.headers.get("X-Signature-Verified")}\n\n${await resp.text()}`;
  pre.hidden = false;
}

$("cabinet-refresh").addEventListener("click", () => guarded(refreshCabinet));
onScopeChange(() => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLoggedOut();
  clearError();
});

// -- start -------------------------------------------------------------------------------------------------------------
$("ncalayer-url").value = signerUrl();
checkNcalayer();
guarded(async () => {
  await loadServices();
  await showAccount();
});
