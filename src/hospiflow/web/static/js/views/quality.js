// "Data quality": what a site's imported data hold and lack — its imports, the rows set
// aside (quarantine) by reason and by day, diagnosis codes that map to no pathology, and
// how complete each field is. An administrator can page through the quarantined rows
// (identifiers already redacted by the importer). A simulation has nothing to check.

import { get, setToken, token } from "../api.js";
import { PALETTE, draw, panel, showEmpty, showError } from "../charts.js";
import { formatNumber, formatTime, has, language, t } from "../i18n.js";
import { catalogOf, el, isObserved, localDate, noRun, sourceName, viewHeader } from "./common.js";

const PAGE = 50;
const FIELDS = ["first_seen", "departure", "acuity", "disposition", "diagnosis", "age"];
const SYSTEMS = { icd10: "ICD-10", icd9: "ICD-9" };

// A quarantine reason in words; a reason this page does not know keeps its key, marked "other".
export function reasonLabel(reason) {
  return has(`reason.${reason}`) ? t(`reason.${reason}`) : t("reason.other", { reason });
}

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  container.append(viewHeader("quality.title", run));
  if (!isObserved(run) || !run.site) {
    container.append(el("p", { class: "empty", "data-empty": "simulation", i18n: "quality.simulation" }));
    const observed = state.runs.filter(isObserved);
    if (observed.length) {
      container.append(el("p", { class: "muted", text: t("quality.pick", { sources: observed.map((r) => sourceName(r)).join(", ") }) }));
    }
    return null;
  }
  const site = run.site;
  const report = await get(`/sites/${site.id}/quality`);
  const colours = new Map(report.quarantine_by_reason.map((r, i) => [r.reason, PALETTE[i % PALETTE.length]]));
  container.append(summary(report));
  const [fidelity, fit] = await Promise.all([get(`/sites/${site.id}/fidelity`), get(`/sites/${site.id}/calibration`)]);
  const card = fidelityCard(fidelity, site);
  container.append(card);
  const fitCard = calibrationCard(fit, site);
  container.append(fitCard);
  container.append(importsPanel(report, run.timezone));
  const grid = el("div", { class: "grid" });
  container.append(grid);
  const byReason = panel(grid, "quality.by_reason");
  const completeness = panel(grid, "quality.completeness");
  const byDay = panel(container, "quality.by_day");
  container.append(unmappedPanel(report), quarantinePanel(site, report));
  await Promise.all([
    drawFidelity(card, fidelity.fidelity, run.timezone),
    drawFit(fitCard, fit.calibration, run),
    drawReasons(byReason, report, colours),
    drawDays(byDay, report, colours, run.timezone),
    drawCompleteness(completeness, report),
  ]);
  return null;
}

function summary(report) {
  const kpi = (labelKey, text, name) => el("div", { class: "kpi" }, [el("div", { class: "label", i18n: labelKey }), el("div", { class: "value", "data-kpi": name, text })]);
  return el("div", { class: "kpis" }, [
    kpi("quality.visits", formatNumber(report.visits), "visits"),
    kpi("quality.quarantined", formatNumber(report.quarantined), "quarantined"),
    kpi("quality.imports", formatNumber(report.imports.length), "imports"),
    kpi("quality.unmapped", formatNumber(report.unmapped_codes.reduce((a, c) => a + c.visits, 0)), "unmapped"),
  ]);
}

