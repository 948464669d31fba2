// The session's clock (/__admin/sessions/{scope}[/clock]) and its fault-injection rules (/__admin/faults).
import { mountShell, api, apiGet, apiPut, apiPost, apiDelete, el, guarded, showError, getScope, onScopeChange, ApiFailure } from "/ui/api.js";

mountShell();

async function loadClock() {
  const scope = getScope();
  document.getElementById("session-scope").textContent = scope || "default";
  const isDefault = !scope;
  document.getElementById("clock-default-note").hidden = !isDefault;
  for (const id of ["clock-freeze", "clock-advance"]) document.getElementById(id).hidden = isDefault;
  const view = document.getElementById("clock-view");
  await guarded(async () => {
    if (isDefault) {
      const info = await apiGet("/ui/api/overview");
      view.replaceChildren(el("dt", {}, "now"), el("dd", { "data-testid": "clock-now" }, info.now));
      return;
    }
    showClock(await apiGet(`/__admin/sessions/${encodeURIComponent(scope)}`));
  });
}

function showClock(s) {
  document.getElementById("clock-view").replaceChildren(
    el("dt", {}, "now"), el("dd", { "data-testid": "clock-now" }, s.now),
    el("dt", {}, "frozen at"), el("dd", { "data-testid": "clock-frozen" }, s.frozenAt ?? "not frozen"),
    el("dt", {}, "offset"), el("dd", { "data-testid": "clock-offset" }, `${s.offsetSeconds} s`));
}

async function setClock(body) {
  await guarded(async () => showClock(await apiPut(`/__admin/sessions/${encodeURIComponent(getScope())}/clock`, body)));
}

function describe(obj) {
  if (!obj) return "";
  return Object.entries(obj).filter(([k]) => k !== "kind" && k !== "type").map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
}

async function loadFaults() {
  const rows = document.getElementById("faults-rows");
  try {
    const body = await apiGet("/__admin/faults");
    document.getElementById("faults-unavailable").hidden = true;
    document.getElementById("faults-table").hidden = false;
    rows.replaceChildren(...body.rules.map((r) => el("tr", { "data-testid": "fault-row", "data-id": r.id, id: `fault-${r.id}` },
      el("td", { class: "mono" }, r.id), el("td", {}, describe(r.match) || "any request"),
      el("td", {}, el("span", { class: "badge warn" }, r.fault.kind), " ", describe(r.fault)),
      el("td", {}, r.latency ? `${r.latency.type} ${describe(r.latency)}` : ""),
      el("td", {}, r.times ?? "∞"), el("td", {}, r.probability ?? 1), el("td", { "data-testid": "fault-hits" }, r.hits),
      el("td", {}, el("button", { type: "button", class: "danger", "data-testid": "fault-delete",
        onclick: () => guarded(async () => { await apiDelete(`/__admin/faults/${encodeURIComponent(r.id)}`); loadFaults(); }) }, "delete")))));
    document.getElementById("faults-empty").hidden = body.rules.length > 0;
  } catch (err) {
    if (err instanceof ApiFailure && (err.status === 404 || err.status === 405)) {
      document.getElementById("faults-unavailable").hidden = false;
      document.getElementById("faults-table").hidden = true;
      rows.replaceChildren();
    } else {
      showError(err);
    }
  }
}

document.getElementById("clock-freeze").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setClock({ at: document.getElementById("clock-at").value.trim() });
});
document.getElementById("clock-advance").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const amount = Number(document.getElementById("clock-advance-amount").value);
  const unit = Number(document.getElementById("clock-advance-unit").value);
  if (!Number.isFinite(amount) || amount < 0) return showError(new Error("advance by a number ≥ 0"));
  setClock({ advanceSeconds: amount * unit });
});
document.getElementById("clock-reset").addEventListener("click", () => setClock({}));
document.getElementById("fault-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  let rule;
  try {
    rule = JSON.parse(document.getElementById("fault-json").value);
  } catch (err) {
    return showError(new Error(`not JSON: ${err.message}`));
  }
  await guarded(async () => { await apiPost("/__admin/faults", rule); await loadFaults(); });
});
document.getElementById("faults-clear").addEventListener("click", () =>
  guarded(async () => { await apiDelete("/__admin/faults"); await loadFaults(); }));
onScopeChange(() => { loadClock(); loadFaults(); });
loadClock();
loadFaults();
