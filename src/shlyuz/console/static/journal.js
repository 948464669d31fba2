// Live journal: server-sent events from /ui/api/journal/stream; a row opens to the entry explained.
import { mountShell, apiGet, el, showError, getScope, onScopeChange, fmtTime, param } from "/ui/api.js";

mountShell();
const MAX_ROWS = 500;
const rows = document.getElementById("journal-rows");
const live = document.getElementById("journal-live");
const empty = document.getElementById("journal-empty");
const fields = { scope: "filter-scope", sender: "filter-sender", serviceId: "filter-service", outcome: "filter-outcome",
  status: "filter-status", sessionId: "filter-session" };
let source = null;

for (const [key, id] of Object.entries(fields)) {
  const v = param(key);
  if (v) document.getElementById(id).value = v;
}
if (!param("scope")) document.getElementById("filter-scope").value = getScope();

function badgeClass(entry) {
  if (!entry.ok) return "bad";
  return entry.outcome === "SCSS001" || entry.outcome === "DELIVERED" ? "ok" : "warn";
}

function sigBadge(state) {
  const cls = { valid: "ok", failed: "bad", absent: "", "not checked": "" }[state] ?? "";
  return el("span", { class: `badge ${cls}`, "data-testid": "sig-state" }, state);
}

function addRow(entry) {
  empty.hidden = true;
  const tr = el("tr", { class: "clickable new", id: `entry-${entry.id}`, "data-testid": "journal-row", "data-id": entry.id,
      onclick: () => toggle(tr, entry.id) },
    el("td", {}, entry.id), el("td", {}, fmtTime(entry.received_at)), el("td", {}, entry.scope),
    el("td", {}, entry.sender_id ?? ""), el("td", {}, entry.service_id ?? ""),
    el("td", { class: "mono" }, entry.message_id ?? ""),
    el("td", {}, el("span", { class: `badge ${badgeClass(entry)}`, "data-testid": "outcome" }, entry.outcome)),
    el("td", {}, entry.http_status), el("td", {}, sigBadge(entry.signature)), el("td", {}, entry.duration_ms));
  rows.prepend(tr);
  while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
}

function dl(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, Array.isArray(v) ? v.join(" → ") : String(v))]));
}

function signatureView(sig) {
  const cls = { valid: "ok", failed: "bad", absent: "warn" }[sig.state] ?? "";
  const box = el("div", { class: `verdict ${cls}`, "data-testid": "signature-verdict" },
    el("strong", {}, `Signature: ${sig.state}`), " ", el("span", { "data-testid": "signature-summary" }, sig.summary));
  if (sig.failed) {
    box.append(dl([["failed check", sig.failed.check], ["code", sig.failed.code], ["meaning", sig.failed.meaning],
      ["reason", sig.failed.reason]]));
  }
  for (const part of sig.parts) {
    box.append(el("h3", {}, `${part.title}: ${part.state}`));
    if (part.state === "valid") {
      box.append(dl([["subject", part.subject], ["IIN", part.iin], ["BIN", part.bin], ["serial", part.serial],
        ["issuer", part.issuer], ["chain", part.chain], ["purpose", part.purpose], ["key usage", part.keyUsage],
        ["EKU", part.eku], ["revocation source", part.revocation], ["not after", part.notAfter],
        ["algorithm", part.algorithm]]));
      box.append(el("ul", {}, (part.checks || []).map((c) => el("li", {}, "✓ " + c))));
    }
  }
  return box;
}

async function toggle(tr, id) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("details-row")) {
    next.remove();
    tr.classList.remove("selected");
    return;
  }
  tr.classList.add("selected");
  const cell = el("td", { colspan: 10 }, "loading…");
  tr.after(el("tr", { class: "details-row", id: `details-${id}`, "data-testid": "journal-details" }, cell));
  try {
    const e = await apiGet(`/ui/api/journal/${id}`, { scope: false });
    cell.replaceChildren(
      dl([["endpoint", e.endpoint], ["remote", e.remote], ["SHEP sessionId", e.session_id], ["correlationId", e.correlation_id],
        ["response messageId", e.response_message_id], ["timings (ms)", Object.entries(e.timings || {}).map(([k, v]) => `${k} ${v}`).join(", ")]]),
      signatureView(e.signature),
      el("details", { "data-testid": "verdicts" }, el("summary", {}, "all verdicts (JSON)"),
        el("pre", {}, JSON.stringify(e.verdicts, null, 2))),
      el("h3", {}, "Request"), el("pre", { "data-testid": "request-xml" }, e.requestPretty ?? e.request ?? "(not journaled)"),
      el("h3", {}, "Response"), el("pre", { "data-testid": "response-xml" }, e.responsePretty ?? e.response ?? "(not journaled)"),
    );
  } catch (err) {
    cell.replaceChildren("");
    showError(err);
  }
}

function connect() {
  if (source) source.close();
  const qs = new URLSearchParams({ backlog: "100" });
  for (const [key, id] of Object.entries(fields)) {
    const v = document.getElementById(id).value.trim();
    if (v) qs.set(key, v);
  }
  rows.replaceChildren();
  empty.hidden = false;
  live.textContent = "connecting";
  live.className = "live";
  source = new EventSource(`/ui/api/journal/stream?${qs}`);
  source.addEventListener("exchange", (ev) => addRow(JSON.parse(ev.data)));
  source.addEventListener("ready", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("gap", () => showError(new Error("some entries were skipped (too many at once)")));
  source.onerror = async () => {
    live.textContent = "reconnecting";
    live.className = "live off";
    if (source.readyState === EventSource.CLOSED) {
      // a 400 closes the stream for good: show why
      try { await apiGet(`/ui/api/journal/stream?${qs}&backlog=0&after=999999999999`, { raw: true, scope: false }).then((r) => r.body?.cancel()); }
      catch (err) { showError(err); }
    }
  };
}

document.getElementById("journal-filters").addEventListener("submit", (ev) => { ev.preventDefault(); connect(); });
document.getElementById("journal-clear").addEventListener("click", () => { rows.replaceChildren(); empty.hidden = false; });
onScopeChange((scope) => { document.getElementById("filter-scope").value = scope; connect(); });
connect();
