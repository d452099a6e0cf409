// "Forecast": first the headline risks on the Now status's own rule (the status turning
// red in each of the next 8 hours; FEDORU hospital tension tomorrow), each with the Brier
// skill its fit had when backtested; then the next 7 days of arrivals with their
// uncertainty bands, the risk of a queue forming (>= 1 waiting per doctor) per hour and
// specialty (heatmap), the staffing gap, and how good the forecasts were on the past.
// A site's observed data (no doctors, no rosters): the red risk is on the census basis of
// its Now status; the 7-day risk is crowding (patients present against the site's declared
// spaces or its own 95th percentile): a heat strip over the expected patients present and
// the threshold, the definition in a sentence, the next 8 hours of patients present, and
// no staffing advice (said plainly). "Saturated" is only ever the Now status's red.
// Everything comes from the stored forecast (`hospiflow forecast run`, refreshed every
// simulated hour in live mode); names from data go in as text, never as HTML.

import { get } from "../api.js";
import { draw, panel, showEmpty, showError, wallClock } from "../charts.js";
import { formatNumber, formatTime, has, language, t } from "../i18n.js";
import { catalogOf, el, isObserved, lacks, noRun, select, viewHeader } from "./common.js";

// white -> amber -> red -> dark red: low risk fades out, high risk stands out
const RISK_SCALE = [[0, "#fffdf5"], [0.1, "#fde9b0"], [0.3, "#f6b04a"], [0.5, "#e4572e"], [1, "#7a0c0c"]];
const STAFF_ROWS = 24;
// hourly time axes: "Sun 1 Jun" / "dim. 1 juin" (day first in both languages), hours when zoomed
const HOURS_AXIS = {
  type: "date",
  automargin: true, // two-line ticks push the axis title down instead of under it
  tickformatstops: [
    { dtickrange: [null, 43200000], value: "%H:%M<br>%a %-d %b" },
    { dtickrange: [43200000, null], value: "%a %-d %b" },
  ],
  hoverformat: "%a %-d %b %H:%M",
};

