// Fixtures: persons, organisations, PKI identities and powers of attorney, searched on the server.
import { mountShell, apiGet, el, guarded, param } from "/ui/api.js";

mountShell();
const LIMIT = 50;
let offset = 0;
const badge = (text, cls) => el("span", { class: `badge ${cls}` }, text);
const COLUMNS = {
  persons: [["IIN", (r) => el("span", { class: "mono" }, r.iin)], ["name", (r) => r.name], ["born", (r) => r.birthDate],
    ["gender", (r) => r.gender], ["status", (r) => r.lifeStatus], ["documents", (r) => r.documents.join("; ")],
    ["address", (r) => r.address ?? ""], ["tags", (r) => r.tags.join(", ")]],
  organisations: [["BIN", (r) => el("span", { class: "mono" }, r.bin)], ["name", (r) => r.nameRu], ["kind", (r) => r.kind],
    ["head IIN", (r) => r.headIin ?? ""], ["employees", (r) => r.employees], ["registered", (r) => r.registrationDate],
    ["tags", (r) => r.tags.join(", ")]],
  identities: [["identity", (r) => el("span", { class: "mono" }, r.name)], ["subject", (r) => r.subject],
    ["IIN", (r) => r.iin ?? ""], ["BIN", (r) => r.bin ?? ""], ["profile", (r) => r.profile],
    ["valid", (r) => `${r.notBefore.slice(0, 10)} – ${r.notAfter.slice(0, 10)}`],
    ["state", (r) => badge(r.state, r.state === "valid" ? "ok" : "bad")],
    ["meant to fail with", (r) => (r.bad ? badge(r.bad, "warn") : "")], ["serial", (r) => el("span", { class: "mono" }, r.serial)]],
  "powers-of-attorney": [["number", (r) => el("span", { class: "mono" }, r.number)], ["principal", (r) => r.principal],
    ["attorney IIN", (r) => r.attorneyIin], ["valid", (r) => `${r.validFrom} – ${r.validTo}`],
    ["status", (r) => badge(r.status, r.status === "VALID" ? "ok" : "bad")], ["notarised", (r) => (r.notarised ? "yes" : "no")],
    ["powers", (r) => r.powers.join("; ")], ["tags", (r) => r.tags.join(", ")]],
};

async function load() {
  const kind = document.getElementById("fixtures-kind").value;
  const q = document.getElementById("fixtures-search").value.trim();
  await guarded(async () => {
    const qs = new URLSearchParams({ limit: LIMIT, offset });
    if (q) qs.set("q", q);
    const page = await apiGet(`/ui/api/fixtures/${kind}?${qs}`);
    const cols = COLUMNS[kind];
    document.getElementById("fixtures-head").replaceChildren(el("tr", {}, cols.map(([h]) => el("th", {}, h))));
    document.getElementById("fixtures-rows").replaceChildren(...page.items.map((r) =>
      el("tr", { "data-testid": "fixture-row" }, cols.map(([, f]) => el("td", {}, f(r))))));
    document.getElementById("fixtures-count").textContent =
      page.total ? `${offset + 1}–${offset + page.items.length} of ${page.total}` : "nothing found";
    document.getElementById("fixtures-prev").disabled = offset === 0;
    document.getElementById("fixtures-next").disabled = offset + page.items.length >= page.total;
    history.replaceState(null, "", `?kind=${kind}${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  });
}

if (param("kind")) document.getElementById("fixtures-kind").value = param("kind");
if (param("q")) document.getElementById("fixtures-search").value = param("q");
document.getElementById("fixtures-form").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; load(); });
document.getElementById("fixtures-kind").addEventListener("change", () => { offset = 0; load(); });
document.getElementById("fixtures-prev").addEventListener("click", () => { offset = Math.max(0, offset - LIMIT); load(); });
document.getElementById("fixtures-next").addEventListener("click", () => { offset += LIMIT; load(); });
load();
