// The printable daily summary (/summary?run=N&day=YYYY-MM-DD&lang=fr): one page, the
// numbers of /api/v1/runs/{id}/summary worded in the page's language; what the data
// lack is said ("not in this data"), never drawn as zero. Print styles: css/summary.css.

import { get } from "./api.js";
import { formatNumber, formatTime, initialLanguage, setLanguage, t, translatePage } from "./i18n.js";
import { catalogOf, el, failure, isObserved, sourceName } from "./views/common.js";

const params = new URLSearchParams(location.search);

function longDate(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Intl.DateTimeFormat(document.documentElement.lang === "fr" ? "fr-FR" : "en-GB", {
    weekday: "long", year: "numeric", month: "long", day: "numeric", timeZone: "UTC",
  }).format(new Date(Date.UTC(y, m - 1, d)));
}

function missing() {
  return el("span", { class: "not-in-data", "data-missing": "", text: t("summary.not_in_data") });
}

function row(labelKey, value, extra = null) {
  return el("tr", { "data-figure": labelKey }, [
    el("th", { scope: "row", text: t(labelKey) }),
    el("td", { class: "num" }, value),
    el("td", { class: "muted" }, extra),
  ]);
}

function minutes(value) {
  return value === null || value === undefined ? missing() : t("summary.minutes", { value: formatNumber(value, 0) });
}

function figures(s) {
  const weekday = t(`summary.weekday.${s.weekday}`);
  const usual = s.arrivals.usual === null
    ? t("summary.arrivals.no_usual", { weekday })
    : t("summary.arrivals.usual", { weekday, usual: formatNumber(s.arrivals.usual, 0), days: s.arrivals.usual_days });
  const rows = [row("summary.arrivals", t("summary.arrivals.value", { count: formatNumber(s.arrivals.count) }), usual)];
  for (const [key, part] of [["summary.waits", s.waits], ["summary.stays", s.stays]]) {
    if (!part) { rows.push(row(key, missing())); continue; }
    rows.push(row(key, `${t("summary.median")} ${minutes(part.median)}`, `${t("summary.p90")} ${minutes(part.p90)}`));
  }
  const w = s.within_4h;
  rows.push(row("summary.within4h", w.share === null ? missing() : t("summary.within4h.value", {
    share: formatNumber(100 * w.share, 1), within: formatNumber(w.within), known: formatNumber(w.known),
  })));
  const ten = s.tension;
  rows.push(row("summary.tension", ten.global_level === null
    ? t("summary.tension.unknown", { known: ten.known_indicators })
    : t("summary.tension.value", { level: ten.global_level, tension: ten.tension ? t("summary.tension.yes") : "" })));
  return el("table", { class: "summary-figures" }, el("tbody", {}, rows));
}

function staffing(s, catalog, config) {
  const section = el("section", { class: "summary-staffing" }, [el("h2", { text: t("summary.staffing") })]);
  if (!s.staffing) {
    section.append(el("p", {}, missing()));
    return section;
  }
  const gaps = s.staffing.filter((x) => x.amber_hours || x.red_hours);
  if (!gaps.length) section.append(el("p", { text: t("summary.staffing.none") }));
  else {
    const body = el("tbody", {}, gaps.map((x) => el("tr", { "data-specialty": x.specialty }, [
      el("td", { text: catalog.name(x.specialty) }),
      el("td", { class: "num", text: formatNumber(x.amber_hours) }),
      el("td", { class: "num", text: formatNumber(x.red_hours) }),
      el("td", { text: x.hours.map((h) => `${h.hour} ${h.level === "red" ? "■" : "▲"} ${formatNumber(h.waiting, 0)}/${formatNumber(h.doctors_on_duty, 0)}`).join(" · ") }),
    ])));
    section.append(el("table", {}, [
      el("thead", {}, el("tr", {}, [
        el("th", { text: t("common.specialty") }),
        el("th", { class: "num", text: t("summary.staffing.amber") }),
        el("th", { class: "num", text: t("summary.staffing.red") }),
        el("th", { text: t("summary.staffing.hours") }),
      ])),
      body,
    ]));
  }
  const sat = config.saturation || {};
  section.append(el("p", { class: "muted", text: t("summary.rule", {
    amber: formatNumber(sat.amber && sat.amber.waiting_per_doctor, 0), red: formatNumber(sat.red && sat.red.waiting_per_doctor, 0),
  }) }));
  return section;
}

async function render() {
  const root = document.getElementById("summary");
  const config = JSON.parse(document.getElementById("hospiflow-config").textContent || "{}");
  const runId = Number(params.get("run"));
  if (!runId) {
    root.replaceChildren(el("p", { class: "empty", text: t("summary.none") }));
    return;
  }
  const [{ run }, s] = await Promise.all([
    get(`/runs/${runId}`),
    get(`/runs/${runId}/summary`, { day: params.get("day") }),
  ]);
  const catalog = await catalogOf(runId);
  const kind = isObserved(run) ? "observed" : "simulated";
  const day = el("input", { type: "date", value: s.day, "aria-label": t("summary.day") });
  day.addEventListener("change", () => { params.set("day", day.value); location.search = params.toString(); });
  const lang = el("select", { "aria-label": t("lang.label") }, [
    el("option", { value: "en", text: "English" }), el("option", { value: "fr", text: "Français" }),
  ]);
  lang.value = document.documentElement.lang;
  lang.addEventListener("change", () => { params.set("lang", lang.value); location.search = params.toString(); });
  root.replaceChildren(
    el("div", { class: "summary-tools no-print" }, [
      el("a", { href: `/?run=${runId}#now`, text: t("summary.back") }),
      el("label", {}, [`${t("summary.day")} `, day]),
      lang,
      el("button", { type: "button", class: "primary", text: t("summary.print"), onclick: () => window.print() }),
    ]),
    el("h1", { text: t("summary.title", { day: longDate(s.day) }) }),
    el("p", { class: "muted" }, [
      `${sourceName(run)} · ${run.timezone} · `,
      t("summary.asof", { time: formatTime(s.as_of, run.timezone), clock: t(kind === "observed" ? "clock.observed" : "clock.simulated") }),
    ]),
    figures(s),
    staffing(s, catalog, config),
  );
}

setLanguage(params.get("lang") || initialLanguage());
translatePage();
render()
  .catch((error) => document.getElementById("summary").replaceChildren(failure(error, () => location.reload())))
  .finally(() => { document.body.dataset.ready = "true"; });