// "label: " in English, "label : " in French (a space before the colon)
function label(key) {
  return `${t(key)}${language() === "fr" ? "\u00a0: " : ": "}`;
}

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  const catalog = await catalogOf(run.id);
  const note = el("p", { class: "muted" });
  container.append(viewHeader("forecast.title", run, note));
  const headline = el("div", { class: "grid forecast-status" });
  container.append(headline);
  const redRisk = panel(headline, "forecast.status.red");
  redRisk.section.dataset.risk = "status-red";
  const tension = el("section", { class: "panel forecast-tension", "data-risk": "tension" });
  headline.append(tension);
  const words = el("section", { class: "panel forecast-scores" });
  container.append(words);
  const options = { key: "all" };
  const controls = el("div", { class: "controls" });
  const arrivals = panel(container, "forecast.arrivals", { controls });
  const risk = panel(container, "forecast.risk");
  const occupancy = panel(container, "forecast.occupancy");
  occupancy.section.hidden = true;
  occupancy.chart.hidden = true; // shown (with its section) only when the forecast has it
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
      for (const p of [redRisk, arrivals, risk, staffing, daily]) showEmpty(p, reason);
      paintTension(null, reason);
      noRoster(null);
      note.textContent = "";
      await paintScores();
      return;
    }
    try {
      forecast = await get(`/runs/${run.id}/forecast`, { by: "specialty", horizon: 168 });
    } catch (error) {
      const reason = error.code === "no_forecast" ? error.message : null;
      for (const p of [redRisk, arrivals, risk, staffing, daily]) reason ? showEmpty(p, reason) : showError(p, error);
      paintTension(null, reason || t("common.error", { message: error.message }));
      note.textContent = "";
      await paintScores();
      return;
    }
    note.textContent = t("forecast.generated", {
      origin: formatTime(forecast.origin, run.timezone),
      clock: t(isObserved(run) ? "clock.observed" : "clock.simulated"),
      generated: formatTime(forecast.generated_at, run.timezone),
    });
    paintControls();
    await paintStatus();
    await paintArrivals();
    await paintDaily();
    await paintOccupancy(forecast.occupancy);
    const rostered = !lacks(run, "rosters") && !(forecast.lacks || []).includes("doctors");
    try {
      [risky, staff] = await Promise.all([
        get(`/runs/${run.id}/forecast/risk`),
        rostered ? get(`/runs/${run.id}/forecast/staffing`) : null,
      ]);
    } catch (error) {
      // an observed run without departure times has no census, hence no risk
      const reason = error.code !== "no_forecast" ? null : forecast.lacks ? t("forecast.risk.no_census") : error.message;
      for (const p of [risk, staffing]) reason ? showEmpty(p, reason) : showError(p, error);
    }
    if (risky && risky.lacks) await paintCensusRisk(risky);
    else if (risky) await paintRisk(risky);
    if (staff) paintStaffing(staff);
    noRoster(risky || forecast);
    await paintScores();
  }

  // The headline: P(status red) in each of the next 8 hours, bars over the usual share of red
  // hours at that hour of the week, the rule in words and the backtested skill beside it.
  async function paintStatus() {
    let body;
    try {
      body = await get(`/runs/${run.id}/forecast/status`);
    } catch (error) {
      showError(redRisk, error);
      paintTension(null, t("common.error", { message: error.message }));
      return;
    }
    paintTension(body.tension, reasonText(body.tension_note, body.tension_reason));
    tension.dataset.reason = body.tension_reason || "";
    redRisk.section.dataset.reason = body.red_reason || "";
    redRisk.section.querySelectorAll("p.status-caption").forEach((p) => p.remove());
    const r = body.red;
    if (!r) {
      showEmpty(redRisk, reasonText(body.red_note, body.red_reason));
      redRisk.section.dataset.available = "false";
      return;
    }
    redRisk.section.dataset.available = "true";
    const x = r.hours.map((h) => wallClock(h, run.timezone));
    const rows = r.hours.map((hour, i) => ({
      hour, probability_red: r.probability[i], usual_for_hour_of_week: r.hour_of_week_rate[i],
      backtest_brier_skill: r.skill[i] ? r.skill[i].brier_skill : null,
    }));
    const skills = r.skill.map((s) => (s.brier_skill == null ? NaN : s.brier_skill));
    await draw(redRisk, [
      {
        type: "bar", x, y: r.probability, name: t("forecast.status.series"),
        marker: { color: r.probability, colorscale: RISK_SCALE, cmin: 0, cmax: 1, line: { color: "#7a0c0c", width: 1 } },
        text: r.probability.map((p) => `${formatNumber(100 * p, 0)} %`), textposition: "outside", cliponaxis: false,
        customdata: r.hour_of_week_rate.map((u, i) => [u, skills[i]]),
        hovertemplate: `%{x|%a %-d %b %H:%M}<br>${label("forecast.status.series")}%{y:.0%}`
          + `<br>${label("forecast.status.usual")}%{customdata[0]:.0%}`
          + `<br>${label("forecast.status.skill_short")}%{customdata[1]:.0%}<extra></extra>`,
      },
      {
        type: "scatter", mode: "lines+markers", x, y: r.hour_of_week_rate, name: t("forecast.status.usual"),
        line: { color: "#555", width: 2, dash: "dot" }, hoverinfo: "skip",
      },
    ], {
      xaxis: { ...HOURS_AXIS, title: { text: t("axis.local_time", { tz: run.timezone }) } },
      yaxis: { title: { text: t("forecast.status.axis") }, tickformat: ".0%", range: [0, Math.min(1, Math.max(0.25, ...r.probability, ...r.hour_of_week_rate) * 1.25)] },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, hovermode: "closest", margin: { t: 56, r: 16, b: 56, l: 72 },
    }, rows);
    const pct = (v) => (v == null || !Number.isFinite(v) ? "–" : formatNumber(100 * v, 0));
    const nowKey = r.now.red ? "forecast.status.now_red" : "forecast.status.now_not_red";
    const caption = (text, extra = "") => redRisk.section.append(el("p", { class: `muted status-caption ${extra}`.trim(), text }));
    caption(t(nowKey, { load: pct(r.now.load), from: formatTime(r.from, run.timezone) }));
    caption(t(`forecast.status.rule.${r.basis}`, { red: formatNumber(body.rule.red_waiting_per_doctor, 0) }));
    caption(t("forecast.status.skill", {
      days: formatNumber(r.test_days, 0), one: pct(skills[0]), eight: pct(skills[skills.length - 1]),
      mean: pct(r.mean_brier_skill), base: pct(r.test_base_rate),
    }), "status-skill");
    if (!body.matches_now) caption(t("forecast.status.mismatch", { red: formatNumber(body.rule.red_waiting_per_doctor, 0) }), "warning");
  }

  // Why a risk is unavailable, in the page's language when the server gave a known code.
  function reasonText(note, code) {
    const key = `forecast.status.reason.${code}`;
    if (!code || code === "other" || !has(key)) return note || "";
    return t(key, { command: `hospiflow forecast run --run ${run.id}` });
  }

  // Tension tomorrow: one probability and its backtested skill, or why there is none.
  function paintTension(body, note) {
    tension.replaceChildren(el("h3", { i18n: "forecast.status.tension" }));
    if (!body) {
      tension.dataset.available = "false";
      tension.append(el("p", { class: "empty", text: t("forecast.status.unavailable", { reason: note || "" }) }));
      return;
    }
    tension.dataset.available = "true";
    const pct = (v) => (v == null || !Number.isFinite(v) ? "–" : formatNumber(100 * v, 0));
    tension.append(
      el("p", { class: "big-number", text: `${pct(body.probability)} %` }),
      el("p", { text: t("forecast.status.tension.for", { day: body.day, from: body.from_day, level: formatNumber(body.today.level, 0) }) }),
      el("p", { class: "muted", text: t("forecast.status.tension.usual", { base: pct(body.day_of_week_rate) }) }),
      el("p", { class: "muted status-skill", text: t("forecast.status.tension.skill", {
        days: formatNumber(body.test_days, 0), skill: pct(body.brier_skill), base: pct(body.test_base_rate),
      }) }),
      el("p", { class: "muted", text: t("forecast.status.tension.rule") }),
    );
  }

  // A site's records hold no doctors and no roster: there is no staffing gap to work out.
  function noRoster(body) {
    const missing = body && body.lacks ? body.lacks : [];
    if (!lacks(run, "rosters") && !missing.includes("doctors")) return;
    showEmpty(staffing, "");
    staffing.empty.textContent = t("forecast.staffing.no_doctors");
    staffing.empty.classList.add("not-in-data");
    staffing.section.dataset.notInData = "doctors";
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
        hovertemplate: `%{y:.1f} (${label("forecast.band90")}%{customdata[0]:.0f}–%{customdata[1]:.0f})<extra></extra>`,
      },
    ], { xaxis: { ...HOURS_AXIS, title: { text: t("axis.local_time", { tz: run.timezone }) } }, yaxis: { title: { text: t("forecast.per_hour") }, rangemode: "tozero" } }, rows);
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
      hovertemplate: `%{y:.0f} (${label("forecast.band90")}%{customdata[0]:.0f}–%{customdata[1]:.0f})<extra></extra>`,
    }], { xaxis: { type: "date", tickformat: "%-d %b", title: { text: t("axis.local_time", { tz: run.timezone }) } }, yaxis: { title: { text: t("forecast.per_day") }, rangemode: "tozero" }, hovermode: "closest" }, rows);
  }

  async function paintRisk(body) {
    if (!body.hours.length) return showEmpty(risk, t("forecast.empty.none"));
    const x = body.hours.map((h) => wallClock(h, run.timezone));
    const names = body.specialties.map((s) => (s.key === "all" ? t("common.all") : catalog.name(s.key)));
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
      hovertemplate: `%{y} · %{x}<br>${label("forecast.probability")}%{z:.0%}<br>${label("forecast.drivers.arrivals")}%{customdata[0]:.1f}`
        + `<br>${label("forecast.drivers.doctors")}%{customdata[1]:.1f}<br>${label("forecast.drivers.utilisation")}%{customdata[2]:.0%}`
        + `<br>${label("forecast.drivers.waiting")}%{customdata[3]:.1f}<extra></extra>`,
    }], {
      xaxis: { ...HOURS_AXIS, title: { text: t("axis.local_time", { tz: run.timezone }) } },
      yaxis: { automargin: true, title: { text: t("common.specialty") } },
      hovermode: "closest", margin: { t: 36, r: 16, b: 56, l: 140 },
    }, rows);
    const perDoctor = (body.settings || {}).waiting_per_doctor;
    ruleCaption(Number.isFinite(perDoctor)
      ? t("forecast.definition.queue", { threshold: formatNumber(perDoctor, Number.isInteger(perDoctor) ? 0 : 1) })
      : `${label("forecast.rule")}${body.rule}`);
  }

  function ruleCaption(text) {
    risk.section.querySelector("p.rule")?.remove();
    risk.section.append(el("p", { class: "muted rule", text }));
  }

  // An observed run: one hospital-wide row, P(patients present >= threshold). A heat strip
  // of the probability above the expected patients present and the threshold they meet.
  async function paintCensusRisk(body) {
    if (!body.hours.length || !body.probability.length) return showEmpty(risk, t("forecast.empty.none"));
    const x = body.hours.map((h) => wallClock(h, run.timezone));
    const p = body.probability[0];
    const driver = (name) => ((body.drivers || {})[name] || [[]])[0] || [];
    const arrivals_ = driver("arrivals");
    const present = driver("expected_present");
    const threshold = driver("threshold");
    const rows = body.hours.map((hour, h) => ({
      hour, probability: p[h], arrivals: arrivals_[h] ?? null, expected_present: present[h] ?? null, threshold: threshold[h] ?? null,
    }));
    const customdata = rows.map((r) => [r.probability, r.arrivals ?? NaN, r.expected_present ?? NaN, r.threshold ?? NaN]);
    const hover = `%{x|%a %-d %b %H:%M}<br>${label("forecast.probability")}%{customdata[0]:.0%}`
      + `<br>${label("forecast.drivers.arrivals_per_hour")}%{customdata[1]:.1f}`
      + `<br>${label("forecast.drivers.present")}%{customdata[2]:.1f}`
      + `<br>${label("forecast.drivers.threshold")}%{customdata[3]:.1f}<extra></extra>`;
    await draw(risk, [
      {
        type: "heatmap", x, y: [t("forecast.risk.strip")], z: [p], zmin: 0, zmax: 1, colorscale: RISK_SCALE,
        customdata: [customdata], xaxis: "x", yaxis: "y2", hovertemplate: hover,
        colorbar: { title: { text: t("forecast.probability"), side: "right" }, tickformat: ".0%", len: 0.3, y: 1, yanchor: "top", thickness: 14 },
      },
      {
        type: "scatter", mode: "lines", x, y: present, name: t("forecast.drivers.present"),
        line: { color: "#0072B2", width: 2 }, customdata, hovertemplate: hover,
      },
      {
        type: "scatter", mode: "lines", x, y: threshold, name: t("forecast.line.threshold"),
        line: { color: "#D55E00", width: 2, dash: "dash" }, hoverinfo: "skip",
      },
    ], {
      height: 440,
      xaxis: { ...HOURS_AXIS, title: { text: t("axis.local_time", { tz: run.timezone }) }, anchor: "y" },
      yaxis: { domain: [0, 0.72], title: { text: t("forecast.axis.present") }, rangemode: "tozero" },
      yaxis2: { domain: [0.84, 1], anchor: "x", automargin: true, fixedrange: true },
      legend: { orientation: "h", x: 0, y: 0.76, yanchor: "bottom" },
      hovermode: "closest", margin: { t: 16, r: 16, b: 56, l: 72 },
    }, rows);
    ruleCaption(definitionSentence(body));
    const title = risk.section.querySelector("h3");
    title.dataset.i18n = "forecast.risk.census";
    title.textContent = t("forecast.risk.census");
    risk.chart.setAttribute("aria-label", t("forecast.risk.census"));
    risk.section.dataset.definition = body.saturation_definition || "";
  }

  // "Saturated when patients present reach 40 (the site's declared spaces)", in the page's
  // language, from the stored definition (its text is a machine rule, not a sentence).
  function definitionSentence(body) {
    const d = body.definition || {};
    const text = body.saturation_definition || d.text || "";
    const capacity = d.capacity ?? (text.match(/capacity \((\d+)/) || [])[1];
    const value = d.threshold ?? Number((text.match(/\(([\d.]+)/) || [])[1]);
    if (capacity) return t("forecast.definition.capacity", { threshold: formatNumber(Number(capacity), 0) });
    if (/p95/.test(text) && Number.isFinite(value)) return t("forecast.definition.p95", { threshold: formatNumber(value, 1) });
    return t("forecast.definition.other", { text });
  }

  // Patients present over the next 8 hours (the short-term occupancy forecast), if stored.
  async function paintOccupancy(body) {
    if (!body || !body.hours || !body.hours.length) {
      occupancy.section.hidden = true;
  occupancy.chart.hidden = true; // shown (with its section) only when the forecast has it
      return;
    }
    occupancy.section.hidden = false;
    const x = body.hours.map((h) => wallClock(h, run.timezone));
    const banded = Boolean(body.low && body.high);
    const rows = body.hours.map((hour, i) => ({
      hour, expected_present: body.present[i], ...(banded ? { low_05: body.low[i], high_95: body.high[i] } : {}),
    }));
    const traces = banded ? [
      { type: "scatter", mode: "lines", x, y: body.low, line: { width: 0 }, hoverinfo: "skip", showlegend: false },
      { type: "scatter", mode: "lines", x, y: body.high, fill: "tonexty", fillcolor: "rgba(0,158,115,0.18)", line: { width: 0 }, name: t("forecast.band90"), hoverinfo: "skip" },
    ] : [];
    traces.push({
      type: "scatter", mode: "lines+markers", x, y: body.present, name: t("forecast.drivers.present"),
      customdata: banded ? body.hours.map((_h, i) => [body.low[i], body.high[i]]) : undefined,
      line: { color: "#009E73", width: 2 },
      hovertemplate: `%{x|%a %-d %b %H:%M}<br>${label("forecast.drivers.present")}%{y:.1f}` + (banded ? ` (${label("forecast.band90")}%{customdata[0]:.0f}–%{customdata[1]:.0f})` : "") + "<extra></extra>",
    });
    await draw(occupancy, traces, {
      xaxis: { ...HOURS_AXIS, title: { text: t("axis.local_time", { tz: run.timezone }) } },
      yaxis: { title: { text: t("forecast.axis.present") }, rangemode: "tozero" },
      hovermode: "closest", showlegend: banded,
    }, rows);
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
    staffing.chart.dataset.points = String(rows.length); // drawn, as charts.draw marks a chart
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
        // test_end is the last hour's start: one hour more makes whole days
        days: Math.round((new Date(a.test_end) - new Date(a.test_start) + 3600000) / 86400000),
        mae: formatNumber(best.mae, 1), naive: naive ? formatNumber(naive.mae, 1) : "–",
        coverage: formatNumber(100 * best.coverage90, 0), mape: formatNumber(best.daily_mape, 1),
      }));
    }
    const r = body.risk;
    if (r) {
      const mid = (r.reliability || []).filter((b) => b.cases >= 100 && b.low >= 0.2 && b.low < 0.6)[0];
      const skill = r.brier_skill == null ? "–" : formatNumber(100 * r.brier_skill, 0);
      const observed = Boolean(body.lacks || body.saturation_definition);
      lines.push(t(observed ? "forecast.words.risk_observed" : "forecast.words.risk", { skill, base: formatNumber(100 * r.base_rate, 0) }));
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
