// "Tension": the FEDORU "hôpital en tension" indicators day by day (a calendar of the
// daily global level, the six indicators of the chosen day with their level, the
// usual for that weekday, and why one is not available), the status now under the one
// saturation rule, and the NEDOCS / EDWIN crowding scores or what they lack.
// No inline script or style: colours come from classes in css/tension.css.

import { get } from "../api.js";
import { formatNumber, language, t } from "../i18n.js";
import { catalogOf, el, noRun, viewHeader } from "./common.js";

const WHY = [
  ["no ward beds", "tension.why.beds"],
  ["no admission", "tension.why.admissions"],
  ["no ages", "tension.why.ages"],
];

function ensureStyles() {
  if (document.querySelector("link[data-tension-css]")) return;
  const link = el("link", { rel: "stylesheet", href: new URL("../../css/tension.css", import.meta.url).href, "data-tension-css": "" });
  document.head.append(link);
}

function levelText(level) {
  return level >= 0 ? String(level) : t("tension.level.unknown");
}

function levelBadge(level) {
  const key = level >= 0 ? `lv-${level}` : "lv-unknown";
  return el("span", { class: `tension-level ${key}`, "data-level": String(level), text: levelText(level) });
}

function whyText(reason) {
  if (!reason) return "";
  for (const [start, key] of WHY) if (reason.startsWith(start)) return t(key);
  return t("tension.why.none");
}

// The Now status in the page's language, from the fields of `department_status`.
export function statusReason(status, catalog = null) {
  const node = el("p", { class: "status-reason", "data-level": status ? status.level : "unknown" });
  if (!status || status.level === "unknown" || !status.reason) {
    node.textContent = t("status.reason.unknown");
    return node;
  }
  const r = status.reason;
  if (r.specialty === "all") {
    node.textContent = t("status.reason.present", { present: formatNumber(r.present) });
    return node;
  }
  if (status.level === "green") {
    node.textContent = t("status.reason.green");
    return node;
  }
  const name = catalog ? catalog.name(r.specialty) : r.specialty;
  // an hourly average has no longest wait: say nothing of it rather than "– min"
  const known = r.longest_wait_min !== null && r.longest_wait_min !== undefined;
  const parts = [t(known ? "status.reason" : "status.reason.no_longest", {
    name, waiting: formatNumber(r.waiting), doctors: formatNumber(r.doctors_on_duty),
    longest: known ? formatNumber(r.longest_wait_min, 0) : "",
  })];
  if (!r.doctors_on_duty) parts.push(t("status.reason.no_doctor"));
  else parts.push(t("status.reason.load", {
    load: formatNumber(r.waiting_per_doctor, 1), level: t(`saturation.${status.level}`), threshold: formatNumber(r.threshold, 0),
  }));
  if (r.usual_waiting_per_doctor !== null && r.usual_waiting_per_doctor !== undefined) {
    parts.push(t("status.reason.usual", { usual: formatNumber(r.usual_waiting_per_doctor, 1) }));
  }
  const more = Object.values(status.areas || {}).filter((level) => level === status.level).length - 1;
  if (more > 0) parts.push(t("status.reason.more", { count: more }));
  node.textContent = parts.join(" · ");
  return node;
}

function formatValue(indicator, value) {
  if (value === null || value === undefined) return "–";
  if (indicator.key === "admission_rate") return `${formatNumber(100 * value, 1)} %`;
  return formatNumber(value, 0);
}

function dateLabel(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Intl.DateTimeFormat(language() === "fr" ? "fr-FR" : "en-GB", {
    weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
  }).format(new Date(Date.UTC(y, m - 1, d)));
}

function calendar(daily, onPick) {
  // weeks as columns (Monday first), weekdays as rows
  const grid = el("div", { class: "tension-calendar", role: "grid", "aria-label": t("tension.calendar") });
  if (!daily.days.length) return grid;
  const first = new Date(`${daily.days[0]}T00:00:00Z`);
  const offset = (first.getUTCDay() + 6) % 7;
  const weeks = Math.ceil((offset + daily.days.length) / 7);
  grid.classList.add(`weeks-${Math.min(weeks, 60)}`);
  const cells = [];
  for (let row = 0; row < 7; row += 1) {
    const line = el("div", { class: "tension-week-row", role: "row" });
    for (let col = 0; col < weeks; col += 1) {
      const index = col * 7 + row - offset;
      if (index < 0 || index >= daily.days.length) {
        line.append(el("span", { class: "tension-cell empty", role: "gridcell" }));
        continue;
      }
      const level = daily.global[index];
      const day = daily.days[index];
      const cell = el("button", {
        type: "button", role: "gridcell", class: `tension-cell ${level >= 0 ? `lv-${level}` : "lv-unknown"}${daily.tension[index] ? " in-tension" : ""}`,
        "data-day": day, "data-level": String(level),
        title: t("tension.day", { day: dateLabel(day), level: levelText(level) }),
        "aria-label": t("tension.day", { day: dateLabel(day), level: levelText(level) }),
        onclick: () => onPick(index),
      });
      cells.push(cell);
      line.append(cell);
    }
    grid.append(line);
  }
  return grid;
}

