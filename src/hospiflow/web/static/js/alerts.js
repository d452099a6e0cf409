// The alert banner of the app shell, on every view: the server's alerts not yet
// acknowledged (a live run or a fed site turned red or crossed a tension threshold),
// each with an Acknowledge button (an administrator token), an optional sound (off by
// default, remembered in this browser), desktop notifications (asked on a click), and
// the list of acknowledged alerts. Polled every POLL_MS; never blocks a view.

import { ApiError, get, send, setToken, token } from "./api.js";
import { formatNumber, formatTime, t } from "./i18n.js";
import { catalogOf, el, sourceName } from "./views/common.js";
import { statusReason } from "./views/tension.js";

const POLL_MS = 10000;
const SOUND_KEY = "hospiflow.alertSound";

const seen = new Set(); // alert ids already announced (sound, notification)
let first = true;
let runsOf = () => [];
let timer = null;

function soundOn() {
  try { return localStorage.getItem(SOUND_KEY) === "on"; } catch { return false; }
}

function setSound(on) {
  try { localStorage.setItem(SOUND_KEY, on ? "on" : "off"); } catch { /* private mode */ }
}

// A short two-tone chime from the Web Audio API (no file to fetch).
function chime() {
  try {
    const audio = new (window.AudioContext || window.webkitAudioContext)();
    [880, 660].forEach((frequency, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = frequency;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + i * 0.25);
      osc.stop(audio.currentTime + i * 0.25 + 0.2);
    });
    document.body.dataset.alertSound = "played";
  } catch { /* no audio here */ }
}

function sourceOf(alert) {
  const run = runsOf().find((r) => r.id === alert.run_id);
  if (run) return sourceName(run);
  if (alert.site) return t("run.observed", { site: alert.site.name });
  return t("run.simulation", { id: alert.run_id });
}

function timeZoneOf(alert) {
  const run = runsOf().find((r) => r.id === alert.run_id);
  return run ? run.timezone : undefined;
}

// The alert in the page's language: the status reason as the Now view words it.
async function reasonNode(alert) {
  if (alert.kind === "status" && alert.details && alert.details.status) {
    let catalog = null;
    try { catalog = await catalogOf(alert.run_id); } catch { /* names stay codes */ }
    return statusReason(alert.details.status, catalog);
  }
  if (alert.kind === "het") {
    return el("p", { class: "status-reason", text: t("alerts.het", { day: alert.details.day, level: alert.details.global_level }) });
  }
  const band = alert.details && alert.details.band;
  return el("p", {
    class: "status-reason",
    text: t("alerts.nedocs", { value: formatNumber(alert.details && alert.details.value, 0), band: t(`alerts.nedocs.${band}`) }),
  });
}

function webhookNote(alert) {
  const hook = alert.webhook || {};
  if (hook.state === "failed") return el("p", { class: "error", "data-webhook": "failed", text: t("alerts.webhook.failed", { attempts: hook.attempts, error: hook.error || "" }) });
  if (hook.state === "pending" && hook.attempts) return el("p", { class: "muted", "data-webhook": "pending", text: t("alerts.webhook.retrying", { attempts: hook.attempts, error: hook.error || "" }) });
  if (hook.state === "sent") return el("p", { class: "muted", "data-webhook": "sent", text: t("alerts.webhook.sent") });
  return null;
}

async function acknowledge(alert, box, refresh) {
  const message = box.querySelector(".alert-message");
  const input = box.querySelector("input[type=password]");
  const given = input && input.value.trim();
  if (given) setToken(given);
  try {
    await send("POST", `/alerts/${alert.id}/acknowledge`, given || token(), {});
    await refresh();
  } catch (error) {
    const needToken = error instanceof ApiError && (error.status === 401 || error.status === 403);
    message.textContent = needToken ? t("alerts.need_token") : t("common.failed", { message: error.message });
    message.hidden = false;
    if (input) input.hidden = false;
  }
}

async function alertItem(alert, refresh) {
  const level = alert.kind === "status" ? "red" : "amber";
  const box = el("li", { class: `alert-item ${level}`, "data-alert": String(alert.id), "data-kind": alert.kind }, [
    el("span", { class: `status ${level}`, text: t(`alerts.kind.${alert.kind}`) }),
    el("strong", { text: ` ${sourceOf(alert)} · ${formatTime(alert.time, timeZoneOf(alert))}` }),
    !alert.ended ? null : el("span", { class: "muted", text: ` · ${t("alerts.ended", { time: formatTime(alert.ended, timeZoneOf(alert)) })}` }),
  ]);
  box.append(await reasonNode(alert));
  const note = webhookNote(alert);
  if (note) box.append(note);
  const tokenInput = el("input", { type: "password", autocomplete: "off", "aria-label": t("alerts.token"), placeholder: t("alerts.token"), hidden: Boolean(token()) });
  box.append(el("div", { class: "alert-actions" }, [
    tokenInput,
    el("button", { type: "button", class: "primary", "data-ack": String(alert.id), text: t("alerts.acknowledge"), onclick: () => acknowledge(alert, box, refresh) }),
    el("span", { class: "error alert-message", role: "status", hidden: true }),
  ]));
  return box;
}

