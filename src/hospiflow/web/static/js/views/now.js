// "Now": the hospital's current state, updated live through the SSE stream
// (with a polling fallback), a saturation status per specialty and a ticker.
// A site's observed data have no doctors and no state samples: their "now" is the end
// of the data, counted from the visits (present, waiting when first-seen times exist),
// with the status on patients present and never a made-up zero for doctors.

import { get, streamUrl } from "../api.js";
import { formatNumber, formatTime, t } from "../i18n.js";
import { catalogOf, el, isObserved, noRun, unknownValue, viewHeader } from "./common.js";
import { duration, nowContext } from "./nowcontext.js";
import { statusReason } from "./tension.js";

const POLL_MS = 5000;
const TICKER_SIZE = 15;

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  if (isObserved(run)) return renderObserved(container, run);
  const catalog = await catalogOf(run.id);
  const mode = el("span", { class: "muted" });
  container.append(viewHeader("now.title", run, mode));
  const asOf = el("p", { class: "muted" });
  const reason = el("div", { class: "now-status-reason" });
  const kpis = el("div", { class: "kpis" });
  const tableBody = el("tbody");
  const table = el("table", {}, [
    el("thead", {}, el("tr", {}, [
      el("th", { i18n: "common.specialty" }),
      el("th", { i18n: "now.status" }),
      el("th", { class: "num", i18n: "now.waiting" }),
      el("th", { class: "num", i18n: "now.in_treatment" }),
      el("th", { class: "num", i18n: "now.on_duty" }),
      el("th", { class: "num", i18n: "now.busy" }),
      el("th", { class: "num", i18n: "now.free" }),
      el("th", { class: "num", i18n: "now.longest_wait" }),
      el("th", { class: "num", i18n: "now.mean_wait_hour" }),
      el("th", { i18n: "now.utilisation" }),
    ])),
    tableBody,
  ]);
  const thresholds = el("p", { class: "muted" });
  const tablePanel = el("section", { class: "panel" }, [table, thresholds]);
  const context = nowContext(run, catalog);
  const grid = el("div", { class: "grid" });
  const tickerList = el("ul", { class: "ticker", "aria-live": "polite", tabindex: "0", "aria-label": t("now.ticker") });
  grid.append(context.longest, el("section", { class: "panel" }, [el("h3", { i18n: "now.ticker" }), tickerList]));
  // a live run whose figures stopped moving, or whose last update failed, says so
  const stale = el("p", { class: "notice stale", role: "status", hidden: true });
  container.append(asOf, stale, reason, kpis, context.outlook, tablePanel, grid);
  const staleMs = 1000 * (state.config.stale_seconds || 120);
  let lastFresh = Date.now();
  const markStale = (text) => {
    stale.hidden = false;
    stale.textContent = text;
    container.dataset.stale = "true";
  };

  let latest = null;
  let figures = {};
  const ticker = [];

  function paint(now) {
    latest = now;
    lastFresh = Date.now();
    stale.hidden = true;
    delete container.dataset.stale;
    asOf.textContent = t("now.asof", { time: formatTime(now.as_of, run.timezone) });
    container.dataset.asOf = now.as_of;
    const totals = now.totals;
    reason.replaceChildren(statusReason(now.department_status, catalog));
    kpis.replaceChildren(
      tile("now.waiting", totals.waiting, "waiting"),
      tile("now.in_treatment", totals.in_treatment, "in_treatment"),
      tile("now.present", totals.present, "present"),
      tile("now.arrivals_hour", totals.arrivals_last_hour, "arrivals_last_hour"),
      tile("now.on_duty", totals.doctors_on_duty, "doctors_on_duty"),
      tile("now.free", totals.doctors_free, "doctors_free"),
      tile("now.longest_wait", formatNumber(totals.longest_wait_min, 0), "longest_wait_min"),
      tile("now.mean_wait_hour", formatNumber(totals.mean_wait_last_hour_min, 0), "mean_wait_last_hour_min"),
      tile("now.utilisation", formatNumber(100 * (totals.utilisation ?? NaN), 0) + " %", "utilisation"),
      tile("now.status", statusBadge(totals.saturation), "status"),
    );
    figures = {
      waiting: totals.waiting, in_treatment: totals.in_treatment, present: totals.present,
      arrivals_last_hour: totals.arrivals_last_hour, doctors_on_duty: totals.doctors_on_duty,
      doctors_free: totals.doctors_free, longest_wait_min: totals.longest_wait_min, utilisation: totals.utilisation,
      mean_wait_last_hour_min: totals.mean_wait_last_hour_min,
    };
    context.decorate(kpis, figures);
    context.follow(now.as_of)?.then(() => context.decorate(kpis, figures));
    tableBody.replaceChildren(...now.specialties.map((s) => el("tr", { "data-specialty": s.specialty }, [
      el("td", { text: catalog.name(s.specialty) }),
      el("td", {}, statusBadge(s.saturation)),
      el("td", { class: "num", text: String(s.waiting) }),
      el("td", { class: "num", text: String(s.in_treatment) }),
      el("td", { class: "num", text: String(s.doctors_on_duty) }),
      el("td", { class: "num", text: String(s.doctors_busy) }),
      el("td", { class: "num", text: String(s.doctors_free) }),
      el("td", { class: "num", text: formatNumber(s.longest_wait_min, 0) }),
      el("td", { class: "num", text: formatNumber(s.mean_wait_last_hour_min, 0) }),
      el("td", {}, gauge(s.utilisation, s.saturation)),
    ])));
    const amber = now.thresholds.amber;
    const red = now.thresholds.red;
    thresholds.textContent = t("now.thresholds", {
      amber_ratio: amber.waiting_per_doctor, red_ratio: red.waiting_per_doctor,
    });
    if (!ticker.length && now.recent_arrivals) {
      for (const arrival of now.recent_arrivals.slice(0, TICKER_SIZE)) ticker.push(arrival);
      paintTicker();
    }
  }

  function paintTicker() {
    if (!ticker.length) {
      tickerList.replaceChildren(el("li", { class: "muted", i18n: "now.ticker.empty" }));
      return;
    }
    tickerList.replaceChildren(...ticker.map((a) => el("li", { "data-event": a.id }, [
      el("time", { datetime: a.time, text: formatTime(a.time, run.timezone, false) }),
      el("span", { text: catalog.name(a.pathology) }),
      el("span", { class: "badge", text: catalog.name(a.specialty) }),
    ])));
  }

  const first = await get(`/runs/${run.id}/now`);
  await context.load();
  paint(first);
  paintTicker();

  // Live: the stream sends a "state" message with each new snapshot and every event
  // of the trace; if the browser cannot keep it open, poll `now` instead.
  let source = null;
  let timer = null;
  const setMode = (key) => {
    mode.replaceChildren(el("span", { class: `live-dot${key === "now.live" ? "" : " off"}` }), el("span", { i18n: key }));
    container.dataset.mode = key.split(".")[1];
  };
  const poll = () => {
    setMode("now.polling");
    timer = setInterval(async () => {
      try {
        paint(await get(`/runs/${run.id}/now`));
      } catch (error) { // the last state stays on screen, marked
        markStale(t("now.poll_failed", { message: error.message, seconds: POLL_MS / 1000 }));
      }
    }, POLL_MS);
  };
  if (run.status === "running" && "EventSource" in window) {
    source = new EventSource(streamUrl(run.id, { kind: "arrival" }));
    setMode("now.live");
    source.addEventListener("state", (message) => paint(JSON.parse(message.data)));
    source.addEventListener("trace", (message) => {
      const event = JSON.parse(message.data);
      if (event.kind !== "arrival") return;
      ticker.unshift({ id: event.id, time: event.time, pathology: event.pathology, specialty: event.specialty });
      ticker.length = Math.min(ticker.length, TICKER_SIZE);
      paintTicker();
    });
    source.addEventListener("end", () => { source.close(); source = null; });
    source.onerror = () => {
      if (source && source.readyState === EventSource.CLOSED) { source = null; poll(); }
    };
  } else if (run.status === "running") {
    poll();
  } else {
    mode.replaceChildren();
  }
  const watchdog = run.status === "running" ? setInterval(() => {
    const quiet = Date.now() - lastFresh;
    if (quiet > staleMs && latest) {
      markStale(t("now.stale", { minutes: formatNumber(quiet / 60000, 0), time: formatTime(latest.as_of, run.timezone) }));
    }
  }, Math.min(10000, staleMs / 2)) : null;
  return () => {
    if (watchdog) clearInterval(watchdog);
    if (source) source.close();
    if (timer) clearInterval(timer);
    void latest;
  };
}

