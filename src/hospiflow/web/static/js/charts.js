// Chart panels: a Plotly chart with hover values, a CSV download of exactly the data
// it shows, and an empty state that says why there is nothing to show.
// Plotly.js is served by the app from the installed `plotly` Python package (no CDN), and
// loaded on first use: the Now view, which has no Plotly chart, does not wait for its 4.8 MB.

import { language, t } from "./i18n.js";

// Okabe–Ito: distinguishable with the common forms of colour blindness.
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
export const SEQUENTIAL = "Viridis";

const BASE_LAYOUT = {
  margin: { t: 36, r: 16, b: 48, l: 56 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 13 },
  colorway: PALETTE,
  hovermode: "x unified",
  legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
};

// no mode bar: Plotly styles it with a <style> element per chart, which the strict
// Content-Security-Policy refuses (zoom by dragging, double-click to reset; CSV download below)
const CONFIG = { responsive: true, displaylogo: false, displayModeBar: false };
const PLOTLY_URL = document.querySelector('meta[name="plotly"]')?.content || "/vendor/plotly.min.js";
let plotlyLoading = null;

const LOCALE_URL = document.querySelector('meta[name="plotly-locale-fr"]')?.content || "/vendor/plotly-locale-fr.js";

// Plotly (through d3) writes a few SVG styles as `style` attributes (heatmap pixels, hover
// rectangles), which the strict Content-Security-Policy refuses; the same declarations set
// through the CSSOM are allowed, so SVG elements take them that way.
const nativeSetAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function setAttribute(name, value) {
  if (this instanceof SVGElement && String(name).toLowerCase() === "style") {
    this.style.cssText = String(value);
    return undefined;
  }
  return nativeSetAttribute.call(this, name, value);
};

function script(src) {
  return new Promise((resolve, reject) => {
    const node = document.createElement("script");
    node.src = src;
    node.onload = resolve;
    node.onerror = () => { node.remove(); reject(new Error("could not load the charting library")); };
    document.head.append(node);
  });
}

// Plotly, then its French locale (it registers itself): dates, decimal comma, toolbar.
// A failed load is forgotten, so the next chart tries again.
export function loadPlotly() {
  if (!plotlyLoading) {
    plotlyLoading = (window.Plotly ? Promise.resolve() : script(PLOTLY_URL))
      .then(() => script(LOCALE_URL))
      .then(() => window.Plotly)
      .catch((error) => { plotlyLoading = null; throw error; });
  }
  return plotlyLoading;
}

// Build a panel: <section><h3/><toolbar/><div.chart/><p.empty/></section>
export function panel(parent, titleKey, { controls = null } = {}) {
  const section = document.createElement("section");
  section.className = "panel";
  const header = document.createElement("div");
  header.className = "panel-header";
  const title = document.createElement("h3");
  title.textContent = t(titleKey);
  title.dataset.i18n = titleKey;
  header.append(title);
  if (controls) header.append(controls);
  const download = document.createElement("button");
  download.type = "button";
  download.className = "download";
  download.textContent = t("common.download");
  download.dataset.i18n = "common.download";
  download.disabled = true;
  header.append(download);
  const chart = document.createElement("div");
  chart.className = "chart";
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", t(titleKey));
  const empty = document.createElement("p");
  empty.className = "empty";
  empty.hidden = true;
  section.append(header, chart, empty);
  parent.append(section);
  const state = { section, chart, empty, download, rows: null, name: titleKey };
  download.addEventListener("click", () => downloadCsv(state));
  return state;
}

// rows: array of plain objects — exactly what the chart shows — for the CSV download.
export async function draw(state, traces, layout = {}, rows = []) {
  state.rows = rows;
  state.download.disabled = rows.length === 0;
  const hasData = traces.some((trace) => (trace.x && trace.x.length) || (trace.z && trace.z.length) || (trace.values && trace.values.length));
  if (!hasData) {
    showEmpty(state, t("common.empty.range"));
    return;
  }
  state.empty.hidden = true;
  state.chart.hidden = false;
  const merged = lonePoint(traces, { ...BASE_LAYOUT, ...layout });
  if (merged.xaxis?.type === "date" && merged.xaxis.automargin === undefined) {
    merged.xaxis = { ...merged.xaxis, automargin: true }; // a date's second tick line pushes the title down
  }
  const Plotly = await loadPlotly();
  await Plotly.react(state.chart, traces, merged, { ...CONFIG, locale: language() === "fr" ? "fr" : "en" });
  state.chart.dataset.points = String(rows.length);
}

// One time bucket only (a live run's first day by day): a line of one point draws
// nothing, and Plotly zooms a date axis onto it with ticks a microsecond apart. Lines
// get markers, and the axis spans a day either side.
function lonePoint(traces, layout) {
  const dates = new Set(traces.flatMap((trace) => trace.x || []));
  if (layout.xaxis?.type !== "date" || dates.size !== 1) return layout;
  for (const trace of traces) {
    if (trace.type === "scatter" && (trace.mode || "lines").includes("lines")) trace.mode = "lines+markers";
  }
  const [only] = dates;
  const at = Date.parse(`${String(only).replace(" ", "T")}Z`);
  if (Number.isNaN(at)) return layout;
  const day = 86400000;
  const text = (ms) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  return { ...layout, xaxis: { ...layout.xaxis, range: [text(at - day), text(at + day)] } };
}

export function showEmpty(state, reason) {
  state.rows = [];
  state.download.disabled = true;
  if (state.chart.data && window.Plotly) window.Plotly.purge(state.chart);
  state.chart.hidden = true;
  state.empty.hidden = false;
  state.empty.textContent = t("common.empty", { reason });
}

export function showError(state, error) {
  showEmpty(state, "");
  state.empty.textContent = t("common.error", { message: error.message || String(error) });
  state.empty.classList.add("error");
}

export function toCsv(rows) {
  if (!rows.length) return "";
  const columns = Object.keys(rows[0]);
  const escape = (value) => {
    if (value === null || value === undefined) return "";
    const text = String(value);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(","), ...rows.map((row) => columns.map((c) => escape(row[c])).join(","))].join("\n") + "\n";
}

function downloadCsv(state) {
  const blob = new Blob([toCsv(state.rows || [])], { type: "text/csv;charset=utf-8" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${state.name.replace(/\W+/g, "_")}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// An ISO 8601 instant as the hospital's wall-clock time "YYYY-MM-DD HH:MM", for Plotly
// (which has no notion of time zones).
export function wallClock(iso, timeZone) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date(iso));
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
}
