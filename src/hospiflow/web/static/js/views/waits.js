// "Waits": door-to-doctor wait (median, 90th percentile, mean) over time, the share
// seen within a target, and patients who left without being seen.

import { get } from "../api.js";
import { draw, panel, showEmpty, showError, wallClock } from "../charts.js";
import { formatNumber, t } from "../i18n.js";
import { catalogOf, dateInput, el, noRun, numberInput, recentRange, select, viewHeader } from "./common.js";

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  const catalog = await catalogOf(run.id);
  container.append(viewHeader("waits.title", run));
  const options = { bucket: "day", target_minutes: 60, ...recentRange(run, 90) };
  const kpis = el("div", { class: "kpis" });
  container.append(kpis);
  const controls = el("div", { class: "controls" });
  const series = panel(container, "waits.series", { controls });
  const grid = el("div", { class: "grid" });
  container.append(grid);
  const target = panel(grid, "waits.target");
  const bySpecialty = panel(grid, "waits.by_specialty");

  function paintControls() {
    controls.replaceChildren(
      select("common.bucket", ["hour", "day", "week", "month"].map((b) => [b, `bucket.${b}`]), options.bucket, (value) => {
        options.bucket = value;
        Object.assign(options, recentRange(run, { hour: 7, day: 90, week: 366, month: 3660 }[value]));
        paintControls();
        load();
      }),
      dateInput("common.from", options.start, (value) => { options.start = value; load(); }),
      dateInput("common.to", options.end, (value) => { options.end = value; load(); }),
      numberInput("waits.target_minutes", options.target_minutes, (value) => { options.target_minutes = value; load(); }, { min: 0, step: 5 }),
    );
  }

  async function load() {
    try {
      const [overTime, perSpecialty] = await Promise.all([
        get(`/runs/${run.id}/waits`, options),
        get(`/runs/${run.id}/waits`, { ...options, bucket: "none", by: "specialty" }),
      ]);
      const s = overTime.series[0];
      if (!overTime.buckets.length || !s) {
        showEmpty(series, t("common.empty.range"));
        showEmpty(target, t("common.empty.range"));
      } else {
        const x = overTime.buckets.map((b) => wallClock(b, run.timezone));
        const rows = overTime.buckets.map((bucket, i) => ({
          bucket, wait_p50_min: s.wait_p50_min[i], wait_p90_min: s.wait_p90_min[i], wait_mean_min: s.wait_mean_min[i],
          seen_within_target_share: s.seen_within_target_share[i], left_without_being_seen: s.left_without_being_seen[i],
        }));
        await draw(series, [
          { type: "scatter", mode: "lines", name: t("waits.p90"), x, y: s.wait_p90_min, hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
          { type: "scatter", mode: "lines", name: t("waits.p50"), x, y: s.wait_p50_min, hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
          { type: "scatter", mode: "lines", line: { dash: "dot" }, name: t("waits.mean"), x, y: s.wait_mean_min, hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
        ], { xaxis: { type: "date", rangeslider: { visible: true } }, yaxis: { title: t("common.minutes"), rangemode: "tozero" } }, rows);
        await draw(target, [
          { type: "scatter", mode: "lines", name: t("waits.target"), x, y: s.seen_within_target_share, hovertemplate: "%{y:.1%}<extra>%{fullData.name}</extra>" },
          { type: "bar", name: t("waits.lwbs"), x, y: s.left_without_being_seen, yaxis: "y2", hovertemplate: "%{y}<extra>%{fullData.name}</extra>" },
        ], {
          xaxis: { type: "date" }, yaxis: { tickformat: ".0%", range: [0, 1.02] },
          yaxis2: { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false, title: t("waits.lwbs") },
        }, rows);
      }
      const total = perSpecialty.series;
      const specRows = total.map((r) => ({ specialty: r.key, visits: r.visits[0], wait_mean_min: r.wait_mean_min[0], wait_p50_min: r.wait_p50_min[0], wait_p90_min: r.wait_p90_min[0], seen_within_target_share: r.seen_within_target_share[0], left_without_being_seen: r.left_without_being_seen[0] }));
      if (!specRows.some((r) => r.visits)) showEmpty(bySpecialty, t("common.empty.range"));
      else {
        const names = specRows.map((r) => catalog.name(r.specialty));
        await draw(bySpecialty, [
          { type: "bar", name: t("waits.p50"), x: names, y: specRows.map((r) => r.wait_p50_min), hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
          { type: "bar", name: t("waits.p90"), x: names, y: specRows.map((r) => r.wait_p90_min), hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
        ], { barmode: "group", yaxis: { title: t("common.minutes") }, hovermode: "closest" }, specRows);
      }
      const all = specRows.reduce((acc, r) => ({ visits: acc.visits + (r.visits || 0), lwbs: acc.lwbs + (r.left_without_being_seen || 0) }), { visits: 0, lwbs: 0 });
      const overall = await get(`/runs/${run.id}/waits`, { ...options, bucket: "none", by: "none" });
      const o = overall.series[0] || {};
      const value = (key, digits, scale = 1, unit = "") => (o[key] && o[key][0] !== null ? `${formatNumber(scale * o[key][0], digits)}${unit}` : "–");
      kpis.replaceChildren(
        kpi("waits.p50", value("wait_p50_min", 0, 1, " min")),
        kpi("waits.p90", value("wait_p90_min", 0, 1, " min")),
        kpi("waits.target", value("seen_within_target_share", 1, 100, " %")),
        kpi("waits.lwbs", formatNumber(all.lwbs)),
      );
    } catch (error) {
      showError(series, error);
    }
  }

  paintControls();
  await load();
}

function kpi(labelKey, text) {
  return el("div", { class: "kpi" }, [el("div", { class: "label", i18n: labelKey }), el("div", { class: "value", text })]);
}