function statusBadge(level) {
  if (level === null || level === undefined) {
    return el("span", { class: "status unknown", "data-saturation": "unknown", title: t("saturation.unknown.help"), text: t("saturation.unknown") });
  }
  const known = ["green", "amber", "red"].includes(level) ? level : "unknown";  // never green
  return el("span", { class: `status ${known}`, "data-saturation": known, text: t(`saturation.${known}`) });
}

function tile(labelKey, value, name, note = null) {
  const valueNode = el("div", { class: "value", "data-kpi": name });
  if (value instanceof Node) valueNode.append(value); else valueNode.textContent = String(value);
  const children = [el("div", { class: "label", i18n: labelKey }), valueNode];
  if (note) children.push(el("div", { class: "note muted", text: note }));
  return el("div", { class: "kpi" }, children);
}

// A count the data may not hold: the number, or a dash saying "not in this data".
function known(value, digits = 0) {
  return value === null || value === undefined ? unknownValue() : formatNumber(value, digits);
}

// The saturation rule of an observed site, in the page's language (the server's sentence
// is English; its basis and thresholds say the same thing).
function observedRule(thresholds) {
  const amber = thresholds.amber?.patients_present;
  const red = thresholds.red?.patients_present;
  if (thresholds.basis === "capacity" && red) {
    return t("now.rule.capacity", { capacity: formatNumber(red, 0), amber: formatNumber(amber, 1), amber_share: formatNumber(100 * amber / red, 0), red: formatNumber(red, 0) });
  }
  if (thresholds.basis === "census_percentiles") return t("now.rule.census", { amber: formatNumber(amber, 1), red: formatNumber(red, 1) });
  if (thresholds.basis === "none") return t("now.rule.none");
  return thresholds.rule || "";
}

