// The services and their flowcharts: SVG drawn by Graphviz on the server, or the DOT / Mermaid text without it.
import { mountShell, api, apiGet, el, guarded, param } from "/ui/api.js";

mountShell();
let data = null;

function matches(s, q) {
  if (!q) return true;
  const hay = [s.id, s.nameEn, s.nameRu, s.nameKk, s.provider, ...s.channels, ...s.systems].join(" ").toLowerCase();
  return q.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
}

function render() {
  const q = document.getElementById("services-search").value.trim();
  document.getElementById("services-rows").replaceChildren(...data.services.filter((s) => matches(s, q)).map((s) =>
    el("tr", { class: "clickable", id: `service-${s.id}`, "data-testid": "service-row", "data-id": s.id, onclick: () => open(s.id) },
      el("td", {}, s.annex), el("td", { class: "mono" }, s.id), el("td", {}, s.nameEn, el("div", { class: "muted" }, s.nameRu)),
      el("td", {}, s.channels.join(", ")), el("td", {}, s.systems.join(", ")), el("td", {}, s.diagrams.length))));
}

async function diagram(svc, d) {
  const base = `/ui/api/services/${encodeURIComponent(svc.id)}/diagrams/${encodeURIComponent(d.name)}`;
  const box = el("div", { class: "diagram", "data-testid": "service-diagram", "data-name": d.name }, "loading…");
  const wrap = el("div", { class: "panel" }, el("h3", {}, d.title), box,
    el("div", { class: "row" }, el("a", { href: `${base}?format=dot`, target: "_blank" }, "DOT"),
      el("a", { href: `${base}?format=mermaid`, target: "_blank" }, "Mermaid")));
  const fallback = async () => {
    try {
      const text = await api(`${base}?format=mermaid`);
      box.replaceChildren(el("p", { class: "muted" }, "No SVG from the gateway (Graphviz missing?): the Mermaid text follows."),
        el("pre", { "data-testid": "service-diagram-text" }, text));
    } catch (err) {
      box.replaceChildren(el("p", { class: "muted" }, String(err.message || err)));
    }
  };
  if (data.graphviz) {
    box.replaceChildren(el("img", { src: base, alt: d.title, "data-testid": "service-diagram-img", onerror: fallback }));
  } else {
    fallback();
  }
  return wrap;
}

async function open(id) {
  const svc = data.services.find((s) => s.id === id);
  if (!svc) return;
  history.replaceState(null, "", `?service=${encodeURIComponent(id)}`);
  document.getElementById("service-view").hidden = false;
  document.getElementById("service-title").textContent = `${svc.annex}. ${svc.nameEn}`;
  document.getElementById("service-summary").replaceChildren(el("dl", { class: "kv" },
    ...[["id", svc.id], ["Russian", svc.nameRu], ["Kazakh", svc.nameKk], ["provider", svc.provider],
      ["channels", svc.channels.join(", ")], ["systems", svc.systems.join(", ")]]
      .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
    el("dt", {}, "deadlines"), el("dd", {}, el("ul", {}, svc.deadlines.map((d) => el("li", {}, d))))));
  const boxes = [];
  for (const d of svc.diagrams) boxes.push(await diagram(svc, d));
  document.getElementById("service-diagrams").replaceChildren(...boxes);
  document.getElementById("service-view").scrollIntoView();
}

document.getElementById("services-search").addEventListener("input", () => data && render());
guarded(async () => {
  data = await apiGet("/ui/api/services");
  document.getElementById("services-note").textContent =
    `${data.services.length} services; diagrams ${data.graphviz ? "drawn by Graphviz" : "as Mermaid text (Graphviz is not installed)"}.`;
  render();
  if (param("service")) open(param("service"));
});
