// The State Corporation operator's page (docs/workstations.md): log in, enter an application for a person (with a
// representative and a power of attorney), see the GBD FL / ENIS checks made over SHEP and, later, the provider's
// decision.

import { ApiFailure, apiGet, apiPost, clearError, decisionView, el, fmtTime, guarded, mountShell, onScopeChange, poller, showError } from "/ui/api.js";

mountShell();

const TOKEN_KEY = "shlyuz.con.token";
const FINAL = new Set(["APPROVED", "REFUSED", "REJECTED", "RESULT_INVALID", "NOT_SENT"]);
const $ = (id) => document.getElementById(id);
let operator = null;
let selected = null;
const polling = poller("con-live", () => refresh());

const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
const auth = () => ({ headers: { Authorization: `Bearer ${token()}` } });

async function showOperator() {
  if (!token()) return showLoggedOut();
  try {
    operator = await apiGet("/con/me", auth());
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLoggedOut();
    if (err instanceof ApiFailure && err.status === 401) return;
    throw err;
  }
  $("con-operator").textContent = operator.name;
  $("con-operator-info").textContent = `${operator.iin}, ${operator.branch} (BIN ${operator.bin}), signs as ${operator.signingIdentity}`;
  $("con-logged-out").hidden = true;
  $("con-logged-in").hidden = false;
  $("con-entry-panel").hidden = false;
  $("con-list-panel").hidden = false;
  await refresh();
}

function showLoggedOut() {
  operator = null;
  polling.set(false);
  $("con-logged-out").hidden = false;
  $("con-logged-in").hidden = true;
  $("con-entry-panel").hidden = true;
  $("con-list-panel").hidden = true;
}

$("con-login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const login = await apiPost("/con/auth/login", { login: $("con-login").value.trim(), password: $("con-password").value });
    sessionStorage.setItem(TOKEN_KEY, login.token);
    await showOperator();
  });
});

$("con-logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLoggedOut();
});

async function loadServices() {
  const catalogue = await apiGet("/portal/services");
  const list = catalogue.services.filter((s) => (s.channels || []).includes("state-corp"));
  $("con-service").replaceChildren(...list.map((s) => el("option", { value: s.id }, `${s.nameEn || s.nameRu} (${s.id})`)));
}

function syncRep() {
  const rep = $("con-rep").checked;
  const notarised = $("con-poa-notarised").checked;
  for (const id of ["con-rep-iin", "con-poa", "con-poa-notarised"]) $(id).disabled = !rep;
  for (const id of ["con-poa-issued", "con-poa-valid", "con-poa-issuer"]) $(id).disabled = !rep || notarised;
}
$("con-rep").addEventListener("change", syncRep);
$("con-poa-notarised").addEventListener("change", syncRep);

function pairs(text, a, b) {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const at = l.indexOf("=");
      return at < 0 ? { [a]: l, [b]: l } : { [a]: l.slice(0, at).trim(), [b]: l.slice(at + 1).trim() };
    });
}

function body() {
  const b = {
    service: $("con-service").value,
    applicant: { iin: $("con-applicant").value.trim() },
    fields: pairs($("con-fields").value, "name", "value"),
    documents: pairs($("con-documents").value, "code", "name"),
  };
  if ($("con-reference").value.trim()) b.reference = $("con-reference").value.trim();
  if ($("con-rep").checked) {
    const poa = { number: $("con-poa").value.trim(), notarised: $("con-poa-notarised").checked };
    if (!poa.notarised) {
      poa.issuedOn = $("con-poa-issued").value || null;
      poa.validTo = $("con-poa-valid").value || null;
      if ($("con-poa-issuer").value.trim()) poa.issuer = $("con-poa-issuer").value.trim();
    }
    b.representative = { iin: $("con-rep-iin").value.trim(), poa };
  }
  return b;
}

$("con-entry-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(async () => {
    $("con-submit-state").textContent = "checking and sending…";
    try {
      const app = await apiPost("/con/applications", body(), auth());
      $("con-submit-state").textContent = `sent: ${app.reference} (${app.statusRu})`;
      selected = app.id;
      await refresh();
    } catch (err) {
      $("con-submit-state").textContent = "not sent";
      throw err;
    }
  });
});