async function renderObserved(container, run) {
  const catalog = await catalogOf(run.id);
  container.append(viewHeader("now.title", run));
  const now = await get(`/runs/${run.id}/now`);
  const totals = now.totals;
  const missing = now.not_in_data || [];
  const seenKnown = !missing.includes("first_seen");
  container.dataset.asOf = now.as_of || "";
  const asOf = el("p", { class: "muted", text: now.as_of ? t(now.feed ? "now.asof_live" : "now.asof_observed", { time: formatTime(now.as_of, run.timezone) }) : t("now.no_visits") });
  const context = nowContext(run, catalog);
  await context.load();
  const kpis = el("div", { class: "kpis" }, [
    tile("now.present", formatNumber(totals.present), "present"),
    tile("now.waiting", known(totals.waiting), "waiting", seenKnown ? null : t("now.first_seen_missing")),
    tile("now.longest_present", duration(totals.longest_present_min), "longest_present_min"),
    tile("now.arrivals_hour", formatNumber(totals.arrivals_last_hour), "arrivals_last_hour"),
    tile("now.on_duty", unknownValue(), "doctors_on_duty"),
    tile("now.status", statusBadge(totals.saturation), "status"),
  ]);
  const figures = {
    present: totals.present, longest_present_min: totals.longest_present_min, arrivals_last_hour: totals.arrivals_last_hour,
  };
  if (seenKnown) figures.waiting = totals.waiting;
  context.decorate(kpis, figures);
  const rule = el("p", { class: "muted rule", "data-rule": now.thresholds.basis || "", text: observedRule(now.thresholds) });
  const missingNote = el("p", { class: "muted", text: t(seenKnown ? "now.observed.lacks" : "now.observed.lacks_seen") });
  const rows = now.specialties.filter((s) => s.present || s.arrivals_last_hour || s.usual_arrivals_this_hour);
  const table = el("table", { class: "observed-now" }, [
    el("thead", {}, el("tr", {}, [
      el("th", { i18n: "common.specialty" }),
      el("th", { class: "num", i18n: "now.present" }),
      el("th", { class: "num", i18n: "now.waiting" }),
      el("th", { class: "num", i18n: "now.in_treatment" }),
      el("th", { class: "num", i18n: "now.longest_present" }),
      el("th", { class: "num", i18n: "now.arrivals_hour" }),
      el("th", { class: "num", i18n: "now.usual_short" }),
      el("th", { class: "num", i18n: "now.on_duty" }),
    ])),
    el("tbody", {}, rows.map((s) => el("tr", { "data-specialty": s.specialty }, [
      el("td", { text: catalog.name(s.specialty) }),
      el("td", { class: "num", text: formatNumber(s.present) }),
      el("td", { class: "num" }, known(s.waiting)),
      el("td", { class: "num" }, known(s.in_treatment)),
      el("td", { class: "num", text: duration(s.longest_present_min) }),
      el("td", { class: "num", text: formatNumber(s.arrivals_last_hour) }),
      el("td", { class: "num", text: formatNumber(s.usual_arrivals_this_hour, 1) }),
      el("td", { class: "num" }, unknownValue()),
    ]))),
  ]);
  const tablePanel = el("section", { class: "panel" }, [el("h3", { i18n: "now.by_specialty" }), table, rule, missingNote]);
  if (!rows.length) table.replaceWith(el("p", { class: "empty", i18n: "now.nobody" }));
  const tickerList = el("ul", { class: "ticker", tabindex: "0", "aria-label": t("now.ticker") });
  const recent = (now.recent_arrivals || []).slice(0, TICKER_SIZE);
  if (!recent.length) tickerList.append(el("li", { class: "muted", i18n: "now.ticker.empty" }));
  for (const a of recent) {
    tickerList.append(el("li", { "data-event": a.id }, [
      el("time", { datetime: a.time, text: formatTime(a.time, run.timezone, false) }),
      el("span", { text: a.pathology ? catalog.name(a.pathology) : t("now.no_diagnosis") }),
      el("span", { class: "badge", text: catalog.name(a.specialty) }),
    ]));
  }
  const grid = el("div", { class: "grid" }, [context.longest, el("section", { class: "panel" }, [el("h3", { i18n: "now.ticker" }), tickerList])]);
  container.append(asOf, statusReason(now.department_status, catalog), kpis, context.outlook, tablePanel, grid);
  return now.feed ? feedBanner(container, run, now.feed) : null;
}

