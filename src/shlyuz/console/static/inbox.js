// The АРМ РШЭП inbox page (docs/systems/rshep.md): a provider employee logs in, lists the inbox, takes an item and
// approves it or refuses it with a motivated reason. The decision goes back as a RESPONSE over the async channel and
// resumes the chain run waiting for it (docs/chains.md, "The inbox link").

import { ApiFailure, apiGet, apiPost, clearError, el, fmtTime, guarded, mountShell, onScopeChange, showError } from "/ui/api.js";

mountShell();

const TOKEN_KEY = "shlyuz.inbox.token";
const $ = (id) => document.getElementById(id);
let employee = null;
let current = null; // the item shown
let timer = null;

const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
const auth = () => ({ headers: { Authorization: `Bearer ${token()}` } });

async function showEmployee() {
  if (!token()) return showLoggedOut();
  try {
    employee = await apiGet("/rshep/me", auth());
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLoggedOut();
    if (err instanceof ApiFailure && err.status === 401) return;
    throw err;
  }
  $("inbox-employee").textContent = employee.name;
  $("inbox-employee-info").textContent = ` ${employee.iin}, ${employee.role}, ${employee.organisation} (BIN ${employee.bin})`;
  $("inbox-logged-out").hidden = true;
  $("inbox-logged-in").hidden = false;
  $("inbox-list-panel").hidden = false;
  await refresh();
  if (!timer) timer = setInterval(() => refresh().catch((err) => showError(err)), 2000);
}

function showLoggedOut() {
  employee = null;
  current = null;
  if (timer) clearInterval(timer);
  timer = null;
  $("inbox-logged-out").hidden = false;
  $("inbox-logged-in").hidden = true;
  $("inbox-list-panel").hidden = true;
  $("item-panel").hidden = true;
}

$("inbox-login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const login = await apiPost("/rshep/login", { iin: $("inbox-iin").value.trim(), password: $("inbox-password").value });
    sessionStorage.setItem(TOKEN_KEY, login.token);
    await showEmployee();
  });
});

$("inbox-logout").addEventListener("click", () =>
  guarded(async () => {
    try {
      await apiPost("/rshep/logout", undefined, auth());
    } finally {
      sessionStorage.removeItem(TOKEN_KEY);
      showLoggedOut();
    }
  }),
);

function badge(status) {
  const kind = { approved: "ok", refused: "bad", taken: "warn", new: "" }[status] ?? "";
  return el("span", { class: `badge ${kind}`, "data-testid": "item-row-status", "data-status": status }, status);
}

async function refresh() {
  if (!token()) return;
  const q = new URLSearchParams();
  if ($("filter-status").value) q.set("status", $("filter-status").value);
  if ($("filter-system").value) q.set("system", $("filter-system").value);
  if ($("filter-mine").checked && employee) q.set("assignee", employee.iin);
  const list = await apiGet(`/rshep/items${q.toString() ? `?${q}` : ""}`, auth());
  const items = [...list.items].sort((a, b) => (a.registeredAt < b.registeredAt ? 1 : a.registeredAt > b.registeredAt ? -1 : a.number < b.number ? 1 : -1));
  $("inbox-rows").replaceChildren(
    ...items.map((it) =>
      el(
        "tr",
        { class: `clickable${current && current.number === it.number ? " selected" : ""}`, "data-testid": "inbox-row", "data-number": it.number, onclick: () => guarded(() => open(it.number)) },
        el("td", { class: "mono" }, it.number),
        el("td", {}, fmtTime(it.registeredAt)),
        el("td", {}, it.system),
        el("td", {}, it.service),
        el("td", {}, it.channel),
        el("td", {}, `${it.applicantName || ""} ${it.applicantIin || it.applicantBin || ""}`.trim()),
        el("td", {}, badge(it.status)),
        el("td", { class: "mono" }, it.assignee || ""),
      ),
    ),
  );
  if (!items.length) $("inbox-rows").append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "the inbox is empty")));
}

async function open(number) {
  current = await apiGet(`/rshep/items/${encodeURIComponent(number)}`, auth());
  showItem();
  await refresh();
}

function showItem() {
  const it = current;
  $("item-panel").hidden = false;
  $("item-title").textContent = `${it.number} — ${it.service}`;
  const status = $("item-status");
  status.textContent = it.status;
  status.dataset.status = it.status;
  status.className = `badge ${{ approved: "ok", refused: "bad", taken: "warn" }[it.status] || ""}`;
  const kv = [
    ["system / channel", `${it.system} / ${it.channel}`],
    ["applicant", `${it.applicantName || ""} ${it.applicantIin || it.applicantBin || ""}`],
    ["signed by", `${it.signerIin || ""}${it.signerBin ? ` (BIN ${it.signerBin})` : ""}`],
    ["representative", it.representativeIin || "—"],
    ["registered", fmtTime(it.registeredAt)],
    ["taken", it.assignee ? `${it.assignee}, ${fmtTime(it.takenAt)}` : "—"],
    ["fields", Object.entries(it.fields || {}).map(([k, v]) => `${k}=${v}`).join("; ") || "—"],
    ["documents", (it.documents || []).map((d) => `${d.code}: ${d.name}`).join("; ") || "—"],
  ];
  if (it.permit) kv.push(["permit", JSON.stringify(it.permit)]);
  $("item-kv").replaceChildren(...kv.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const open = it.status === "new" || it.status === "taken";
  $("item-take").disabled = !open || (it.assignee && employee && it.assignee === employee.iin);
  $("item-approve").disabled = !open;
  $("item-refuse").disabled = !open;
  const decision = $("item-decision");
  if (open) decision.replaceChildren();
  else
    decision.replaceChildren(
      el(
        "div",
        { class: `verdict ${it.status === "approved" ? "ok" : "bad"}`, "data-testid": "item-decided", "data-status": it.status },
        el("strong", {}, it.status === "approved" ? "Approved" : `Refused: ${it.reasonCode || ""}`),
        it.reason ? ` — ${it.reason}` : "",
        el("div", { class: "muted" }, `${fmtTime(it.decidedAt)} by ${it.employee || `rule ${it.rule || ""}`}; RESPONSE ${it.delivery || ""}${it.responseMessageId ? ` (${it.responseMessageId})` : ""}`),
      ),
    );
  $("item-xml").textContent = it.decisionXml || "";
}

async function act(path, body) {
  current = await apiPost(`/rshep/items/${encodeURIComponent(current.number)}/${path}`, body, auth());
  showItem();
  await refresh();
}

$("item-take").addEventListener("click", () => guarded(() => act("take")));
$("item-approve").addEventListener("click", () => guarded(() => act("decide", { decision: "approve" })));
$("item-refuse").addEventListener("click", () =>
  guarded(() => act("decide", { decision: "refuse", reasonCode: $("item-reason-code").value.trim(), reason: $("item-reason").value.trim() })),
);
$("inbox-filter").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(refresh);
});
onScopeChange(() => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLoggedOut();
  clearError();
});

guarded(showEmployee);
