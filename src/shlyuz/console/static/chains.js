// Chain runs: the list (GET /chains/runs), a run as a sequence diagram (/ui/api/chains/runs/{id}/sequence.svg),
// its steps, and the decision buttons of a run that waits; a running or waiting run is polled until it is done.
import { mountShell, api, apiGet, apiPost, el, guarded, showError, onScopeChange, fmtTime, param } from "/ui/api.js";

mountShell();
const POLL_MS = 2000;
let current = param("run");
let timer = null;

async function loadServices() {
  await guarded(async () => {
    const list = await apiGet("/ui/api/services");
    document.getElementById("run-service").replaceChildren(
      ...list.services.map((s) => el("option", { value: s.id }, `${s.annex}. ${s.id}`)));
  });
}

async function loadRuns() {
  await guarded(async () => {
    const body = await apiGet("/chains/runs");
    const rows = document.getElementById("runs-rows");
    rows.replaceChildren(...body.runs.slice().reverse().map((r) =>
      el("tr", { class: `clickable${r.id === current ? " selected" : ""}`, id: `run-${r.id}`, "data-testid": "run-row",
          "data-id": r.id, onclick: () => openRun(r.id) },
        el("td", { class: "mono" }, r.id), el("td", {}, r.service), el("td", {}, r.trace.channel),
        el("td", {}, r.applicant ?? r.options?.applicant ?? ""),
        el("td", {}, el("span", { class: `badge ${r.status === "done" ? "ok" : "warn"}` }, r.status)),
        el("td", {}, r.trace.outcome ?? ""), el("td", {}, fmtTime(r.trace.started_at)))));
    document.getElementById("runs-empty").hidden = body.runs.length > 0;
  });
}

function svgNode(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const root = doc.documentElement;
  if (root.nodeName !== "svg") throw new Error("the sequence diagram is not SVG");
  return document.importNode(root, true);
}

function summary(run) {
  const t = run.trace;
  const pairs = [["service", run.service], ["channel", t.channel], ["procedure", t.procedure], ["status", run.status],
    ["outcome", t.outcome], ["refusal", t.refusal ? `${t.refusal.code}: ${t.refusal.text}` : null],
    ["started (simulated)", fmtTime(t.started_at)], ["ended (simulated)", fmtTime(t.ended_at)],
    ["working days", t.working_days], ["overdue", t.overdue ? "yes" : "no"]];
  const box = el("div", {},
    el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])));
  if (t.deadlines?.length) {
    box.append(el("h3", {}, "Deadlines"), el("ul", { "data-testid": "run-deadlines" }, t.deadlines.map((d) =>
      el("li", {}, el("span", { class: `badge ${d.met ? "ok" : d.met === false ? "bad" : ""}` }, d.met ? "met" : d.met === false ? "missed" : "n/a"),
        ` ${d.total} — due ${fmtTime(d.due)}`, d.note ? el("span", { class: "muted" }, ` (${d.note})`) : null))));
  }
  if (t.rules?.length) {
    box.append(el("h3", {}, "Rules"), el("ul", {}, t.rules.map((r) =>
      el("li", {}, `${r.ref}: ${r.kind} ${r.applied ? "applied" : "not applied"} — ${r.why}`))));
  }
  return box;
}

function tag(s) {
  return s.kind === "process" ? `P${s.number}` : s.kind === "condition" ? `C${s.number}` : s.kind === "step" ? `S${s.number}` : "I";
}

function steps(run) {
  return run.trace.steps.map((s) => el("tr", { "data-testid": "run-step", "data-ref": s.ref },
    el("td", {}, tag(s)), el("td", {}, s.ref), el("td", {}, s.text), el("td", {}, s.systems.join(", ")),
    el("td", {}, s.branch ? el("span", { class: `badge ${["yes", "approve"].includes(s.branch) ? "ok" : "bad"}` }, s.branch) : ""),
    el("td", {}, Object.entries(s.checks).map(([k, v]) => `${v ? "✓" : "✗"} ${k}`).join(", ")),
    el("td", {}, s.calls.map((c) => `${c.ok ? "✓" : "✗"} ${c.system}: ${c.action}${c.message_id ? ` [${c.message_id}]` : ""}`).join("; ")),
    el("td", {}, fmtTime(s.started_at)), el("td", {}, s.duration)));
}

async function openRun(id) {
  current = id;
  history.replaceState(null, "", `?run=${encodeURIComponent(id)}`);
  clearTimeout(timer);
  await refreshRun();
  loadRuns();
}

async function refreshRun() {
  if (!current) return;
  const view = document.getElementById("run-view");
  const ok = await guarded(async () => {
    const [run, svg] = await Promise.all([
      apiGet(`/chains/runs/${encodeURIComponent(current)}`),
      apiGet(`/ui/api/chains/runs/${encodeURIComponent(current)}/sequence.svg`),
    ]);
    view.hidden = false;
    document.getElementById("run-title").textContent = `Run ${run.id}`;
    document.getElementById("run-summary").replaceChildren(summary(run));
    document.getElementById("run-sequence").replaceChildren(svgNode(svg));
    document.querySelector("#run-steps tbody").replaceChildren(...steps(run));
    const waiting = run.status === "waiting";
    document.getElementById("run-decision").hidden = !waiting;
    document.getElementById("run-waiting-for").textContent = run.waitingFor ?? "";
    const live = document.getElementById("run-live");
    live.textContent = run.status === "done" ? "done" : `${run.status}: updating`;
    live.className = run.status === "done" ? "live" : "live on";
    return run.status;
  });
  if (ok && ok !== "done") timer = setTimeout(refreshRun, POLL_MS);
}

async function decide(approve) {
  await guarded(async () => {
    const reason = document.getElementById("decision-reason").value.trim();
    await apiPost(`/chains/runs/${encodeURIComponent(current)}/decision`, reason ? { approve, reason } : { approve });
    clearTimeout(timer);
    await refreshRun();
    loadRuns();
  });
}

document.getElementById("decision-approve").addEventListener("click", () => decide(true));
document.getElementById("decision-refuse").addEventListener("click", () => decide(false));
document.getElementById("runs-refresh").addEventListener("click", loadRuns);
document.getElementById("run-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  await guarded(async () => {
    const service = document.getElementById("run-service").value;
    const run = await api(`/chains/${encodeURIComponent(service)}/runs`, { method: "POST", body: {
      channel: document.getElementById("run-channel").value,
      applicant: document.getElementById("run-applicant").value.trim(),
      decide: document.getElementById("run-decide").value,
    } });
    await openRun(run.id);
  });
});
onScopeChange(() => { current = null; document.getElementById("run-view").hidden = true; loadRuns(); });
loadServices();
loadRuns();
if (current) refreshRun();
