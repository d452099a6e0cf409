// The replicated what-if of the Scenarios view: a change set (doctors over a window,
// spaces, ward beds, arrivals, diagnostics, ward discharges), paired replications on the
// server (POST /whatifs, progress polled), then baseline against change for every measure
// with the 95 % interval of the difference: a chart of differences with error bars and a table.

import { get, send, setToken, token as storedToken } from "../api.js";
import { draw, panel, PALETTE } from "../charts.js";
import { formatNumber, language, t } from "../i18n.js";
import { el, numberInput, select } from "./common.js";

const POLL_MS = 500;
const BASES = ["default", "plain", "stationary"];
const COLORS = { better: PALETTE[2], worse: PALETTE[5], unclear: "#6b6b6b" };

// "better" / "worse" when the interval excludes 0, else "unclear".
export function verdict(measure) {
  if (measure.low === null || !measure.significant) return "unclear";
  return (measure.difference < 0) === measure.lower_is_better ? "better" : "worse";
}

// A value in its unit: shares as percentages (differences in points).
function shown(measure, value, signed = false) {
  if (value === null || value === undefined) return "—";
  const sign = signed && value > 0 ? "+" : "";
  if (measure.unit === "share") return `${sign}${formatNumber(100 * value, 1)}${signed ? " pt" : " %"}`;
  return `${sign}${formatNumber(value, 1)}`;
}

// The difference as a share of the baseline (%), for one chart across units; null at 0.
function relative(measure, value) {
  if (value === null || !measure.baseline) return null;
  return (100 * value) / Math.abs(measure.baseline);
}