function statusBadge(app) {
  const kind = { APPROVED: "ok", REFUSED: "bad", REJECTED: "bad", RESULT_INVALID: "bad", NOT_SENT: "bad" }[app.status] || "warn";
  return el("span", { class: `badge ${kind}`, "data-testid": "con-status", "data-status": app.status }, `${app.statusRu} (${app.status})`);
}

async function refresh() {
  if (!token()) return;
  const list = await apiGet("/con/applications", auth());
  const apps = [...list.applications].sort((a, b) => (a.submittedAt < b.submittedAt ? 1 : -1));
  $("con-rows").replaceChildren(
    ...apps.map((app) =>
      el(
        "tr",
        { class: `clickable${app.id === selected ? " selected" : ""}`, "data-testid": "con-row", "data-id": app.id, onclick: () => { selected = app.id; guarded(refresh); } },
        el("td", {}, fmtTime(app.submittedAt)),
        el("td", { class: "mono" }, app.reference),
        el("td", {}, app.service),
        el("td", {}, `${app.applicant.name || ""} ${app.applicant.iin || ""}`),
        el("td", {}, statusBadge(app)),
        el("td", {}, app.applicationNumber || ""),
        el("td", { class: "mono" }, app.operator),
      ),
    ),
  );
  if (!apps.length) $("con-rows").append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no applications yet")));
  polling.set(apps.some((a) => !FINAL.has(a.status)));
  const shown = apps.find((a) => a.id === selected);
  if (shown) showDetail(shown);
}


function checkBox(name, check) {
  const ok = name === "gbdfl" ? check.found && !check.deceased : name === "poaEntered" || check.status === "VALID";
  const ex = check.exchange || {};
  return el(
    "div",
    { class: `verdict ${ok ? "ok" : "bad"}`, "data-testid": `con-check-${name}` },
    el("strong", {}, name === "gbdfl" ? "GBD FL" : name === "enis" ? "ENIS" : name === "poaEntered" ? "power of attorney (entered)" : name),
    " ",
    name === "gbdfl" && check.found ? `${check.name} (${check.iin}) found${check.deceased ? ", recorded as deceased" : ""}; ` : "",
    check.message || (name === "poaEntered" ? `${check.number}, valid ${check.issuedOn}..${check.validTo}` : ""),
    ex.messageId ? el("div", { class: "muted mono" }, `${ex.serviceId} messageId ${ex.messageId}`) : "",
  );
}

function showDetail(app) {
  const parts = [
    el("h2", {}, `Application ${app.reference}`),
    el(
      "dl",
      { class: "kv" },
      el("dt", {}, "service"), el("dd", {}, `${app.service} → ${app.serviceId}`),
      el("dt", {}, "status"), el("dd", { "data-testid": "con-detail-status" }, `${app.statusRu} (${app.status})`),
      el("dt", {}, "number"), el("dd", {}, app.applicationNumber || "—"),
      el("dt", {}, "representative"), el("dd", {}, app.representative ? `${app.representative.iin}, PoA ${app.representative.poaNumber}` : "—"),
      el("dt", {}, "REQUEST messageId"), el("dd", { class: "mono" }, app.messageId || "—"),
    ),
    el("h2", {}, "Checks over SHEP"),
    ...Object.entries(app.checks || {}).map(([name, check]) => checkBox(name, check)),
  ];
  if (app.history && app.history.length)
    parts.push(el("h2", {}, "What came back"), el("ul", {}, app.history.map((h) => el("li", {}, `${fmtTime(h.at)} ${h.messageType} ${h.status || ""} ${h.number || ""} ${h.text || ""}`))));
  if (app.result)
    parts.push(el("h2", {}, "The provider's decision"), ...decisionView(app.result, { decision: "con-result", verification: "con-verification" }));
  $("con-detail").replaceChildren(...parts);
  $("con-detail").hidden = false;
}

$("con-refresh").addEventListener("click", () => guarded(refresh));
onScopeChange(() => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLoggedOut();
  clearError();
});

guarded(async () => {
  await loadServices();
  await showOperator();
});
