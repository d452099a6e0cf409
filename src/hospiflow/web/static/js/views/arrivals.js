// "Arrivals": time series with zoom and range (hour/day/week/month buckets), split by
// specialty or pathology; an hour-of-week heatmap; monthly seasonality per pathology.

import { get } from "../api.js";
import { SEQUENTIAL, draw, panel, showEmpty, showError, wallClock } from "../charts.js";
import { t } from "../i18n.js";
import { catalogOf, dateInput, el, fullRange, noRun, recentRange, select, viewHeader } from "./common.js";

const DEFAULT_DAYS = { hour: 7, day: 90, week: 366, month: 3660 };

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  const catalog = await catalogOf(run.id);
  container.append(viewHeader("arrivals.title", run));
  const options = { bucket: "day", by: "specialty", ...recentRange(run, DEFAULT_DAYS.day) };
  const controls = el("div", { class: "controls" });
  const series = panel(container, "arrivals.series", { controls });
  const grid = el("div", { class: "grid" });
  container.append(grid);
  const heatmap = panel(grid, "arrivals.heatmap");
  const seasonality = panel(grid, "arrivals.seasonality");

  function paintControls() {
    controls.replaceChildren(
      select("common.bucket", ["hour", "day", "week", "month"].map((b) => [b, `bucket.${b}`]), options.bucket, (value) => {
        options.bucket = value;
        Object.assign(options, value === "month" || value === "week" ? fullRange(run) : recentRange(run, DEFAULT_DAYS[value]));
        paintControls();
        loadSeries();
      }),
      select("common.group", [["none", "common.none"], ["specialty", "common.specialty"], ["pathology", "common.pathology"]], options.by, (value) => { options.by = value; loadSeries(); }),
      dateInput("common.from", options.start, (value) => { options.start = value; loadSeries(); }),
      dateInput("common.to", options.end, (value) => { options.end = value; loadSeries(); }),
    );
  }

  async function loadSeries() {
    try {
      const body = await get(`/runs/${run.id}/arrivals`, options);
      const x = body.buckets.map((b) => wallClock(b, run.timezone));
      const stacked = body.series.length > 1;
      const traces = body.series.map((s) => ({
        type: stacked ? "bar" : "scatter",
        mode: "lines",
        name: s.key === "all" ? t("common.total") : catalog.name(s.key),
        x,
        y: s.values,
        hovertemplate: "%{y}<extra>%{fullData.name}</extra>",
      }));
      const rows = [];
      body.buckets.forEach((bucket, i) => {
        for (const s of body.series) rows.push({ bucket, group: s.key, arrivals: s.values[i] });
      });
      if (!body.buckets.length) return showEmpty(series, t("common.empty.range"));
      await draw(series, traces, {
        barmode: "stack",
        xaxis: { type: "date", rangeslider: { visible: true }, title: "" },
        yaxis: { title: t("common.patients"), rangemode: "tozero" },
      }, rows);
      series.chart.dataset.total = String(body.total);
    } catch (error) {
      showError(series, error);
    }
  }

  async function loadHeatmap() {
    try {
      const body = await get(`/runs/${run.id}/arrivals/hour-of-week`, fullRange(run));
      const all = body.series[0];
      const days = [0, 1, 2, 3, 4, 5, 6];
      const z = days.map((d) => all.mean_per_hour.slice(d * 24, d * 24 + 24));
      const rows = [];
      days.forEach((d) => z[d].forEach((value, hour) => rows.push({ weekday: d, hour, mean_arrivals: value })));
      if (!all.arrivals.some((v) => v > 0)) return showEmpty(heatmap, t("common.empty.run"));
      await draw(heatmap, [{
        type: "heatmap", z, x: [...Array(24).keys()].map((h) => `${String(h).padStart(2, "0")}:00`),
        y: days.map((d) => t(`weekday.${d}`)), colorscale: SEQUENTIAL,
        hovertemplate: "%{y} %{x}: %{z:.1f}<extra></extra>",
      }], { yaxis: { autorange: "reversed" }, hovermode: "closest" }, rows);
    } catch (error) {
      showError(heatmap, error);
    }
  }

  async function loadSeasonality() {
    try {
      const body = await get(`/runs/${run.id}/arrivals/seasonality`, fullRange(run));
      const months = [...Array(12).keys()];
      const monthNames = months.map((m) => new Intl.DateTimeFormat(document.documentElement.lang, { month: "short", timeZone: "UTC" }).format(new Date(Date.UTC(2025, m, 15))));
      // a month with no arrivals at all is outside the data (a run's partial edges): leave it blank
      const observed = months.map((m) => body.series.some((s) => s.month_of_year_mean[m]));
      for (const s of body.series) s.month_of_year_mean = s.month_of_year_mean.map((v, m) => (observed[m] ? v : null));
      const withData = body.series.filter((s) => s.month_of_year_mean.some((v) => v));
      if (!withData.length) return showEmpty(seasonality, t("common.empty.run"));
      // each pathology relative to its own monthly mean: the shape of its season
      const z = withData.map((s) => {
        const known = s.month_of_year_mean.filter((v) => v !== null);
        const mean = known.reduce((a, b) => a + b, 0) / (known.length || 1);
        return s.month_of_year_mean.map((v) => (v === null || !mean ? null : v / mean));
      });
      const rows = [];
      withData.forEach((s, i) => months.forEach((m) => rows.push({ pathology: s.key, icd10: s.icd10, month: m + 1, mean_arrivals: s.month_of_year_mean[m], relative: z[i][m] })));
      await draw(seasonality, [{
        type: "heatmap", z, x: monthNames, y: withData.map((s) => `${catalog.name(s.key)} (${s.icd10})`),
        colorscale: "RdBu", reversescale: true, zmid: 1,
        hovertemplate: "%{y}, %{x}: ×%{z:.2f}<extra></extra>",
      }], { height: 140 + 22 * withData.length, yaxis: { automargin: true, autorange: "reversed" }, hovermode: "closest", margin: { l: 220, r: 16, t: 8, b: 40 } }, rows);
    } catch (error) {
      showError(seasonality, error);
    }
  }

  paintControls();
  await Promise.all([loadSeries(), loadHeatmap(), loadSeasonality()]);
}
