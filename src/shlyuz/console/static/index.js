import { mountShell, apiGet, el, guarded, onScopeChange, getScope } from "/ui/api.js";

mountShell();

async function load() {
  const box = document.getElementById("home-status");
  await guarded(async () => {
    const info = await apiGet("/ui/api/overview");
    box.replaceChildren(
      el("dl", { class: "kv" },
        el("dt", {}, "version"), el("dd", { "data-testid": "overview-version" }, info.version),
        el("dt", {}, "session"), el("dd", { "data-testid": "overview-scope" }, getScope() || "default"),
        el("dt", {}, "gateway time"), el("dd", { "data-testid": "overview-now" }, info.now),
        el("dt", {}, "journal rows"), el("dd", { "data-testid": "overview-journal-rows" }, info.journalRows),
        el("dt", {}, "services"), el("dd", { "data-testid": "overview-services" }, info.services),
        el("dt", {}, "fixtures"), el("dd", { "data-testid": "overview-fixtures" },
          `${info.persons} persons, ${info.organisations} organisations, ${info.powersOfAttorney} powers of attorney`),
      ),
    );
  });
}
onScopeChange(load);
load();
