// Small DOM and data helpers shared by the views. Text always goes in through
// textContent: names from data (pathologies, doctors, labels) are never parsed as HTML.

import { get } from "../api.js";
import { language, t } from "../i18n.js";

export function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "i18n") { node.dataset.i18n = value; node.textContent = t(value); }
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") node.style.cssText = value; // CSSOM: allowed by the CSP, an attribute is not
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of [].concat(children)) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function viewHeader(titleKey, run, extra = null) {
  const header = el("div", { class: "view-header" }, [el("h2", { i18n: titleKey })]);
  if (run) {
    const kind = isObserved(run) ? "observed" : "simulated";
    header.append(el("p", { class: "muted source-line" }, [
      el("span", { class: `source-tag ${kind}`, "data-source": kind, i18n: `run.tag.${kind}` }),
      ` ${sourceName(run)} · ${run.timezone} · ${t(`status.${run.status}`)} · `,
      el("span", { class: "clock", "data-clock": kind, i18n: `clock.${kind === "observed" ? "observed" : "simulated"}` }),
    ]));
  }
  if (extra) header.append(extra);
  return header;
}

// Whether a run holds a site's observed (imported) visits rather than a simulation.
export function isObserved(run) {
  return Boolean(run) && run.source === "observed";
}

// What a run's data never hold ("doctors", "rosters", ...): observed data lack rosters.
export function lacks(run, what) {
  return isObserved(run) && (run.lacks || []).includes(what);
}

// "Observed data — <site>" or "Simulation #N · label" in the page's language.
export function sourceName(run, { status = false } = {}) {
  if (isObserved(run)) {
    const site = (run.site && run.site.name) || run.label || `#${run.id}`;
    return t("run.observed", { site });
  }
  const label = run.label ? ` · ${runLabel(run.label)}` : "";
  const kind = run.kind === "live" ? ` (${t("kind.live")})` : "";
  const state = status && run.status !== "complete" ? ` — ${t(`status.${run.status}`)}` : "";
  return `${t("run.simulation", { id: run.id })}${kind}${label}${state}`;
}

// The labels hospiflow itself gives runs, in the page's language; a person's own label as typed.
export function runLabel(label) {
  const continues = /^live \(continues run (\d+)\)$/.exec(label);
  if (continues) return t("run.label.continues", { id: continues[1] });
  const live = /^live \((default|stationary)\)$/.exec(label);
  if (live) return t("run.label.live", { scenario: t(`scenario.${live[1]}`) });
  return label;
}

// A panel saying plainly that this data source does not hold something.
export function notInData(container, messageKey, { detailKey = null, name = null } = {}) {
  const section = el("section", { class: "panel not-in-data", "data-not-in-data": name || messageKey }, [
    el("h3", { i18n: "common.not_in_data" }),
    el("p", { i18n: messageKey }),
  ]);
  if (detailKey) section.append(el("p", { class: "muted", i18n: detailKey }));
  container.append(section);
  return section;
}

// A value the data cannot give: a dash, with the reason on hover and for screen readers.
export function unknownValue() {
  return el("span", { class: "unknown", title: t("common.not_in_data_short"), "aria-label": t("common.not_in_data_short"), text: "—" });
}

// A labelled <select>; options: [[value, labelKey or text]].
export function select(labelKey, options, value, onChange, { translate = true } = {}) {
  const control = el("select", { onchange: (event) => onChange(event.target.value) });
  for (const [optionValue, label] of options) {
    const option = el("option", { value: optionValue, text: translate ? t(label) : label });
    if (String(optionValue) === String(value)) option.selected = true;
    control.append(option);
  }
  return el("label", {}, [el("span", { i18n: labelKey }), control]);
}

// A date typed as ISO (YYYY-MM-DD), the same in both languages: a browser's date picker
// follows the browser's own locale, not the page's (US order on a French page in an
// English browser). A date that is not one is marked invalid and not applied.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
export function dateInput(labelKey, value, onChange) {
  const input = el("input", {
    type: "text", "data-date": "", inputmode: "numeric", size: 10, maxlength: 10, value,
    pattern: "\\d{4}-\\d{2}-\\d{2}", placeholder: t("common.date_format"), title: t("common.date_format"),
    onchange: (event) => {
      const text = event.target.value.trim();
      const day = new Date(`${text}T00:00:00Z`);
      const valid = ISO_DATE.test(text) && !Number.isNaN(day.getTime()) && day.toISOString().startsWith(text);
      if (valid) { input.removeAttribute("aria-invalid"); onChange(text); } else input.setAttribute("aria-invalid", "true");
    },
  });
  return el("label", {}, [el("span", {}, [el("span", { i18n: labelKey }), " ", el("span", { class: "date-format", i18n: "common.date_format" })]), input]);
}

export function numberInput(labelKey, value, onChange, { min = 0, step = "any" } = {}) {
  const input = el("input", { type: "number", value, min, step, onchange: (event) => onChange(Number(event.target.value)) });
  return el("label", {}, [el("span", { i18n: labelKey }), input]);
}

// The hospital-local date (YYYY-MM-DD) of an ISO instant.
export function localDate(iso, timeZone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
}

export function addDays(isoDate, days) {
  const date = new Date(`${isoDate}T12:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

// The last `days` days of the run's data, as local dates [start, end): they end on the day
// of its latest record ("data as of"), never on a live run's planned end, which lies ahead.
export function recentRange(run, days) {
  const asOf = Date.parse(run.as_of || run.start || new Date().toISOString());
  const last = new Date(Math.max(asOf - 1, Date.parse(run.start || 0))).toISOString(); // an exclusive end
  const end = addDays(localDate(last, run.timezone), 1);
  const first = run.start ? localDate(run.start, run.timezone) : addDays(end, -days);
  const start = addDays(end, -days) < first ? first : addDays(end, -days);
  return { start, end };
}

export function fullRange(run) {
  return recentRange(run, 100000);
}

// Names of specialties and pathologies in the page's language, from the run's catalog.
const catalogs = new Map();
export async function catalogOf(runId) {
  if (!catalogs.has(runId)) {
    // a failed load is forgotten, so the next view (or a retry) asks again
    catalogs.set(runId, get(`/runs/${runId}/catalog`).catch((error) => { catalogs.delete(runId); throw error; }));
  }
  const catalog = await catalogs.get(runId);
  const lang = language();
  const names = new Map();
  for (const s of catalog.specialties) names.set(s.code, lang === "fr" ? s.name_fr : s.name_en);
  for (const p of catalog.pathologies) names.set(p.code, lang === "fr" ? p.name_fr : p.name_en);
  names.set("unknown", t("specialty.unknown")); // a site's visits whose diagnosis maps nowhere
  return { ...catalog, name: (code) => names.get(code) ?? code };
}

// A failure said plainly, with a button that tries again.
export function failure(error, retry) {
  const box = el("div", { class: "panel failure", role: "alert", "data-failure": "" }, [
    el("p", { class: "error", text: t("common.failed", { message: (error && error.message) || String(error) }) }),
  ]);
  if (retry) box.append(el("button", { type: "button", class: "primary retry", i18n: "common.retry", onclick: retry }));
  return box;
}

export function noRun(container) {
  container.append(el("p", { class: "empty", i18n: "run.none" }));
}
