// "Waits": door-to-doctor wait (median, 90th percentile, mean) over time, the share
// seen within a target, patients who left without being seen, and length of stay.
// A site's records may lack first-seen times: then waits cannot be measured, the panels
// say so, and length of stay (arrival to departure) is still shown.

import { get } from "../api.js";
import { draw, panel, showEmpty, showError, wallClock } from "../charts.js";
import { formatNumber, t } from "../i18n.js";
import { catalogOf, dateInput, el, isObserved, noRun, numberInput, recentRange, select, viewHeader } from "./common.js";

const hasAny = (values) => (values || []).some((v) => v !== null && v !== undefined);

function wholeTicks(values) {
  const top = Math.max(0, ...values.filter((v) => v !== null));
  return top < 5 ? { range: [0, Math.max(1, top) * 1.05], dtick: 1, tickformat: "d" } : { tickformat: "d" };
}

function belowZero(values) {
  const top = Math.max(1, ...values.filter((v) => v !== null && v !== undefined));
  return [-0.04 * top, 1.06 * top];
}

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
  const stay = panel(container, "waits.los");

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

  // Why a wait panel is empty: no visits at all, or visits without first-seen times.
  function noWaits(visits) {
    if (!visits) return t("common.empty.range");
    return t(isObserved(run) ? "waits.empty.no_first_seen" : "waits.empty.none_seen");
  }

  async function load() {
    try {
      const [overTime, perSpecialty, overall] = await Promise.all([
        get(`/runs/${run.id}/waits`, options),
        get(`/runs/${run.id}/waits`, { ...options, bucket: "none", by: "specialty" }),
        get(`/runs/${run.id}/waits`, { ...options, bucket: "none", by: "none" }),
      ]);
      const s = overTime.series[0];
      const visits = s ? s.visits.reduce((a, b) => a + b, 0) : 0;
      const x = overTime.buckets.map((b) => wallClock(b, run.timezone));
      const timeAxis = { type: "date", title: { text: t("axis.local_time", { tz: run.timezone }) } };
      const rows = s ? overTime.buckets.map((bucket, i) => ({
        bucket, visits: s.visits[i], wait_p50_min: s.wait_p50_min[i], wait_p90_min: s.wait_p90_min[i], wait_mean_min: s.wait_mean_min[i],
        seen_within_target_share: s.seen_within_target_share[i], left_without_being_seen: s.left_without_being_seen[i],
        los_p50_min: s.los_p50_min[i], los_p90_min: s.los_p90_min[i], los_mean_min: s.los_mean_min[i],
      })) : [];
      if (!s || !overTime.buckets.length || !hasAny(s.wait_mean_min)) {
        const reason = !s || !overTime.buckets.length ? t("common.empty.range") : noWaits(visits);
        showEmpty(series, reason);
        showEmpty(target, reason);
      } else {
        const waitRows = rows.map(({ los_p50_min, los_p90_min, los_mean_min, ...keep }) => keep);
        await draw(series, [
          { type: "scatter", mode: "lines", name: t("waits.p90"), x, y: s.wait_p90_min, hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
          { type: "scatter", mode: "lines", line: { width: 3 }, name: t("waits.p50"), x, y: s.wait_p50_min, hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
          { type: "scatter", mode: "lines", line: { dash: "dot" }, name: t("waits.mean"), x, y: s.wait_mean_min, hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
        ], {
          xaxis: { ...timeAxis, rangeslider: { visible: true } },
          // a little room under 0: a median of 0 min (most patients seen at once) stays visible
          yaxis: { title: { text: t("waits.axis.wait") }, zeroline: false, range: belowZero(s.wait_p90_min.concat(s.wait_mean_min)) },
        }, waitRows);
        await draw(target, [
          { type: "scatter", mode: "lines", name: t("waits.target"), x, y: s.seen_within_target_share, hovertemplate: "%{y:.1%}<extra>%{fullData.name}</extra>" },
          { type: "bar", name: t("waits.lwbs"), x, y: s.left_without_being_seen, yaxis: "y2", hovertemplate: "%{y}<extra>%{fullData.name}</extra>" },
        ], {
          xaxis: timeAxis, yaxis: { tickformat: ".0%", range: [0, 1.02], title: { text: t("waits.axis.share") } },
          // whole patients: a few (or none) would otherwise get ticks like 0.196
          yaxis2: { overlaying: "y", side: "right", rangemode: "tozero", showgrid: false, title: { text: t("waits.axis.lwbs") }, ...wholeTicks(s.left_without_being_seen) },
          margin: { t: 36, r: 64, b: 48, l: 64 },
        }, waitRows);
      }
      if (!s || !hasAny(s.los_mean_min)) {
        showEmpty(stay, visits ? t("waits.empty.no_departure") : t("common.empty.range"));
      } else {
        const stayRows = rows.map((r) => ({ bucket: r.bucket, visits: r.visits, los_p50_min: r.los_p50_min, los_p90_min: r.los_p90_min, los_mean_min: r.los_mean_min }));
        const hours = (values) => values.map((v) => (v === null ? null : v / 60));
        await draw(stay, [
          { type: "scatter", mode: "lines", name: t("waits.p90"), x, y: hours(s.los_p90_min), hovertemplate: "%{y:.1f} h<extra>%{fullData.name}</extra>" },
          { type: "scatter", mode: "lines", name: t("waits.p50"), x, y: hours(s.los_p50_min), hovertemplate: "%{y:.1f} h<extra>%{fullData.name}</extra>" },
          { type: "scatter", mode: "lines", line: { dash: "dot" }, name: t("waits.mean"), x, y: hours(s.los_mean_min), hovertemplate: "%{y:.1f} h<extra>%{fullData.name}</extra>" },
        ], { xaxis: timeAxis, yaxis: { title: { text: t("waits.axis.los") }, rangemode: "tozero" } }, stayRows);
      }
      const specRows = perSpecialty.series.map((r) => ({ specialty: r.key, visits: r.visits[0], wait_mean_min: r.wait_mean_min[0], wait_p50_min: r.wait_p50_min[0], wait_p90_min: r.wait_p90_min[0], seen_within_target_share: r.seen_within_target_share[0], left_without_being_seen: r.left_without_being_seen[0] }))
        .filter((r) => r.visits);
      if (!specRows.length) showEmpty(bySpecialty, t("common.empty.range"));
      else if (!specRows.some((r) => r.wait_p50_min !== null)) showEmpty(bySpecialty, noWaits(visits));
      else {
        const names = specRows.map((r) => catalog.name(r.specialty));
        await draw(bySpecialty, [
          { type: "bar", name: t("waits.p50"), x: names, y: specRows.map((r) => r.wait_p50_min), hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
          { type: "bar", name: t("waits.p90"), x: names, y: specRows.map((r) => r.wait_p90_min), hovertemplate: "%{y:.0f} min<extra>%{fullData.name}</extra>" },
        ], { barmode: "group", xaxis: { title: { text: t("common.specialty") }, automargin: true }, yaxis: { title: { text: t("waits.axis.wait") } }, hovermode: "closest" }, specRows);
      }
      const lwbs = specRows.reduce((acc, r) => acc + (r.left_without_being_seen || 0), 0);
      const o = overall.series[0] || {};
      const value = (key, digits, scale = 1, unit = "") => (o[key] && o[key][0] !== null && o[key][0] !== undefined ? `${formatNumber(scale * o[key][0], digits)}${unit}` : "–");
      const hoursValue = (key) => (o[key] && o[key][0] !== null && o[key][0] !== undefined ? `${formatNumber(o[key][0] / 60, 1)} h` : "–");
      kpis.replaceChildren(
        kpi("waits.kpi.p50", value("wait_p50_min", 0, 1, " min"), "wait_p50"),
        kpi("waits.kpi.p90", value("wait_p90_min", 0, 1, " min"), "wait_p90"),
        kpi("waits.target", value("seen_within_target_share", 1, 100, " %"), "target"),
        kpi("waits.lwbs", formatNumber(lwbs), "lwbs"),
        kpi("waits.los_p50", hoursValue("los_p50_min"), "los_p50"),
      );
    } catch (error) {
      showError(series, error);
    }
  }

  paintControls();
  await load();
}

function kpi(labelKey, text, name) {
  return el("div", { class: "kpi" }, [el("div", { class: "label", i18n: labelKey }), el("div", { class: "value", "data-kpi": name, text })]);
}