// The twin fidelity card: the newest validation of the site's calibrated twin on weeks it
// had not seen (hospiflow calibrate --validate); green only when every criterion holds.
export function fidelityCard(body, site) {
  const section = el("section", { class: "panel", id: "fidelity" }, [el("h3", { i18n: "fidelity.title" })]);
  const fidelity = body.fidelity;
  if (!fidelity) {
    section.append(el("p", { class: "empty", "data-fidelity": "none", text: t("fidelity.none", { site: site.name }) }));
    return section;
  }
  const verdict = fidelity.passed ? "green" : "red";
  section.append(el("p", {}, [
    el("span", { class: `status ${verdict}`, "data-fidelity": verdict, text: t(fidelity.passed ? "fidelity.pass" : "fidelity.fail") }),
    " ",
    el("span", { class: "muted", text: t("fidelity.scope", {
      before: fidelity.fitted_before, weeks: fidelity.holdout_weeks, end: fidelity.holdout_end ?? "–", replications: fidelity.replications,
    }) }),
  ]));
  const value = (c) => (c.unit === "%" ? `${formatNumber(100 * c.value, 1)} %` : formatNumber(c.value, 2));
  section.append(el("div", { class: "table-scroll" }, el("table", { id: "fidelity-table" }, [
    el("thead", {}, el("tr", {}, [
      el("th", { i18n: "fidelity.criterion" }), el("th", { class: "num", i18n: "fidelity.value" }),
      el("th", { i18n: "fidelity.target" }), el("th", { i18n: "fidelity.verdict" }),
    ])),
    el("tbody", {}, fidelity.criteria.map((c) => el("tr", { "data-criterion": c.key }, [
      el("td", { text: has(`fidelity.${c.key}`) ? t(`fidelity.${c.key}`) : c.name }),
      el("td", { class: "num", text: value(c) }),
      el("td", { text: has(`fidelity.target.${c.key}`) ? t(`fidelity.target.${c.key}`) : c.target }),
      el("td", { text: t(c.passed ? "fidelity.yes" : "fidelity.no") }),
    ]))),
  ])));
  if (fidelity.not_estimated.length) {
    section.append(el("p", { class: "muted", text: t("fidelity.not_estimated", { items: fidelity.not_estimated.map((m) => m.item).join(", ") }) }));
  }
  return section;
}

// Hour-of-week x axis (0 = Monday 00:00 local): a tick at each day's midnight.
function hourOfWeekAxis(timeZone) {
  const days = [...Array(7).keys()];
  return {
    title: { text: t("fit.axis.hour_of_week", { tz: timeZone }) }, tickmode: "array",
    tickvals: days.map((d) => 24 * d), ticktext: days.map((d) => `${t(`weekday.${d}`)} 00:00`), range: [-0.5, 167.5],
  };
}
const HOURS_OF_WEEK = [...Array(168).keys()];