// The panel (the caller places it); its polling timers go into `timers` for the view's clean-up.
export function replicatedPanel(state, tokenInput, timers) {
  const section = el("section", { class: "panel", "data-whatif": "replicated" }, [
    el("h3", { i18n: "whatif.title" }),
    el("p", { class: "muted", i18n: "whatif.help" }),
  ]);
  const form = { base: "default", specialty: "", start: "18:00", end: "02:00", doctors: 0, spaces: 0, beds: 0, arrivals: 0, diagnostics: 0, earlier: 0, sooner: 0, replications: 20, weeks: 8 };
  const specialty = el("select", { id: "whatif-specialty", onchange: (event) => { form.specialty = event.target.value; } });
  const time = (key) => el("input", { type: "time", value: form[key], id: `whatif-${key}`, onchange: (event) => { form[key] = event.target.value; } });
  const number = (key, label, options) => {
    const control = numberInput(label, form[key], (v) => { form[key] = v; }, options);
    control.querySelector("input").id = `whatif-${key}`;
    return control;
  };
  const launch = el("button", { type: "submit", class: "primary", id: "whatif-launch", i18n: "whatif.launch" });
  const progress = el("progress", { max: "1", value: "0", hidden: true, id: "whatif-progress" });
  const message = el("p", { class: "muted", role: "status", id: "whatif-message" });
  const result = el("div", { id: "whatif-result" });
  const controls = el("form", { class: "whatif-replicated", onsubmit: (event) => { event.preventDefault(); submit(); } }, [
    select("scenarios.base", BASES.map((b) => [b, `scenario.${b}`]), form.base, (v) => { form.base = v; }),
    number("doctors", "whatif.doctors", { min: -20, step: 1 }),
    el("label", {}, [el("span", { i18n: "common.specialty" }), specialty]),
    el("label", {}, [el("span", { i18n: "whatif.from" }), time("start")]),
    el("label", {}, [el("span", { i18n: "whatif.to" }), time("end")]),
    number("spaces", "whatif.spaces", { min: -100, step: 1 }),
    number("beds", "whatif.beds", { min: -1000, step: 1 }),
    number("arrivals", "whatif.arrivals", { min: -90, step: 1 }),
    number("diagnostics", "whatif.diagnostics", { min: -90, step: 5 }),
    number("earlier", "whatif.earlier", { min: -12, step: 1 }),
    number("sooner", "whatif.sooner", { min: -24, step: 0.5 }),
    number("replications", "whatif.replications", { min: 2, step: 1 }),
    number("weeks", "whatif.weeks", { min: 1, step: 1 }),
    launch,
  ]);
  const writes = state.config.writes_enabled !== false;
  if (!writes) for (const control of controls.querySelectorAll("input, select, button")) control.disabled = true;
  section.append(controls, progress, message, result);

  get("/catalog").then((catalog) => {
    const fr = language() === "fr";
    specialty.replaceChildren(...catalog.specialties.map((s) => el("option", { value: s.code, text: fr ? s.name_fr : s.name_en })));
    form.specialty = catalog.specialties[0]?.code || "";
  }).catch(() => { /* the launch says what failed */ });

  // What was asked, in the page's language (the API's own lines are English, for the CLI).
  function summary(asked) {
    const signed = (n) => (n > 0 ? `+${formatNumber(n)}` : formatNumber(n));
    const lines = [];
    const name = specialty.selectedOptions[0]?.textContent || asked.specialty;
    if (asked.doctors) lines.push(t("whatif.summary.doctors", { n: signed(asked.doctors), specialty: name, start: asked.start, end: asked.end }));
    if (asked.spaces) lines.push(t("whatif.summary.spaces", { n: signed(asked.spaces) }));
    if (asked.beds) lines.push(t("whatif.summary.beds", { n: signed(asked.beds) }));
    if (asked.arrivals) lines.push(t("whatif.summary.arrivals", { n: signed(asked.arrivals) }));
    if (asked.diagnostics) lines.push(t("whatif.summary.diagnostics", { n: signed(asked.diagnostics) }));
    if (asked.earlier) lines.push(t("whatif.summary.earlier", { n: signed(asked.earlier) }));
    if (asked.sooner) lines.push(t("whatif.summary.sooner", { n: formatNumber(asked.sooner) }));
    return lines.length ? lines : [t("whatif.summary.none")];
  }

  function changes() {
    const out = {};
    if (form.doctors) out.doctors = [{ specialty: form.specialty, start: form.start, end: form.end, change: form.doctors }];
    if (form.spaces) out.spaces = form.spaces;
    if (form.beds) out.ward_beds = form.beds;
    if (form.arrivals) out.arrivals_percent = form.arrivals;
    if (form.diagnostics) out.diagnostics_factor = 1 + form.diagnostics / 100;
    if (form.earlier) out.discharge_hours_earlier = form.earlier;
    if (form.sooner) out.boarding_hours_sooner = form.sooner;
    return out;
  }

  async function submit() {
    launch.disabled = true;
    message.classList.remove("error");
    try {
      const typed = tokenInput.value.trim();
      const body = await send("POST", "/whatifs", typed, { base: form.base, changes: changes(), replications: form.replications, weeks: form.weeks });
      if (typed && typed !== storedToken()) {
        setToken(typed);
        document.getElementById("sign-out").hidden = false;
      }
      progress.hidden = false;
      progress.value = 0;
      message.textContent = t("whatif.started");
      await follow(body.whatif_id, summary({ ...form }));
    } catch (error) {
      message.textContent = t("common.error", { message: error.message });
      message.classList.add("error");
    } finally {
      launch.disabled = false;
    }
  }

  function follow(id, asked) {
    return new Promise((resolve) => {
      const timer = setInterval(async () => {
        let job;
        try {
          job = (await get(`/whatifs/${id}`)).whatif;
        } catch { return; /* try again at the next tick */ }
        progress.value = job.progress;
        message.textContent = t("whatif.progress", { done: job.done, total: job.total });
        if (job.status === "running") return;
        clearInterval(timer);
        timers.delete(timer);
        progress.hidden = true;
        if (job.status === "complete") {
          message.textContent = t("whatif.done", { seconds: formatNumber(job.result.seconds, 1) });
          await paint(job.result, asked);
        } else {
          message.textContent = t("common.failed", { message: job.error?.message || "" });
          message.classList.add("error");
        }
        resolve();
      }, POLL_MS);
      timers.add(timer);
    });
  }

  async function paint(data, asked) {
    const measures = data.measures;
    const label = (m) => t(`whatif.measure.${m.key}`);
    result.replaceChildren(
      el("ul", { class: "whatif-changes" }, asked.map((line) => el("li", { text: line }))),
      el("table", { id: "whatif-table" }, [
        el("thead", {}, el("tr", {}, [
          el("th", { i18n: "scenarios.metric" }), el("th", { class: "num", i18n: "whatif.baseline" }),
          el("th", { class: "num", i18n: "whatif.change" }), el("th", { class: "num", i18n: "whatif.difference" }),
          el("th", { class: "num", i18n: "whatif.interval" }), el("th", { i18n: "whatif.verdict" }),
        ])),
        el("tbody", {}, measures.map((m) => el("tr", { "data-measure": m.key, "data-verdict": verdict(m) }, [
          el("td", { text: label(m) }),
          el("td", { class: "num", text: shown(m, m.baseline) }),
          el("td", { class: "num", text: shown(m, m.change) }),
          el("td", { class: "num", text: shown(m, m.difference, true) }),
          el("td", { class: "num", text: m.low === null ? "—" : `${shown(m, m.low, true)} … ${shown(m, m.high, true)}` }),
          el("td", { text: t(`whatif.verdict.${verdict(m)}`) }),
        ]))),
      ]),
      el("p", { class: "muted", text: t("whatif.method", { n: data.replications, weeks: formatNumber(data.weeks, 0) }) }),
    );
    const chart = panel(result, "whatif.chart");
    chart.section.dataset.whatifChart = "";
    const plotted = measures.filter((m) => relative(m, m.difference) !== null);
    const rows = plotted.map((m) => ({
      measure: m.key, baseline: m.baseline, change: m.change, difference: m.difference, low: m.low, high: m.high,
      relative_percent: relative(m, m.difference), relative_low: relative(m, m.low), relative_high: relative(m, m.high),
    }));
    await draw(chart, [{
      type: "scatter", mode: "markers", orientation: "h",
      y: plotted.map(label), x: rows.map((r) => r.relative_percent),
      error_x: { type: "data", symmetric: false, array: rows.map((r) => (r.relative_high ?? r.relative_percent) - r.relative_percent), arrayminus: rows.map((r) => r.relative_percent - (r.relative_low ?? r.relative_percent)), thickness: 2, width: 6 },
      marker: { size: 11, color: plotted.map((m) => COLORS[verdict(m)]) },
      customdata: plotted.map((m) => [shown(m, m.difference, true), shown(m, m.low, true), shown(m, m.high, true)]),
      hovertemplate: "%{y}: %{x:.1f} % (%{customdata[0]}; 95 %: %{customdata[1]} … %{customdata[2]})<extra></extra>",
      name: t("whatif.difference"),
    }], {
      xaxis: { title: { text: t("whatif.axis.relative") }, zeroline: true, zerolinewidth: 2, ticksuffix: " %" },
      yaxis: { title: { text: t("scenarios.metric") }, automargin: true, autorange: "reversed" },
      hovermode: "closest", showlegend: false, margin: { l: 200, r: 16, t: 36, b: 48 },
    }, rows);
  }
  return section;
}
