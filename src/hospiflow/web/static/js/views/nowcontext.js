// Beside the Now view's figures: a trend arrow (against an hour ago) and the usual for
// this hour of the week under each key figure, the next hours from the stored forecast
// (expected arrivals and patients present, each with its 90 % band), and the patients
// present longest. Both answers come from `/now/context` and `/now/longest`, fetched
// again as the run's clock moves on (a live run), never more than every few seconds.

import { get } from "../api.js";
import { formatNumber, formatTime, t } from "../i18n.js";
import { el, unknownValue } from "./common.js";

const LONGEST = 10;
const REFRESH_MS = 5000; // at most this often (wall clock)
const MOVED_MS = 10 * 60 * 1000; // once the run's clock has moved this far

// How each figure reads: its unit, and the change below which it has not moved.
const FIGURES = {
  waiting: { digits: 0, flat: 0.5 },
  in_treatment: { digits: 0, flat: 0.5 },
  present: { digits: 0, flat: 0.5 },
  doctors_on_duty: { digits: 0, flat: 0.5 },
  doctors_free: { digits: 0, flat: 0.5 },
  arrivals_last_hour: { digits: 0, flat: 0.5 },
  longest_wait_min: { digits: 0, flat: 1, unit: "min" },
  mean_wait_last_hour_min: { digits: 0, flat: 1, unit: "min" },
  longest_present_min: { digits: 0, flat: 1, unit: "min" },
  utilisation: { digits: 0, flat: 0.02, percent: true },
};

