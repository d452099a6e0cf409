// "Arrivals": time series with zoom and range (hour/day/week/month buckets), split by
// specialty or pathology; an hour-of-week heatmap; monthly seasonality per pathology;
// and the patients present (census, time-weighted per hour), for simulated and observed
// data alike, as it comes from arrivals and departures.

import { get } from "../api.js";
import { SEQUENTIAL, draw, panel, showEmpty, showError, wallClock } from "../charts.js";
import { t } from "../i18n.js";
import { catalogOf, dateInput, el, fullRange, noRun, recentRange, select, viewHeader } from "./common.js";

const DEFAULT_DAYS = { hour: 7, day: 90, week: 366, month: 3660 };
const CENSUS_DAYS = 28;
// hour-of-week heatmaps: every other hour labelled, upright, so the axis title stays clear
function hourOfWeekLayout(tz) {
  return {
    xaxis: {
      title: { text: t("axis.hour", { tz }) }, tickmode: "array", tickvals: HOUR_TICKS,
      ticktext: HOUR_TICKS.map((h) => `${String(h).padStart(2, "0")}:00`), tickangle: 0, automargin: true,
    },
    yaxis: { title: { text: t("axis.weekday") }, autorange: "reversed", automargin: true },
    hovermode: "closest",
    margin: { t: 16, r: 16, b: 56, l: 72 },
  };
}
const HOURS = [...Array(24).keys()];
const HOUR_TICKS = [0, 4, 8, 12, 16, 20];

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
  const censusRange = recentRange(run, CENSUS_DAYS);
  const censusControls = el("div", { class: "controls" });
  const census = panel(container, "arrivals.census", { controls: censusControls });
  census.section.dataset.panel = "census";
  census.section.append(el("p", { class: "muted", i18n: "arrivals.census.help" }));
  const censusGrid = el("div", { class: "grid" });
  container.append(censusGrid);
  const censusWeek = panel(censusGrid, "arrivals.census_week");
  censusWeek.section.dataset.panel = "census-week";

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
        xaxis: { type: "date", rangeslider: { visible: true }, title: { text: t("axis.local_time", { tz: run.timezone }) } },
        yaxis: { title: { text: t("arrivals.axis.arrivals", { bucket: t(`bucket.${options.bucket}`) }) }, rangemode: "tozero" },
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
        type: "heatmap", z, x: HOURS,
        y: days.map((d) => t(`weekday.${d}`)), colorscale: SEQUENTIAL,
        colorbar: { title: { text: t("arrivals.axis.mean"), side: "right" } },
        hovertemplate: "%{y} %{x}:00 — %{z:.1f}<extra></extra>",
      }], hourOfWeekLayout(run.timezone), rows);
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
        // a ratio: never below 0, 1 (the pathology's usual month) in the middle, ×2 and above alike
        colorscale: "RdBu", reversescale: true, zmin: 0, zmax: 2,
        colorbar: { title: { text: t("arrivals.axis.relative"), side: "right" }, tickvals: [0, 0.5, 1, 1.5, 2], ticktext: ["×0", "×0.5", "×1", "×1.5", "×2+"] },
        hovertemplate: "%{y}, %{x}: ×%{z:.2f}<extra></extra>",
      }], {
        height: 160 + 22 * withData.length, hovermode: "closest", margin: { l: 220, r: 16, t: 8, b: 56 },
        xaxis: { title: { text: t("arrivals.axis.month") }, automargin: true }, // rotated month names push the title down
        yaxis: { automargin: true, autorange: "reversed", title: { text: t("axis.pathology") } },
      }, rows);
    } catch (error) {
      showError(seasonality, error);
    }
  }

  function paintCensusControls() {
    censusControls.replaceChildren(
      dateInput("common.from", censusRange.start, (value) => { censusRange.start = value; loadCensus(); }),
      dateInput("common.to", censusRange.end, (value) => { censusRange.end = value; loadCensus(); }),
    );
  }

  async function loadCensus() {
    try {
      const body = await get(`/runs/${run.id}/census`, { bucket: "hour", ...censusRange });
      const rows = body.buckets.map((bucket, i) => ({ hour: bucket, patients_present_mean: body.values[i] }));
      if (!body.values.some((v) => v)) return showEmpty(census, t("common.empty.range"));
      await draw(census, [{
        type: "scatter", mode: "lines", fill: "tozeroy", line: { shape: "hv", width: 1.5 },
        name: t("now.present"), x: body.buckets.map((b) => wallClock(b, run.timezone)), y: body.values,
        hovertemplate: "%{y:.1f}<extra>%{fullData.name}</extra>",
      }], {
        showlegend: false,
        height: 420,
        xaxis: { type: "date", rangeslider: { visible: true }, title: { text: t("axis.local_time", { tz: run.timezone }) } },
        yaxis: { title: { text: t("arrivals.axis.present") }, rangemode: "tozero" },
      }, rows);
    } catch (error) {
      showError(census, error);
    }
  }

  async function loadCensusWeek() {
    try {
      const body = await get(`/runs/${run.id}/census/hour-of-week`, fullRange(run));
      const days = [0, 1, 2, 3, 4, 5, 6];
      const z = days.map((d) => body.values.slice(d * 24, d * 24 + 24));
      const rows = [];
      days.forEach((d) => z[d].forEach((value, hour) => rows.push({ weekday: d, hour, patients_present_mean: value })));
      if (!body.values.some((v) => v)) return showEmpty(censusWeek, t("common.empty.run"));
      await draw(censusWeek, [{
        type: "heatmap", z, x: HOURS, y: days.map((d) => t(`weekday.${d}`)), colorscale: SEQUENTIAL,
        colorbar: { title: { text: t("arrivals.axis.present"), side: "right" } },
        hovertemplate: "%{y} %{x}:00 — %{z:.1f}<extra></extra>",
      }], hourOfWeekLayout(run.timezone), rows);
    } catch (error) {
      showError(censusWeek, error);
    }
  }

  paintControls();
  paintCensusControls();
  await Promise.all([loadSeries(), loadHeatmap(), loadSeasonality(), loadCensus(), loadCensusWeek()]);
}