// The held-out weeks' patients present beside the twin's mean and its prediction band:
// where the twin is off, and by how much, at a glance.
async function drawFidelity(card, fidelity, timeZone) {
  const series = fidelity?.series;
  if (!series) return;
  const target = panel(card, "fidelity.plot.census");
  try {
    const c = series.census;
    const band = t("fidelity.plot.band", { coverage: formatNumber(100 * c.coverage, 0) });
    const rows = HOURS_OF_WEEK.map((h) => ({ hour_of_week: h, observed: c.observed[h], twin_mean: c.twin[h], band_low: c.low[h], band_high: c.high[h] }));
    await draw(target, [
      { type: "scatter", mode: "lines", x: HOURS_OF_WEEK, y: c.low, line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
      { type: "scatter", mode: "lines", x: HOURS_OF_WEEK, y: c.high, fill: "tonexty", fillcolor: "rgba(0,114,178,0.18)", line: { width: 0 }, name: band, hoverinfo: "skip" },
      { type: "scatter", mode: "lines", x: HOURS_OF_WEEK, y: c.twin, line: { color: PALETTE[0], width: 2 }, name: t("fidelity.plot.twin"), hovertemplate: "%{y:.1f}<extra>%{fullData.name}</extra>" },
      { type: "scatter", mode: "lines", x: HOURS_OF_WEEK, y: c.observed, line: { color: "#222", width: 2, dash: "dot" }, name: t("fidelity.plot.observed"), hovertemplate: "%{y:.1f}<extra>%{fullData.name}</extra>" },
    ], {
      height: 320, xaxis: hourOfWeekAxis(timeZone), yaxis: { title: { text: t("arrivals.axis.present") }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.3 }, margin: { t: 16, r: 16, b: 96, l: 64 },
    }, rows);
  } catch (error) {
    showError(target, error);
  }
}

// The newest fit of the site's twin, beside the data it was fitted on (calibrate --out or
// --validate): arrivals by hour of the week and care time by pathology.
export function calibrationCard(body, site) {
  const section = el("section", { class: "panel", id: "calibration" }, [el("h3", { i18n: "fit.title" })]);
  const fit = body.calibration;
  if (!fit) {
    section.append(el("p", { class: "empty", "data-calibration": "none", text: t("fit.none", { site: site.name }) }));
    return section;
  }
  section.append(el("p", { class: "muted", "data-calibration": fit.kind, text: t("fit.scope", { from: fit.fitted_from ?? "–", before: fit.fitted_before }) }));
  if (!fit.plots) section.append(el("p", { class: "muted", i18n: "fit.no_plots" }));
  return section;
}

async function drawFit(card, fit, run) {
  if (!fit?.plots) return;
  const arrivals = panel(card, "fit.plot.arrivals");
  const care = panel(card, "fit.plot.care");
  try {
    const a = fit.plots.arrivals;
    await draw(arrivals, [
      { type: "scatter", mode: "lines", x: HOURS_OF_WEEK, y: a.observed, line: { color: "#222", width: 2, dash: "dot" }, name: t("fit.plot.observed"), hovertemplate: "%{y:.1f}<extra>%{fullData.name}</extra>" },
      { type: "scatter", mode: "lines", x: HOURS_OF_WEEK, y: a.fitted, line: { color: PALETTE[0], width: 2 }, name: t("fit.plot.fitted"), hovertemplate: "%{y:.1f}<extra>%{fullData.name}</extra>" },
    ], {
      height: 300, xaxis: hourOfWeekAxis(run.timezone), yaxis: { title: { text: t("fit.axis.arrivals") }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.35 }, margin: { t: 16, r: 16, b: 96, l: 64 },
    }, HOURS_OF_WEEK.map((h) => ({ hour_of_week: h, observed_mean: a.observed[h], fitted: a.fitted[h] })));
  } catch (error) {
    showError(arrivals, error);
  }
  try {
    const c = fit.plots.care_time;
    const catalog = await catalogOf(run.id);
    const rows = c.pathologies.map((p) => ({ ...p, name: catalog.name(p.pathology) }));
    const names = rows.map((r) => `${r.name} (${formatNumber(r.n)})`);
    const marker = (key, colour, symbol, label) => ({
      type: "scatter", mode: "markers", orientation: "h", y: names, x: rows.map((r) => r[key]), name: label,
      marker: { color: colour, symbol, size: 9 }, hovertemplate: `%{x:.0f} min<extra>${label}</extra>`,
    });
    await draw(care, [
      marker("observed_p50", "#222", "circle-open", t("fit.plot.observed_p50")),
      marker("twin_p50", PALETTE[0], "circle", t("fit.plot.twin_p50")),
      marker("observed_p90", "#222", "diamond-open", t("fit.plot.observed_p90")),
      marker("twin_p90", PALETTE[1], "diamond", t("fit.plot.twin_p90")),
    ], {
      height: 140 + 22 * rows.length, hovermode: "closest",
      xaxis: { title: { text: t("fit.axis.care", { family: t(`fit.family.${c.family}`), cv: formatNumber(c.cv, 2) }) }, rangemode: "tozero" },
      yaxis: { autorange: "reversed", automargin: true }, legend: { orientation: "h", y: -0.12 - 60 / (140 + 22 * rows.length) },
      margin: { t: 16, r: 16, b: 110, l: 16 },
    }, rows.map((r) => ({ pathology: r.pathology, name: r.name, visits: r.n, observed_p50_min: r.observed_p50, twin_p50_min: r.twin_p50, observed_p90_min: r.observed_p90, twin_p90_min: r.twin_p90 })));
  } catch (error) {
    showError(care, error);
  }
}

function importsPanel(report, timeZone) {
  const section = el("section", { class: "panel" }, [el("h3", { i18n: "quality.imports.title" })]);
  if (!report.imports.length) {
    section.append(el("p", { class: "empty", i18n: "quality.imports.none" }));
    return section;
  }
  const num = (value) => el("td", { class: "num", text: formatNumber(value ?? null) });
  section.append(el("div", { class: "table-scroll" }, el("table", { id: "imports-table" }, [
    el("thead", {}, el("tr", {}, [
      el("th", { i18n: "quality.imports.date" }), el("th", { i18n: "quality.imports.format" }),
      el("th", { i18n: "quality.imports.files" }), el("th", { i18n: "quality.imports.status" }),
      el("th", { class: "num", i18n: "quality.imports.read" }), el("th", { class: "num", i18n: "quality.imports.imported" }),
      el("th", { class: "num", i18n: "quality.imports.updated" }), el("th", { class: "num", i18n: "quality.imports.duplicates" }),
      el("th", { class: "num", i18n: "quality.imports.quarantined" }),
    ])),
    el("tbody", {}, report.imports.map((b) => el("tr", { "data-import": b.id }, [
      el("td", { text: formatTime(b.started_at, timeZone) }),
      el("td", { text: b.format }),
      el("td", { class: "files", text: b.files.length ? b.files.join(", ") : "–" }),
      el("td", { text: has(`quality.status.${b.status}`) ? t(`quality.status.${b.status}`) : b.status }),
      num(b.summary.read), num(b.summary.imported), num(b.summary.updated), num(b.summary.duplicates), num(b.summary.quarantined),
    ]))),
  ])));
  return section;
}

// Counts are whole numbers: with small ones, one tick per unit (Plotly would put halves
// and the "d" format would print them as repeated integers).
function wholeTicks(max) {
  return max <= 10 ? { tick0: 0, dtick: 1 } : {};
}

async function drawReasons(target, report, colours) {
  try {
    const rows = report.quarantine_by_reason.map((r) => ({ reason: r.reason, label: reasonLabel(r.reason), rows: r.count }));
    if (!rows.length) return showEmpty(target, t("quality.none_quarantined"));
    await draw(target, [{
      type: "bar", orientation: "h", y: rows.map((r) => r.label), x: rows.map((r) => r.rows),
      marker: { color: rows.map((r) => colours.get(r.reason)) },
      customdata: rows.map((r) => r.reason),
      hovertemplate: `%{y}: %{x} ${t("quality.rows_unit")}<extra></extra>`,
    }], {
      height: 140 + 28 * rows.length,
      hovermode: "closest",
      margin: { t: 8, r: 16, b: 52, l: 16 },
      xaxis: { title: { text: t("quality.axis.rows") }, rangemode: "tozero", tickformat: "d", ...wholeTicks(Math.max(...rows.map((r) => r.rows))) },
      yaxis: { automargin: true, autorange: "reversed", title: { text: t("quality.axis.reason") } },
    }, rows);
  } catch (error) {
    showError(target, error);
  }
}

// Rows set aside per day of the data; rows that carry no day of their own (a line that
// could not be read has no date) are counted on the day of the import that set them aside.
function quarantineDays(report, timeZone) {
  if (report.quarantine_by_day.length) return { rows: report.quarantine_by_day, byImport: false };
  const counts = new Map();
  for (const batch of report.imports) {
    const day = localDate(batch.started_at, timeZone);
    for (const [reason, count] of Object.entries(batch.summary.by_reason || {})) {
      const key = `${day}|${reason}`;
      counts.set(key, (counts.get(key) || 0) + count);
    }
  }
  const rows = [...counts].map(([key, count]) => ({ day: key.split("|")[0], reason: key.split("|")[1], count }));
  return { rows, byImport: true };
}

async function drawDays(target, report, colours, timeZone) {
  try {
    const { rows: perDay, byImport } = quarantineDays(report, timeZone);
    const reasons = [...new Set(perDay.map((r) => r.reason))];
    if (!reasons.length) return showEmpty(target, t("quality.none_quarantined"));
    const days = [...new Set(perDay.map((r) => r.day))].sort();
    const few = days.length < 4; // a few days read better as labelled bars than as slivers
    const dayFormat = new Intl.DateTimeFormat(language() === "fr" ? "fr-FR" : "en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
    const x = few ? days.map((d) => dayFormat.format(new Date(`${d}T12:00:00Z`))) : days;
    const traces = reasons.map((reason) => {
      const counts = new Map(perDay.filter((r) => r.reason === reason).map((r) => [r.day, r.count]));
      return {
        type: "bar", name: reasonLabel(reason), x, y: days.map((d) => counts.get(d) || 0),
        marker: { color: colours.get(reason) }, hovertemplate: `%{y} ${t("quality.rows_unit")}<extra>%{fullData.name}</extra>`,
      };
    });
    const rows = perDay.map((r) => ({ [byImport ? "import_day" : "day"]: r.day, reason: r.reason, rows: r.count }));
    target.section.querySelector("p.note")?.remove();
    if (byImport) target.section.append(el("p", { class: "muted note", i18n: "quality.by_import_day" }));
    await draw(target, traces, {
      barmode: "stack",
      bargap: few ? 0.6 : 0.2,
      xaxis: { type: few ? "category" : "date", title: { text: t(byImport ? "quality.axis.import_day" : "quality.axis.day") } },
      yaxis: { title: { text: t("quality.axis.rows") }, rangemode: "tozero", tickformat: "d", ...wholeTicks(Math.max(...days.map((_d, i) => traces.reduce((sum, tr) => sum + tr.y[i], 0)))) },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      margin: { t: 48, r: 16, b: 56, l: 64 },
    }, rows);
  } catch (error) {
    showError(target, error);
  }
}

async function drawCompleteness(target, report) {
  try {
    const shares = report.completeness || {};
    const fields = FIELDS.filter((f) => f in shares).concat(Object.keys(shares).filter((f) => !FIELDS.includes(f)));
    const rows = fields.map((f) => ({ field: f, label: has(`quality.field.${f}`) ? t(`quality.field.${f}`) : f, share: shares[f] }));
    if (!report.visits || !rows.length) return showEmpty(target, t("quality.no_visits"));
    const percent = rows.map((r) => (r.share === null ? 0 : 100 * r.share));
    await draw(target, [{
      type: "bar", orientation: "h", y: rows.map((r) => r.label), x: percent,
      text: percent.map((p) => `${formatNumber(p, 0)} %`), textposition: "auto",
      marker: { color: percent.map((p) => (p >= 95 ? PALETTE[2] : p >= 50 ? PALETTE[1] : PALETTE[5])) },
      hovertemplate: `%{y}: %{x:.1f} %<extra></extra>`,
    }], {
      height: 140 + 30 * rows.length,
      hovermode: "closest",
      margin: { t: 8, r: 16, b: 52, l: 16 },
      xaxis: { title: { text: t("quality.axis.share") }, range: [0, 104], tickvals: [0, 20, 40, 60, 80, 100], ticksuffix: " %" },
      yaxis: { automargin: true, autorange: "reversed", title: { text: t("quality.axis.field") } },
    }, rows);
  } catch (error) {
    showError(target, error);
  }
}

function unmappedPanel(report) {
  const section = el("section", { class: "panel" }, [el("h3", { i18n: "quality.unmapped.title" }), el("p", { class: "muted", i18n: "quality.unmapped.help" })]);
  if (!report.unmapped_codes.length) {
    section.append(el("p", { class: "empty", i18n: "quality.unmapped.none" }));
    return section;
  }
  section.append(el("table", { id: "unmapped-table" }, [
    el("thead", {}, el("tr", {}, [el("th", { i18n: "quality.unmapped.code" }), el("th", { i18n: "quality.unmapped.system" }), el("th", { class: "num", i18n: "quality.unmapped.visits" })])),
    el("tbody", {}, report.unmapped_codes.map((c) => el("tr", { "data-code": c.code }, [
      el("td", { class: "code", text: c.code }),
      el("td", { text: SYSTEMS[c.system] || c.system }),
      el("td", { class: "num", text: formatNumber(c.visits) }),
    ]))),
  ]));
  return section;
}

// The quarantined rows themselves: administrators only, a page at a time.
function quarantinePanel(site, report) {
  const section = el("section", { class: "panel quarantine", id: "quarantine" }, [el("h3", { i18n: "quality.list.title" })]);
  const body = el("div");
  const filter = { reason: "" };
  const pages = []; // cursors of the pages shown so far ("" for the first)
  section.append(body);

  function askToken(messageKey) {
    const input = el("input", { type: "password", autocomplete: "off", id: "quarantine-token" });
    body.replaceChildren(
      el("p", { class: "muted", i18n: messageKey }),
      el("form", { class: "controls", onsubmit: (event) => {
        event.preventDefault();
        if (!input.value.trim()) return;
        setToken(input.value.trim());
        document.getElementById("sign-out").hidden = false;
        load("");
      } }, [
        el("label", {}, [el("span", { i18n: "quality.list.admin_token" }), input]),
        el("button", { type: "submit", class: "primary", i18n: "quality.list.open" }),
      ]),
    );
  }

  async function load(cursor) {
    body.replaceChildren(el("p", { class: "muted", i18n: "common.loading" }));
    let page;
    try {
      page = await get(`/sites/${site.id}/quarantine`, { limit: PAGE, reason: filter.reason, cursor }, { signIn: false });
    } catch (error) {
      if (error.status === 401) return askToken(token() ? "quality.list.refused" : "quality.list.needs_admin");
      if (error.status === 403) return askToken(error.code === "writes_disabled" ? "quality.list.no_admin" : "quality.list.viewer");
      body.replaceChildren(el("p", { class: "empty error", text: t("common.error", { message: error.message }) }));
      return;
    }
    if (!pages.length || pages[pages.length - 1] !== cursor) pages.push(cursor);
    paint(page);
  }

  function paint(page) {
    const reasons = report.quarantine_by_reason.map((r) => [r.reason, reasonLabel(r.reason)]);
    const picker = el("select", { onchange: (event) => { filter.reason = event.target.value; pages.length = 0; load(""); } },
      [["", t("common.all")], ...reasons].map(([value, label]) => {
        const option = el("option", { value, text: label });
        if (value === filter.reason) option.selected = true;
        return option;
      }));
    const previous = el("button", { type: "button", i18n: "quality.list.previous", disabled: pages.length < 2, onclick: () => { pages.pop(); load(pages.pop() ?? ""); } });
    const next = el("button", { type: "button", i18n: "quality.list.next", disabled: !page.next, onclick: () => load(page.next) });
    const controls = el("div", { class: "controls" }, [el("label", {}, [el("span", { i18n: "quality.list.reason" }), picker]), previous, next,
      el("span", { class: "muted", text: t("quality.list.page", { page: pages.length }) })]);
    if (!page.items.length) {
      body.replaceChildren(controls, el("p", { class: "empty", i18n: "quality.none_quarantined_list" }));
      return;
    }
    body.replaceChildren(controls, el("div", { class: "table-scroll" }, el("table", { id: "quarantine-table" }, [
      el("thead", {}, el("tr", {}, [
        el("th", { i18n: "quality.list.location" }), el("th", { i18n: "quality.list.field" }), el("th", { i18n: "quality.list.reason" }),
        el("th", { i18n: "quality.list.message" }), el("th", { i18n: "quality.list.raw" }),
      ])),
      el("tbody", {}, page.items.map((r) => el("tr", { "data-quarantine": r.id }, [
        el("td", { class: "code", text: r.location }),
        el("td", { class: "code", text: r.field || "–" }),
        el("td", { "data-reason": r.reason, class: has(`reason.${r.reason}`) ? "" : "other", text: reasonLabel(r.reason) }),
        el("td", { text: r.message }),
        el("td", {}, el("code", { class: "raw", text: r.raw || "" })),
      ]))),
    ])));
  }

  if (!report.quarantined) body.append(el("p", { class: "empty", i18n: "quality.none_quarantined_list" }));
  else {
    body.append(el("p", { class: "muted", i18n: "quality.list.help" }),
      el("button", { type: "button", class: "primary", id: "open-quarantine", i18n: "quality.list.open", onclick: () => load("") }));
  }
  return section;
}