function acknowledgedList(alerts) {
  const details = el("details", { class: "alerts-acknowledged", "data-acknowledged": String(alerts.length) }, [
    el("summary", { text: t("alerts.acknowledged", { count: alerts.length }) }),
  ]);
  if (!alerts.length) {
    details.append(el("p", { class: "muted", text: t("alerts.acknowledged.none") }));
    return details;
  }
  const body = el("tbody");
  for (const a of alerts) {
    const tz = timeZoneOf(a);
    body.append(el("tr", { "data-alert": String(a.id) }, [
      el("td", { text: formatTime(a.time, tz) }),
      el("td", { text: sourceOf(a) }),
      el("td", { text: t(`alerts.kind.${a.kind}`) }),
      el("td", { text: a.acknowledged.by, "data-raw": "" }),
      el("td", { text: formatTime(a.acknowledged.at, tz) }),
      el("td", { text: a.acknowledged.note || "" }),
    ]));
  }
  details.append(el("table", {}, [
    el("thead", {}, el("tr", {}, ["alerts.col.time", "alerts.col.source", "alerts.col.kind", "alerts.col.by", "alerts.col.at", "alerts.col.note"].map((k) => el("th", { text: t(k) })))),
    body,
  ]));
  return details;
}

function controls(refresh) {
  const sound = el("input", { type: "checkbox", id: "alert-sound" });
  sound.checked = soundOn();
  sound.addEventListener("change", () => { setSound(sound.checked); if (sound.checked) chime(); });
  const parts = [el("label", { class: "alert-toggle" }, [sound, ` ${t("alerts.sound")}`])];
  if ("Notification" in window) {
    const state = Notification.permission;
    if (state === "granted") parts.push(el("span", { class: "muted", text: t("alerts.notify.on") }));
    else if (state === "denied") parts.push(el("span", { class: "muted", text: t("alerts.notify.denied") }));
    else parts.push(el("button", { type: "button", id: "alert-notify", text: t("alerts.notify.ask"), onclick: async () => { await Notification.requestPermission(); await refresh(); } }));
  }
  return el("div", { class: "alert-controls" }, parts);
}

function announce(fresh) {
  if (!fresh.length) return;
  if (soundOn()) chime();
  if ("Notification" in window && Notification.permission === "granted") {
    for (const a of fresh) {
      try { new Notification(t("alerts.notification.title", { source: sourceOf(a) }), { body: a.reason, tag: `hospiflow-alert-${a.id}` }); } catch { /* not allowed here */ }
    }
  }
}

async function refresh() {
  const root = document.getElementById("alerts");
  if (!root) return;
  let open;
  let done;
  try {
    [open, done] = await Promise.all([
      get("/alerts", { acknowledged: "false", limit: 20 }, { signIn: false }),
      get("/alerts", { acknowledged: "true", limit: 20 }, { signIn: false }),
    ]);
  } catch {
    return; // the views say when the server cannot be reached; the banner keeps its last state
  }
  const items = open.alerts || [];
  const fresh = items.filter((a) => !seen.has(a.id));
  for (const a of items) seen.add(a.id);
  if (!first) announce(fresh);
  first = false;
  const banner = el("section", { class: "alert-banner", role: "alert", "aria-labelledby": "alert-title" }, [
    el("h2", { id: "alert-title", text: t("alerts.title", { count: items.length }) }),
  ]);
  const list = el("ul", { class: "alert-list" });
  for (const a of items) list.append(await alertItem(a, refresh));
  banner.append(list, controls(refresh));
  const parts = items.length ? [banner] : [];
  const wasOpen = Boolean(root.querySelector(".alerts-acknowledged[open]"));
  if ((done.alerts || []).length || items.length) {
    const list = acknowledgedList(done.alerts || []);
    list.open = wasOpen; // a refresh keeps the list as the manager left it
    parts.push(list);
  }
  root.replaceChildren(...parts);
  root.hidden = !parts.length;
  root.dataset.open = String(items.length);
}

// Start polling; `runs()` gives the shell's current run list (to name sources).
export function startAlerts(runs) {
  runsOf = runs;
  if (timer) clearInterval(timer);
  refresh();
  timer = setInterval(refresh, POLL_MS);
  return refresh;
}
