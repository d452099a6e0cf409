// The dashboard shell: language, data source picker (sites' observed data and
// simulations), hash router, sign-in when the server wants a token.

import { UNAUTHORIZED, get, setToken, token } from "./api.js";
import { loadPlotly } from "./charts.js";
import { initialLanguage, setLanguage, t, translatePage } from "./i18n.js";
import * as now from "./views/now.js";
import * as arrivals from "./views/arrivals.js";
import * as pathologies from "./views/pathologies.js";
import * as doctors from "./views/doctors.js";
import * as waits from "./views/waits.js";
import * as scenarios from "./views/scenarios.js";
import * as forecast from "./views/forecast.js";
import * as quality from "./views/quality.js";
import * as tension from "./views/tension.js";
import { failure, isObserved, sourceName } from "./views/common.js";
import { startAlerts } from "./alerts.js";

const VIEWS = { now, arrivals, pathologies, doctors, waits, forecast, scenarios, quality, tension };
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
  const groups = [
    ["run.group.observed", state.runs.filter(isObserved)],
    ["run.group.simulated", state.runs.filter((run) => !isObserved(run))],
  ];
  for (const [labelKey, runs] of groups) {
    if (!runs.length) continue;
    const group = document.createElement("optgroup");
    group.label = t(labelKey);
    group.dataset.group = labelKey.split(".").pop();
    for (const run of runs) {
      const option = document.createElement("option");
      option.value = String(run.id);
      option.textContent = sourceName(run, { status: true });
      group.append(option);
    }
    picker.append(group);
  }
  const wanted = preferred ?? Number(new URLSearchParams(location.search).get("run"));
  const chosen = state.runs.find((r) => r.id === wanted) || pickDefaultRun(state.runs);
  state.run = chosen || null;
  if (chosen) picker.value = String(chosen.id);
  const notice = document.getElementById("notice");
  notice.hidden = Boolean(chosen);
  notice.textContent = chosen ? "" : t("run.none");
}

// Among simulations: a running live run, then the newest complete run, then the newest.
// A store holding only sites' observed data opens on the newest of them.
function pickDefaultRun(runs) {
  const simulated = runs.filter((r) => !isObserved(r));
  return simulated.find((r) => r.kind === "live" && r.status === "running")
    || simulated.find((r) => r.status === "complete")
    || simulated[0]
    || runs.find(isObserved);
}

async function show(viewName) {
  const name = VIEWS[viewName] ? viewName : "now";
  if (state.cleanup) {
    state.cleanup();
    state.cleanup = null;
  }
  state.view = name;
  document.getElementById("summary-link").href = state.run ? `/summary?run=${state.run.id}` : "/summary";
  // navigation links (not ARIA tabs): the current view is marked aria-current
  for (const tab of document.querySelectorAll("nav [data-view]")) {
    if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  const container = document.getElementById("view");
  container.replaceChildren();
  container.dataset.view = name;
  container.dataset.ready = "false";
  container.dataset.source = state.run ? (isObserved(state.run) ? "observed" : "simulation") : "";
  const started = performance.now();
  try {
    state.cleanup = (await VIEWS[name].render(container, state)) || null;
  } catch (error) {
    // the sign-in panel is up for a 401: nothing else to say; anything else is shown
    if (error.status !== 401) {
      if (state.cleanup) { state.cleanup(); state.cleanup = null; }
      container.replaceChildren(failure(error, () => show(name)));
    }
  } finally {
    container.dataset.ready = "true";
    container.dataset.renderMs = String(Math.round(performance.now() - started));
  }
}

// ---- sign-in: shown when a read answers 401; the token stays in this tab only

const signIn = {
  panel: () => document.getElementById("sign-in"),
  shown: false,
};

function paintSignOut() {
  document.getElementById("sign-out").hidden = !token();
}

function askForToken(refused) {
  const panel = signIn.panel();
  const error = document.getElementById("sign-in-error");
  error.hidden = !refused;
  error.textContent = refused ? t("auth.refused") : "";
  error.dataset.i18n = "auth.refused";
  if (!signIn.shown) {
    signIn.shown = true;
    panel.hidden = false;
    document.getElementById("view").hidden = true;
    document.getElementById("notice").hidden = true;
    document.body.dataset.auth = "needed";
    document.getElementById("sign-in-token").focus();
  }
}

// Load the runs and the view; a 401 leaves the sign-in panel up instead.
async function start(viewName, preferred) {
  try {
    await loadRuns(preferred);
  } catch (error) {
    if (error.status === 401) return false;
    throw error;
  }
  signIn.shown = false;
  signIn.panel().hidden = true;
  document.getElementById("view").hidden = false;
  document.body.dataset.auth = token() ? "token" : "open";
  paintSignOut();
  await show(viewName);
  return true;
}

// start(), and if the run list cannot be had, a message with a retry instead of a blank page.
async function startOrSay(viewName, preferred) {
  const container = document.getElementById("view");
  try {
    return await start(viewName, preferred);
  } catch (error) {
    container.replaceChildren(failure(error, () => startOrSay(viewName, preferred)));
    container.dataset.view = viewName;
    container.dataset.ready = "true";
    return false;
  }
}

function wireSignIn() {
  window.addEventListener(UNAUTHORIZED, () => {
    const had = Boolean(token());
    if (had) setToken("");
    paintSignOut();
    askForToken(had);
  });
  document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("sign-in-token");
    const value = input.value.trim();
    if (!value) return;
    setToken(value);
    input.value = "";
    await startOrSay(state.view || location.hash.slice(1) || "now", state.run && state.run.id);
  });
  document.getElementById("sign-out").addEventListener("click", async (event) => {
    event.preventDefault();
    setToken("");
    paintSignOut();
    if (state.cleanup) { state.cleanup(); state.cleanup = null; }
    await startOrSay(state.view || "now", state.run && state.run.id);
  });
}

async function main() {
  setLanguage(initialLanguage());
  const langPicker = document.getElementById("lang-picker");
  langPicker.value = document.documentElement.lang;
  translatePage();
  langPicker.addEventListener("change", async () => {
    setLanguage(langPicker.value);
    translatePage();
    if (state.refreshAlerts) state.refreshAlerts();
    if (signIn.shown) return;
    await startOrSay(state.view || "now", state.run && state.run.id);
  });
  document.getElementById("run-picker").addEventListener("change", async (event) => {
    const id = Number(event.target.value);
    state.run = state.runs.find((r) => r.id === id) || null;
    await show(state.view);
  });
  window.addEventListener("hashchange", () => { if (!signIn.shown) show(location.hash.slice(1)); });
  wireSignIn();
  state.reloadRuns = loadRuns;
  paintSignOut();
  await startOrSay(location.hash.slice(1) || "now");
  state.refreshAlerts = startAlerts(() => state.runs);
  // fetch the charting library while the manager reads the first view
  (window.requestIdleCallback || setTimeout)(() => loadPlotly().catch(() => {}));
}

main().catch((error) => {
  document.getElementById("view").replaceChildren(failure(error, () => location.reload()));
});
