// "Scenarios": every run (the data sources), a what-if launched through the API with
// its progress, and two runs compared side by side.

import { get, send, setToken, token as storedToken } from "../api.js";
import { draw, panel, showEmpty, showError } from "../charts.js";
import { formatNumber, formatTime, t } from "../i18n.js";
import { catalogOf, el, fullRange, isObserved, numberInput, runLabel, select, sourceName, viewHeader } from "./common.js";
import { replicatedPanel } from "./whatif.js";

const POLL_MS = 700;
const COMPARED = [
  ["arrivals", 0], ["treated", 0], ["left_without_being_seen", 0], ["wait_mean_min", 1],
  ["los_mean_min", 1], ["waited_over_60_share", 3], ["utilisation", 3], ["waiting_mean", 2],
];

// Shares (0..1) read as percentages; the rest as numbers.
function metricText(key, value, digits) {
  const share = key.endsWith("_share") || key === "utilisation";
  if (!share || value === null || value === undefined) return formatNumber(value, digits);
  return `${formatNumber(100 * value, 1)} %`;
}

export async function render(container, state) {
  container.append(viewHeader("scenarios.title", null));
  const runsPanel = el("section", { class: "panel" }, [el("h3", { i18n: "scenarios.runs" })]);
  const formPanel = el("section", { class: "panel" }, [el("h3", { i18n: "scenarios.whatif" })]);
  const comparePanel = el("section", { class: "panel" }, [el("h3", { i18n: "scenarios.compare" })]);
  container.append(formPanel, runsPanel, comparePanel);
  const timers = new Set();

  function paintRuns() {
    runsPanel.querySelector("table, p.empty")?.remove();
    if (!state.runs.length) {
      runsPanel.append(el("p", { class: "empty", i18n: "run.none" }));
      return;
    }
    runsPanel.append(el("table", { id: "runs-table" }, [
      el("thead", {}, el("tr", {}, [
        el("th", { i18n: "runs.id" }), el("th", { i18n: "runs.kind" }), el("th", { i18n: "runs.label" }),
        el("th", { i18n: "runs.status" }), el("th", { i18n: "runs.start" }), el("th", { class: "num", i18n: "runs.visits" }),
      ])),
      el("tbody", {}, state.runs.map((run) => el("tr", { "data-run": run.id }, [
        el("td", { text: `#${run.id}` }),
        el("td", { text: isObserved(run) ? t("run.tag.observed") : t(`kind.${run.kind}`) }),
        el("td", { text: isObserved(run) ? sourceName(run) : runLabel(run.label || "") }),
        el("td", { text: run.status === "running" && run.progress !== null ? `${t("status.running")} ${Math.round(100 * run.progress)} %` : t(`status.${run.status}`) }),
        el("td", { text: formatTime(run.start, run.timezone) }),
        el("td", { class: "num", text: formatNumber(run.counts?.visits ?? null) }),
      ]))),
    ]));
  }

  // ---- what-if
  const whatIf = { base: "default", rate: 12.5, days: 30, routing: "pooled", extra: 0, seed: 7 };
  // the same token as the rest of the page: filled in when signed in, kept once typed
  const token = el("input", { type: "password", autocomplete: "off", id: "api-token", value: storedToken() || null });
  const progress = el("progress", { max: "1", value: "0", hidden: true });
  const message = el("p", { class: "muted", role: "status" });
  const launch = el("button", { type: "submit", class: "primary", i18n: "scenarios.launch" });
  const form = el("form", { class: "whatif", onsubmit: (event) => { event.preventDefault(); submit(); } }, [
    select("scenarios.base", [["default", "scenario.default"], ["plain", "scenario.plain"], ["stationary", "scenario.stationary"]], whatIf.base, (v) => { whatIf.base = v; }),
    numberInput("scenarios.rate", whatIf.rate, (v) => { whatIf.rate = v; }, { min: 0, step: 0.5 }),
    numberInput("scenarios.days", whatIf.days, (v) => { whatIf.days = v; }, { min: 1, step: 1 }),
    select("scenarios.routing", ["pooled", "shortest-queue", "random"].map((r) => [r, `scenarios.routing.${r}`]), whatIf.routing, (v) => { whatIf.routing = v; }),
    numberInput("scenarios.doctors", whatIf.extra, (v) => { whatIf.extra = v; }, { min: 0, step: 1 }),
    el("label", {}, [el("span", { i18n: "scenarios.token" }), token]),
    launch,
  ]);
  // What-ifs write to the store: they need an administrator token. Say so before anyone
  // fills the form, and switch it off when the server has no such token at all.
  const writes = state.config.writes_enabled !== false;
  const help = el("p", { class: writes ? "muted" : "notice", "data-writes": writes ? "on" : "off", i18n: writes ? "scenarios.token.help" : "scenarios.writes_off" });
  if (!writes) for (const control of form.querySelectorAll("input, select, button")) control.disabled = true;
  formPanel.append(help, form, progress, message);
  // the replicated what-if (baseline against change, 95 % intervals) comes right after
  formPanel.after(replicatedPanel(state, token, timers));

  async function submit() {
    launch.disabled = true;
    message.classList.remove("error");
    try {
      const changes = { arrivals: { rate_per_hour: whatIf.rate }, time: { days: whatIf.days, seed: whatIf.seed }, routing: { policy: whatIf.routing } };
      if (whatIf.extra > 0) changes.shifts = await extraDayDoctors(whatIf.base, whatIf.extra);
      const label = `λ=${whatIf.rate} ${whatIf.routing}${whatIf.extra ? ` +${whatIf.extra}` : ""}`;
      const typed = token.value.trim();
      const body = await send("POST", "/runs", typed, { base: whatIf.base, label, changes });
      if (typed && typed !== storedToken()) {
        setToken(typed);
        document.getElementById("sign-out").hidden = false;
      }
      message.textContent = t("scenarios.launched", { id: body.run_id });
      progress.hidden = false;
      progress.value = 0;
      await watch(body.run_id);
    } catch (error) {
      message.textContent = t("common.error", { message: error.message });
      message.classList.add("error");
    } finally {
      launch.disabled = false;
    }
  }

  // The base scenario's roster with `extra` more doctors on every day shift.
  async function extraDayDoctors(base, extra) {
    const template = state.runs.find((r) => r.kind === "simulation" && r.status === "complete");
    const detail = template ? await get(`/runs/${template.id}`) : null;
    const shifts = detail?.run?.parameters?.name === base ? detail.run.parameters.shifts : null;
    if (!shifts) throw new Error(`no stored "${base}" roster to start from`);
    return shifts.map((s) => (s.label === "day" ? { ...s, doctors: s.doctors + extra } : s));
  }

  function watch(runId) {
    return new Promise((resolve) => {
      const timer = setInterval(async () => {
        try {
          const { run } = await get(`/runs/${runId}`);
          progress.value = run.progress ?? 0;
          message.textContent = t("scenarios.progress", { id: runId, percent: Math.round(100 * (run.progress ?? 0)) });
          if (run.status !== "running") {
            clearInterval(timer);
            timers.delete(timer);
            message.textContent = run.status === "complete" ? t("scenarios.done", { id: runId }) : `${t("status.failed")}: ${run.error || ""}`;
            await state.reloadRuns(state.run && state.run.id);
            paintRuns();
            paintCompare();
            resolve();
          }
        } catch { /* try again at the next tick */ }
      }, POLL_MS);
      timers.add(timer);
    });
  }

  // ---- compare
  const compare = { left: null, right: null };
  const compareControls = el("div", { class: "controls" });
  const compareTable = el("div");
  comparePanel.append(compareControls, compareTable);
  const chart = panel(comparePanel, "scenarios.compare.chart");

  function paintCompare() {
    const complete = state.runs.filter((r) => r.status === "complete");
    // two different runs by default: the newest and the one before it
    compare.left = compare.left ?? complete[1]?.id ?? null;
    compare.right = compare.right ?? complete[0]?.id ?? null;
    const options = complete.map((r) => [r.id, sourceName(r)]);
    compareControls.replaceChildren(
      select("scenarios.left", options, compare.left, (v) => { compare.left = Number(v); loadCompare(); }, { translate: false }),
      select("scenarios.right", options, compare.right, (v) => { compare.right = Number(v); loadCompare(); }, { translate: false }),
    );
    loadCompare();
  }

  async function loadCompare() {
    const ids = [compare.left, compare.right].filter((id) => id !== null);
    if (ids.length < 2) {
      compareTable.replaceChildren(el("p", { class: "empty", "data-compare": "need-two", i18n: "scenarios.compare.need_two" }));
      return showEmpty(chart, t("scenarios.compare.need_two"));
    }
    if (ids[0] === ids[1]) {
      compareTable.replaceChildren(el("p", { class: "empty", "data-compare": "same", i18n: "scenarios.compare.same" }));
      return showEmpty(chart, t("scenarios.compare.same"));
    }
    try {
      const runs = ids.map((id) => state.runs.find((r) => r.id === id));
      const [kpisA, kpisB, waitsA, waitsB] = await Promise.all([
        ...runs.map((run) => get(`/runs/${run.id}/kpis`, fullRange(run))),
        ...runs.map((run) => get(`/runs/${run.id}/waits`, { by: "specialty", ...fullRange(run) })),
      ]);
      compareTable.replaceChildren(el("table", { id: "compare-table" }, [
        el("thead", {}, el("tr", {}, [el("th", { i18n: "scenarios.metric" }), el("th", { class: "num", text: `A · ${sourceName(runs[0])}` }), el("th", { class: "num", text: `B · ${sourceName(runs[1])}` })])),
        el("tbody", {}, COMPARED.map(([key, digits]) => el("tr", { "data-metric": key }, [
          el("td", { text: t(`metric.${key}`) }),
          el("td", { class: "num", text: metricText(key, kpisA.kpis[key], digits) }),
          el("td", { class: "num", text: metricText(key, kpisB.kpis[key], digits) }),
        ]))),
      ]));
      const catalog = await catalogOf(runs[0].id);
      const keys = waitsA.series.map((s) => s.key);
      const rows = keys.map((key) => ({
        specialty: key,
        [`run_${runs[0].id}_wait_mean_min`]: waitsA.series.find((s) => s.key === key)?.wait_mean_min[0] ?? null,
        [`run_${runs[1].id}_wait_mean_min`]: waitsB.series.find((s) => s.key === key)?.wait_mean_min[0] ?? null,
      }));
      await draw(chart, runs.map((run, i) => ({
        type: "bar", name: `${"AB"[i]} · ${sourceName(run)}`, x: keys.map((k) => catalog.name(k)),
        y: rows.map((r) => r[`run_${run.id}_wait_mean_min`]), hovertemplate: "%{y:.1f} min<extra>%{fullData.name}</extra>",
      })), { barmode: "group", xaxis: { title: { text: t("common.specialty") }, automargin: true }, yaxis: { title: { text: t("waits.axis.mean_wait") } }, hovermode: "closest" }, rows);
    } catch (error) {
      showError(chart, error);
    }
  }

  paintRuns();
  paintCompare();
  return () => { for (const timer of timers) clearInterval(timer); };
}