function legend() {
  return el("p", { class: "tension-legend muted" }, [
    el("span", { text: `${t("tension.legend")} ` }),
    ...[-1, 0, 1, 2, 3, 4].map((level) => levelBadge(level)),
  ]);
}

function indicatorTable(daily, index) {
  const rows = daily.indicators.map((ind) => {
    const mean = ind.mean[index];
    const sd = ind.sd[index];
    const usual = mean === null || mean === undefined ? "–" : `${formatValue(ind, mean)} ± ${formatValue(ind, sd)}`;
    return el("tr", { "data-indicator": ind.code, "data-available": ind.reason ? "no" : "yes" }, [
      el("td", { text: t(`tension.${ind.code}`) }),
      el("td", { class: "num", text: formatValue(ind, ind.values[index]) }),
      el("td", {}, levelBadge(ind.levels[index])),
      el("td", { class: "num", text: usual }),
      el("td", { class: "muted", text: whyText(ind.reason) }),
    ]);
  });
  return el("table", { class: "tension-indicators" }, [
    el("thead", {}, el("tr", {}, [
      el("th", { i18n: "tension.indicator" }),
      el("th", { class: "num", i18n: "tension.value" }),
      el("th", { i18n: "tension.level" }),
      el("th", { class: "num", i18n: "tension.usual" }),
      el("th", { i18n: "tension.reason" }),
    ])),
    el("tbody", {}, rows),
  ]);
}

function scoreLine(name, score) {
  const text = score.value === null
    ? t("tension.score.missing", { inputs: score.missing.map((k) => t(`tension.input.${k}`)).join(", ") })
    : t("tension.score.value", { value: formatNumber(score.value, 1), band: t(`tension.band.${score.band}`) });
  return el("li", { "data-score": name }, [el("strong", { text: `${name.toUpperCase()} ` }), el("span", { text }), el("span", { class: "muted", text: ` — ${score.reference}` })]);
}

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  ensureStyles();
  const catalog = await catalogOf(run.id);
  container.append(viewHeader("tension.title", run));
  const nowPanel = el("section", { class: "panel tension-now" }, [el("h3", { i18n: "tension.now" })]);
  const calendarPanel = el("section", { class: "panel" }, [el("h3", { i18n: "tension.calendar" })]);
  const dayPanel = el("section", { class: "panel" });
  container.append(nowPanel, calendarPanel, dayPanel);
  const [daily, now] = await Promise.all([
    get(`/runs/${run.id}/tension`),
    get(`/runs/${run.id}/tension/now`),
  ]);
  const level = now.status.level;
  nowPanel.append(
    el("p", {}, [
      el("span", { class: `status ${["green", "amber", "red"].includes(level) ? level : "unknown"}`, "data-saturation": level, text: t(`saturation.${level}`) }),
    ]),
    statusReason(now.status, catalog),
    el("h4", { i18n: "tension.scores" }),
    el("ul", { class: "tension-scores" }, [scoreLine("nedocs", now.nedocs), scoreLine("edwin", now.edwin)]),
  );
  container.dataset.days = String(daily.days.length);
  if (!daily.days.length) {
    calendarPanel.append(el("p", { class: "empty", i18n: "tension.empty" }));
    return null;
  }
  const pick = (index) => {
    for (const cell of calendarPanel.querySelectorAll(".tension-cell.selected")) cell.classList.remove("selected");
    const cell = calendarPanel.querySelector(`[data-day="${daily.days[index]}"]`);
    if (cell) cell.classList.add("selected");
    dayPanel.replaceChildren(
      el("h3", { text: t("tension.indicators", { day: dateLabel(daily.days[index]) }) }),
      el("p", {}, [el("span", { text: `${t("tension.global")} ` }), levelBadge(daily.global[index]),
        daily.tension[index] ? el("strong", { class: "in-tension", text: ` ${t("tension.global.tension")}` }) : null]),
      indicatorTable(daily, index),
    );
    dayPanel.dataset.day = daily.days[index];
  };
  calendarPanel.append(
    calendar(daily, pick),
    legend(),
    el("p", { class: "muted", text: t("tension.rule", { k: formatNumber(daily.settings.k, 1), weeks: daily.settings.reference_weeks }) }),
  );
  pick(daily.days.length - 1);
  return null;
}