// "5 h 12 min" or "42 min": stays of observed visits run to hours.
export function duration(minutes) {
  if (minutes === null || minutes === undefined) return "–";
  const m = Math.round(minutes);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

function show(name, value, usual = false) {
  const spec = FIGURES[name] || { digits: 0 };
  if (spec.percent) return `${formatNumber(100 * value, 0)} %`;
  if (spec.unit === "min") return duration(value);
  return formatNumber(value, usual ? 1 : spec.digits);
}

// The trend and usual lines of one figure (`value` now; `figure` from /now/context).
function figureNote(name, value, figure, weeks) {
  const spec = FIGURES[name] || { flat: 0.5 };
  const lines = [];
  const ago = figure ? figure.hour_ago : null;
  if (value === null || value === undefined || ago === null || ago === undefined) {
    lines.push(el("span", { class: "trend none", "data-trend": "none", i18n: "now.trend.none" }));
  } else {
    const delta = value - ago;
    const way = Math.abs(delta) < spec.flat ? "flat" : delta > 0 ? "up" : "down";
    const size = spec.percent ? `${formatNumber(100 * Math.abs(delta), 0)} ${t("now.unit.points")}` : show(name, Math.abs(delta));
    lines.push(el("span", {
      class: `trend ${way}`, "data-trend": way, "data-hour-ago": String(ago),
      text: t(`now.trend.${way}`, { delta: size, before: show(name, ago) }),
    }));
  }
  if (figure && figure.usual !== null && figure.usual !== undefined) {
    lines.push(el("span", { class: "usual", "data-usual": String(figure.usual), text: t("now.usual", { usual: show(name, figure.usual, true) }) }));
  } else if (figure && weeks === 0) {
    lines.push(el("span", { class: "usual none", i18n: "now.usual.none" }));
  }
  return el("div", { class: "context note muted", "data-context": name }, lines);
}

export function nowContext(run, catalog) {
  const outlook = el("section", { class: "panel outlook", "data-outlook": "" }, [el("h3", { i18n: "now.outlook" })]);
  const longest = el("section", { class: "panel longest", "data-longest": "" }, [el("h3", { i18n: "now.longest" })]);
  let context = null;
  let fetchedAt = 0;
  let fetchedAsOf = null;
  let pending = null;

  async function load() {
    fetchedAt = Date.now();
    const [ctx, patients] = await Promise.allSettled([
      get(`/runs/${run.id}/now/context`),
      get(`/runs/${run.id}/now/longest?limit=${LONGEST}`),
    ]);
    if (ctx.status === "fulfilled") {
      context = ctx.value;
      fetchedAsOf = Date.parse(context.as_of || "") || null;
      paintOutlook(ctx.value);
    } else {
      outlook.replaceChildren(el("h3", { i18n: "now.outlook" }), el("p", { class: "empty error", text: t("common.error", { message: ctx.reason.message }) }));
    }
    if (patients.status === "fulfilled") paintLongest(patients.value);
    else longest.replaceChildren(el("h3", { i18n: "now.longest" }), el("p", { class: "empty error", text: t("common.error", { message: patients.reason.message }) }));
  }

  // From when: the rows follow the last complete hour of data, named as the Forecast view's
  // red-risk caption names it (every kind of run); a forecast older than the clock (its
  // rows start later than its first hour): the data up to the forecast's origin.
  function made(f) {
    const time = formatTime(f.generated_at, run.timezone);
    if (f.last_complete_hour) return t("now.outlook.made_from", { from: formatTime(f.last_complete_hour, run.timezone), time });
    return t("now.outlook.made", { time, origin: formatTime(f.origin, run.timezone) });
  }

  function paintOutlook(ctx) {
    const head = el("h3", { i18n: "now.outlook" });
    const f = ctx.forecast;
    if (!f) {
      const text = ctx.forecast_missing === "stale"
        ? t("now.outlook.stale")
        : t("now.outlook.none", { command: `hospiflow forecast run --run ${run.id}` });
      outlook.replaceChildren(head, el("p", { class: "empty", "data-outlook-missing": ctx.forecast_missing || "none", text }));
      return;
    }
    const band = (series, i) => (series.low[i] === null || series.high[i] === null
      ? unknownValue()
      : `${formatNumber(series.low[i], 0)}–${formatNumber(series.high[i], 0)}`);
    const rows = f.hours.map((hour, i) => el("tr", { "data-hour": hour }, [
      el("td", { text: `${formatTime(hour, run.timezone, false)}–${formatTime(new Date(Date.parse(hour) + 3600000).toISOString(), run.timezone, false)}` }),
      el("td", { class: "num", "data-arrivals": String(f.arrivals.mean[i]), text: formatNumber(f.arrivals.mean[i], 1) }),
      el("td", { class: "num band" }, band(f.arrivals, i)),
      el("td", { class: "num", "data-present": f.present.mean[i] ?? "", text: f.present.mean[i] === undefined ? "–" : formatNumber(f.present.mean[i], 0) }),
      el("td", { class: "num band" }, f.present.mean[i] === undefined ? "–" : band(f.present, i)),
    ]));
    const source = f.run_id === run.id ? "" : ` ${t("now.outlook.history", { id: f.run_id })}`;
    outlook.replaceChildren(
      head,
      el("div", { class: "table-scroll" }, el("table", { class: "outlook-table" }, [
        el("thead", {}, el("tr", {}, [
          el("th", { i18n: "now.outlook.hour" }),
          el("th", { class: "num", i18n: "now.outlook.arrivals" }),
          el("th", { class: "num", i18n: "now.outlook.band" }),
          el("th", { class: "num", i18n: "now.outlook.present" }),
          el("th", { class: "num", i18n: "now.outlook.band" }),
        ])),
        el("tbody", {}, rows),
      ])),
      el("p", { class: "muted outlook-made", "data-from": f.last_complete_hour || "", text: made(f) + source }),
    );
  }

  function paintLongest(body) {
    const head = el("h3", { i18n: "now.longest" });
    if (!body.patients.length) {
      longest.replaceChildren(head, el("p", { class: "empty", "data-longest-empty": "", i18n: "now.longest.nobody" }));
      return;
    }
    const rows = body.patients.map((p) => el("tr", { "data-patient": String(p.patient_no) }, [
      el("td", { class: "num", text: `#${p.patient_no}` }),
      el("td", { text: p.pathology ? catalog.name(p.pathology) : t("now.no_diagnosis") }),
      el("td", { text: p.specialty ? catalog.name(p.specialty) : "–" }),
      el("td", { class: "num" }, p.acuity === null ? el("span", { class: "unknown", title: t("now.longest.acuity_unknown"), text: "—" }) : String(p.acuity)),
      el("td", { text: formatTime(p.arrival, run.timezone, p.minutes_present >= 20 * 60) }),
      el("td", { class: "num", text: duration(p.minutes_present) }),
    ]));
    longest.replaceChildren(
      head,
      el("div", { class: "table-scroll" }, el("table", { class: "longest-table" }, [
        el("thead", {}, el("tr", {}, [
          el("th", { class: "num", i18n: "now.longest.patient" }),
          el("th", { i18n: "common.pathology" }),
          el("th", { i18n: "common.specialty" }),
          el("th", { class: "num", i18n: "now.longest.acuity" }),
          el("th", { i18n: "now.longest.arrival" }),
          el("th", { class: "num", i18n: "now.longest.for" }),
        ])),
        el("tbody", {}, rows),
      ])),
      el("p", { class: "muted", text: t("now.longest.count", { shown: body.patients.length }) }),
    );
  }

  // Trend and usual under each tile whose value node carries data-kpi=<figure>.
  function decorate(kpis, values) {
    if (!context) return;
    for (const [name, value] of Object.entries(values)) {
      const node = kpis.querySelector(`[data-kpi="${name}"]`);
      if (!node) continue;
      const tile = node.closest(".kpi");
      tile.querySelector(".context")?.remove();
      tile.append(figureNote(name, value, context.figures[name], context.usual_weeks));
    }
  }

  // A live run: fetch again once its clock has moved on (throttled).
  function follow(asOf) {
    const moved = fetchedAsOf !== null && Date.parse(asOf) - fetchedAsOf >= MOVED_MS;
    if (!moved || pending || Date.now() - fetchedAt < REFRESH_MS) return null;
    pending = load().finally(() => { pending = null; });
    return pending;
  }

  return { outlook, longest, load, decorate, follow, get context() { return context; } };
}