// A site fed live (MLLP, REST push): "last message N s ago", a warning once the feed is
// stale (the server's FEED_STALE_SECONDS), kept current by the stream's state messages.
function feedBanner(container, run, first) {
  let feed = first;
  const banner = el("p", { class: "feed-banner", role: "status" });
  const paint = () => {
    const ago = Math.max(0, (Date.now() - Date.parse(feed.last_message)) / 1000);
    const stale = ago > feed.stale_after_seconds;
    banner.classList.toggle("notice", stale);
    banner.dataset.stale = String(stale);
    banner.textContent = t(stale ? "now.feed.stale" : "now.feed.last", { seconds: formatNumber(Math.round(ago)) });
  };
  paint();
  container.prepend(banner);
  const timer = setInterval(paint, 1000);
  const source = "EventSource" in window ? new EventSource(streamUrl(run.id, { kind: "arrival" })) : null;
  if (source) source.addEventListener("state", (message) => { const next = JSON.parse(message.data).feed; if (next) { feed = next; paint(); } });
  return () => { clearInterval(timer); if (source) source.close(); };
}

function gauge(value, level) {
  const share = Math.max(0, Math.min(1, value ?? 0));
  const bar = el("span");
  bar.style.width = `${Math.round(share * 100)}%`; // CSSOM: a strict CSP refuses style attributes
  return el("div", { class: `gauge ${level || ""}`, role: "meter", "aria-label": t("now.utilisation"), "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(share * 100)) }, bar);
}
