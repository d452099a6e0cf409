// The dashboard shell: language, data source (run) picker, hash router, live refresh.

import { get } from "./api.js";
import { loadPlotly } from "./charts.js";
import { initialLanguage, setLanguage, t, translatePage } from "./i18n.js";
import * as now from "./views/now.js";
import * as arrivals from "./views/arrivals.js";
import * as pathologies from "./views/pathologies.js";
import * as doctors from "./views/doctors.js";
import * as waits from "./views/waits.js";
import * as scenarios from "./views/scenarios.js";
import * as forecast from "./views/forecast.js";

const VIEWS = { now, arrivals, pathologies, doctors, waits, forecast, scenarios };
const config = JSON.parse(document.getElementById("hospiflow-config").textContent || "{}");

const state = {
  runs: [],
  run: null, // the selected run object from /runs
  view: null,
  cleanup: null,
  config,
};

async function loadRuns(preferred) {
  const body = await get("/runs");
  state.runs = body.runs || [];
  const picker = document.getElementById("run-picker");
  picker.replaceChildren();
  for (const run of state.runs) {
    const option = document.createElement("option");
    option.value = String(run.id);
    const label = run.label ? ` · ${run.label}` : "";
    option.textContent = `#${run.id} ${t(`kind.${run.kind}`)} (${t(`status.${run.status}`)})${label}`;
    picker.append(option);
  }
  const wanted = preferred ?? Number(new URLSearchParams(location.search).get("run"));
  const chosen = state.runs.find((r) => r.id === wanted) || pickDefaultRun(state.runs);
  state.run = chosen || null;
  if (chosen) picker.value = String(chosen.id);
  const notice = document.getElementById("notice");
  notice.hidden = Boolean(chosen);
  notice.textContent = chosen ? "" : t("run.none");
}

// Prefer a running live run, then the newest complete run.
function pickDefaultRun(runs) {
  return runs.find((r) => r.kind === "live" && r.status === "running")
    || runs.find((r) => r.status === "complete")
    || runs[0];
}

async function show(viewName) {
  const name = VIEWS[viewName] ? viewName : "now";
  if (state.cleanup) {
    state.cleanup();
    state.cleanup = null;
  }
  state.view = name;
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.setAttribute("aria-selected", tab.dataset.view === name ? "true" : "false");
  }
  const container = document.getElementById("view");
  container.replaceChildren();
  container.dataset.view = name;
  container.dataset.ready = "false";
  const started = performance.now();
  try {
    state.cleanup = (await VIEWS[name].render(container, state)) || null;
  } finally {
    container.dataset.ready = "true";
    container.dataset.renderMs = String(Math.round(performance.now() - started));
  }
}

async function main() {
  setLanguage(initialLanguage());
  const langPicker = document.getElementById("lang-picker");
  langPicker.value = document.documentElement.lang;
  translatePage();
  langPicker.addEventListener("change", async () => {
    setLanguage(langPicker.value);
    translatePage();
    await loadRuns(state.run && state.run.id);
    await show(state.view);
  });
  document.getElementById("run-picker").addEventListener("change", async (event) => {
    const id = Number(event.target.value);
    state.run = state.runs.find((r) => r.id === id) || null;
    await show(state.view);
  });
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  state.reloadRuns = loadRuns;
  await loadRuns();
  await show(location.hash.slice(1) || "now");
  // fetch the charting library while the manager reads the first view
  (window.requestIdleCallback || setTimeout)(() => loadPlotly().catch(() => {}));
}

main();
