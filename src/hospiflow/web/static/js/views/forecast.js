// "Forecast": the next 7 days of arrivals with their uncertainty bands, the risk of
// saturation per hour and specialty (heatmap), the staffing gap, and how good the
// forecasts were on the past (backtest scores, in plain words).
// Everything comes from the stored forecast (`hospiflow forecast run`, refreshed every
// simulated hour in live mode); names from data go in as text, never as HTML.

import { get } from "../api.js";
import { draw, panel, showEmpty, showError, wallClock } from "../charts.js";
import { formatNumber, formatTime, t } from "../i18n.js";
import { catalogOf, el, isObserved, lacks, noRun, select, viewHeader } from "./common.js";

// white -> amber -> red -> dark red: low risk fades out, high risk stands out
const RISK_SCALE = [[0, "#fffdf5"], [0.1, "#fde9b0"], [0.3, "#f6b04a"], [0.5, "#e4572e"], [1, "#7a0c0c"]];
const STAFF_ROWS = 24;

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  const catalog = await catalogOf(run.id);
  const note = el("p", { class: "muted" });
  container.append(viewHeader("forecast.title", run, note));
  const words = el("section", { class: "panel forecast-scores" });
  container.append(words);
  const options = { key: "all" };
  const controls = el("div", { class: "controls" });
  const arrivals = panel(container, "forecast.arrivals", { controls });
  const risk = panel(container, "forecast.risk");
  const grid = el("div", { class: "grid" });
  container.append(grid);
  const staffing = panel(grid, "forecast.staffing");
  const daily = panel(grid, "forecast.daily");
  let forecast = null;
  let status = {};

  async function load() {
    let risky = null;
    let staff = null;
    // ask first whether there is anything to show: a missing forecast is not an error
    status = (await get(`/runs/${run.id}`)).run.forecast || {};
    if (!status.generated_at) {
      const reason = t(isObserved(run) ? "forecast.missing_observed" : "forecast.missing", { command: `hospiflow forecast run --run ${run.id}` });
      for (const p of [arrivals, risk, staffing, daily]) showEmpty(p, reason);
      noRoster();
      note.textContent = "";
      await paintScores();
      return;
    }
    try {
      forecast = await get(`/runs/${run.id}/forecast`, { by: "specialty", horizon: 168 });
    } catch (error) {
      const reason = error.code === "no_forecast" ? error.message : null;
      for (const p of [arrivals, risk, staffing, daily]) reason ? showEmpty(p, reason) : showError(p, error);
      note.textContent = "";
      await paintScores();
      return;
    }
    note.textContent = t("forecast.generated", {
      origin: formatTime(forecast.origin, run.timezone),
      generated: formatTime(forecast.generated_at, run.timezone),
    });
    paintControls();
    await paintArrivals();
    await paintDaily();
    const rostered = !lacks(run, "rosters");
    try {
      [risky, staff] = await Promise.all([
        get(`/runs/${run.id}/forecast/risk`),
        rostered ? get(`/runs/${run.id}/forecast/staffing`) : null,
      ]);
    } catch (error) {
      const reason = error.code === "no_forecast" ? error.message : null;
      for (const p of [risk, staffing]) reason ? showEmpty(p, reason) : showError(p, error);
    }
    if (risky) await paintRisk(risky);
    if (staff) paintStaffing(staff);
    noRoster();
    await paintScores();
  }

  // A site's records hold no roster: there is no staffing gap to work out.
  function noRoster() {
    if (!lacks(run, "rosters")) return;
    showEmpty(staffing, t("forecast.staffing.not_in_data"));
    staffing.section.dataset.notInData = "rosters";
  }

  function paintControls() {
    const keys = forecast.series.map((s) => [s.key, s.key === "all" ? t("common.all") : catalog.name(s.key)]);
    controls.replaceChildren(
      select("common.specialty", keys, options.key, async (value) => {
        options.key = value;
        await paintArrivals();
        await paintDaily();
      }, { translate: false }),
    );
  }

  function chosen(list) {
    return list.find((s) => s.key === options.key) || list[0];
  }

  async function paintArrivals() {
    const s = chosen(forecast.series);
    if (!s || !forecast.hours.length) return showEmpty(arrivals, t("forecast.empty.none"));
    const x = forecast.hours.map((h) => wallClock(h, run.timezone));
    const q = (level) => s.quantiles[level] || [];
    const band = (low, high, name, opacity) => [
      { type: "scatter", mode: "lines", x, y: q(low), line: { width: 0 }, hoverinfo: "skip", showlegend: false },
      {
        type: "scatter", mode: "lines", x, y: q(high), fill: "tonexty", line: { width: 0 },
        fillcolor: `rgba(0,114,178,${opacity})`, name, hoverinfo: "skip",
      },
    ];
    const rows = forecast.hours.map((hour, i) => ({
      hour, series: s.key, mean: s.mean[i], q05: q("0.05")[i], q25: q("0.25")[i], q75: q("0.75")[i], q95: q("0.95")[i],
    }));
    await draw(arrivals, [
      ...band("0.05", "0.95", t("forecast.band90"), 0.15),
      ...band("0.25", "0.75", t("forecast.band50"), 0.3),
      {
        type: "scatter", mode: "lines", x, y: s.mean, name: t("forecast.mean"), line: { color: "#0072B2", width: 2 },
        customdata: rows.map((r) => [r.q05, r.q95]),
        hovertemplate: `%{y:.1f} (${t("forecast.band90")}: %{customdata[0]:.0f}–%{customdata[1]:.0f})<extra></extra>`,
      },
    ], { xaxis: { type: "date", title: { text: t("axis.local_time") } }, yaxis: { title: { text: t("forecast.per_hour") }, rangemode: "tozero" } }, rows);
  }

  async function paintDaily() {
    const s = chosen(forecast.daily);
    if (!s || !forecast.days.length) return showEmpty(daily, t("forecast.empty.none"));
    const x = forecast.days.map((d) => wallClock(d, run.timezone).slice(0, 10));
    const low = s.quantiles["0.05"] || [];
    const high = s.quantiles["0.95"] || [];
    const rows = forecast.days.map((day, i) => ({ day, series: s.key, mean: s.mean[i], q05: low[i], q95: high[i] }));
    await draw(daily, [{
      type: "bar", x, y: s.mean, name: t("forecast.mean"), marker: { color: "#56B4E9" },
      error_y: { type: "data", symmetric: false, array: s.mean.map((m, i) => high[i] - m), arrayminus: s.mean.map((m, i) => m - low[i]), color: "#555" },
      customdata: rows.map((r) => [r.q05, r.q95]),
      hovertemplate: `%{y:.0f} (${t("forecast.band90")}: %{customdata[0]:.0f}–%{customdata[1]:.0f})<extra></extra>`,
    }], { xaxis: { type: "date", tickformat: "%d %b", title: { text: t("axis.local_time") } }, yaxis: { title: { text: t("forecast.per_day") }, rangemode: "tozero" }, hovermode: "closest" }, rows);
  }

  async function paintRisk(body) {
    if (!body.hours.length) return showEmpty(risk, t("forecast.empty.none"));
    const x = body.hours.map((h) => wallClock(h, run.timezone));
    const names = body.specialties.map((s) => catalog.name(s.key));
    const d = body.drivers;
    const customdata = body.probability.map((row, s) => row.map((_, h) => [
      d.arrivals[s][h] ?? NaN, d.doctors[s][h] ?? NaN, d.utilisation[s][h] ?? NaN, d.waiting[s][h] ?? NaN,
    ]));
    const rows = [];
    body.specialties.forEach((spec, s) => body.hours.forEach((hour, h) => rows.push({
      hour, specialty: spec.key, probability: body.probability[s][h], arrivals: d.arrivals[s][h],
      doctors: d.doctors[s][h], utilisation: d.utilisation[s][h], waiting: d.waiting[s][h],
    })));
    await draw(risk, [{
      type: "heatmap", x, y: names, z: body.probability, zmin: 0, zmax: 1, colorscale: RISK_SCALE, customdata,
      colorbar: { title: { text: t("forecast.probability") }, tickformat: ".0%" },
      hovertemplate: `%{y} · %{x}<br>${t("forecast.probability")}: %{z:.0%}<br>${t("forecast.drivers.arrivals")}: %{customdata[0]:.1f}`
        + `<br>${t("forecast.drivers.doctors")}: %{customdata[1]:.1f}<br>${t("forecast.drivers.utilisation")}: %{customdata[2]:.0%}`
        + `<br>${t("forecast.drivers.waiting")}: %{customdata[3]:.1f}<extra></extra>`,
    }], { xaxis: { type: "date", title: { text: t("axis.local_time") } }, yaxis: { automargin: true }, hovermode: "closest", margin: { t: 36, r: 16, b: 56, l: 140 } }, rows);
    const caption = el("p", { class: "muted", text: `${t("forecast.rule")}: ${body.rule}` });
    risk.section.querySelector("p.rule")?.remove();
    caption.classList.add("rule");
    risk.section.append(caption);
  }

  function paintStaffing(body) {
    const rows = [];
    body.specialties.forEach((spec, s) => body.hours.forEach((hour, h) => {
      const gap = body.gap[s][h];
      if (gap !== null && gap !== 0) {
        rows.push({
          hour, specialty: spec.key, rostered: body.rostered[s][h], advised: body.advised[s][h], gap,
          probability_rostered: body.probability_rostered[s][h], probability_advised: body.probability_advised[s][h],
        });
      }
    }));
    rows.sort((a, b) => (a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : b.gap - a.gap));
    const short = rows.filter((r) => r.gap > 0);
    staffing.rows = rows;
    staffing.download.disabled = rows.length === 0;
    staffing.chart.replaceChildren();
    if (!short.length) {
      staffing.chart.hidden = true;
      staffing.empty.hidden = false;
      staffing.empty.textContent = t("forecast.staffing.none", { target: formatNumber(100 * body.settings.target_probability) });
      return;
    }
    staffing.empty.hidden = true;
    staffing.chart.hidden = false;
    const head = el("tr", {}, ["forecast.staffing.hour", "common.specialty", "forecast.staffing.rostered", "forecast.staffing.advised",
      "forecast.staffing.gap", "forecast.staffing.risk"].map((key) => el("th", { i18n: key, scope: "col" })));
    const body_ = el("tbody");
    for (const r of short.slice(0, STAFF_ROWS)) {
      body_.append(el("tr", { class: r.gap >= 2 ? "gap-high" : "gap" }, [
        el("td", { text: formatTime(r.hour, run.timezone) }),
        el("td", { text: catalog.name(r.specialty) }),
        el("td", { class: "num", text: formatNumber(r.rostered, 0) }),
        el("td", { class: "num", text: formatNumber(r.advised, 0) }),
        el("td", { class: "num", text: `+${formatNumber(r.gap, 0)}` }),
        el("td", { class: "num", text: `${formatNumber(100 * r.probability_rostered, 0)} % → ${formatNumber(100 * r.probability_advised, 0)} %` }),
      ]));
    }
    const table = el("table", { class: "table staffing" }, [el("thead", {}, head), body_]);
    const caption = el("p", { class: "muted", text: t("forecast.staffing.caption", {
      shown: Math.min(short.length, STAFF_ROWS), total: short.length, target: formatNumber(100 * body.settings.target_probability),
    }) });
    staffing.chart.append(caption, table);
  }

  async function paintScores() {
    words.replaceChildren(el("h3", { i18n: "forecast.scores" }));
    let body;
    if (!status.backtest_generated_at) {
      const command = `hospiflow forecast backtest --run ${run.id}`;
      words.append(el("p", { class: "empty", text: t("common.empty", { reason: t("forecast.missing_backtest", { command }) }) }));
      return;
    }
    try {
      body = await get(`/runs/${run.id}/forecast/backtest`);
    } catch (error) {
      const reason = error.code === "no_backtest" ? error.message : t("common.error", { message: error.message });
      words.append(el("p", { class: "empty", text: t("common.empty", { reason }) }));
      return;
    }
    const a = body.arrivals || {};
    const models = a.models || {};
    const best = models[a.best];
    const naive = models.seasonal_naive;
    const lines = [];
    if (best) {
      lines.push(t("forecast.words.arrivals", {
        days: Math.round((new Date(a.test_end) - new Date(a.test_start)) / 86400000) + 1,
        mae: formatNumber(best.mae, 1), naive: naive ? formatNumber(naive.mae, 1) : "–",
        coverage: formatNumber(100 * best.coverage90, 0), mape: formatNumber(best.daily_mape, 1),
      }));
    }
    const r = body.risk;
    if (r) {
      const mid = (r.reliability || []).filter((b) => b.cases >= 100 && b.low >= 0.2 && b.low < 0.6)[0];
      lines.push(t("forecast.words.risk", {
        skill: formatNumber(100 * r.brier_skill, 0), base: formatNumber(100 * r.base_rate, 0),
      }));
      if (mid) {
        lines.push(t("forecast.words.reliability", {
          predicted: formatNumber(100 * mid.predicted, 0), observed: formatNumber(100 * mid.observed, 0), cases: formatNumber(mid.cases),
        }));
      }
    } else if (body.note) {
      lines.push(t("forecast.words.norisk", { reason: body.note }));
    }
    const o = body.occupancy && body.occupancy.horizons ? body.occupancy.horizons : [];
    if (o.length) {
      lines.push(t("forecast.words.occupancy", {
        one: formatNumber(100 * o[0].improvement, 0), four: formatNumber(100 * (o[3] || o[0]).improvement, 0),
      }));
    }
    for (const line of lines) words.append(el("p", { text: line }));
  }

  await load();
}
