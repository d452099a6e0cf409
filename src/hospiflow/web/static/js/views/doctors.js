// "Doctors": availability over time (on duty vs busy per specialty), utilisation by
// hour of week, and where the roster is short.

import { get } from "../api.js";
import { draw, panel, showEmpty, showError, wallClock } from "../charts.js";
import { formatNumber, t } from "../i18n.js";
import { catalogOf, dateInput, el, fullRange, lacks, noRun, notInData, recentRange, select, viewHeader } from "./common.js";

const SHORT = 0.9;

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  if (lacks(run, "doctors") || lacks(run, "rosters")) {
    container.append(viewHeader("doctors.title", run));
    notInData(container, "doctors.not_in_data", { detailKey: "doctors.not_in_data.detail", name: "doctors" });
    return null;
  }
  const catalog = await catalogOf(run.id);
  const nameOf = (key) => (key === "all" ? t("common.all") : catalog.name(key));
  container.append(viewHeader("doctors.title", run));
  const options = { bucket: "hour", specialty: catalog.specialties[0]?.code, ...recentRange(run, 7) };
  const controls = el("div", { class: "controls" });
  const availability = panel(container, "doctors.availability", { controls });
  const heatmap = panel(container, "doctors.how");
  const shortPanel = el("section", { class: "panel" }, [el("h3", { i18n: "doctors.short" })]);
  container.append(shortPanel);

  function paintControls() {
    controls.replaceChildren(
      select("common.specialty", catalog.specialties.map((s) => [s.code, catalog.name(s.code)]), options.specialty, (value) => { options.specialty = value; loadAvailability(); }, { translate: false }),
      select("common.bucket", ["hour", "day", "week"].map((b) => [b, `bucket.${b}`]), options.bucket, (value) => {
        options.bucket = value;
        Object.assign(options, recentRange(run, { hour: 7, day: 90, week: 366 }[value]));
        paintControls();
        loadAvailability();
      }),
      dateInput("common.from", options.start, (value) => { options.start = value; loadAvailability(); }),
      dateInput("common.to", options.end, (value) => { options.end = value; loadAvailability(); }),
    );
  }

  let cache = null;
  async function loadAvailability() {
    try {
      const { specialty, ...query } = options;
      const key = JSON.stringify(query);
      if (!cache || cache.key !== key) cache = { key, body: await get(`/runs/${run.id}/doctors/availability`, query) };
      const body = cache.body;
      const s = body.series.find((item) => item.key === specialty);
      if (!s || !body.buckets.length) return showEmpty(availability, t("common.empty.range"));
      const x = body.buckets.map((b) => wallClock(b, run.timezone));
      const rows = body.buckets.map((bucket, i) => ({ bucket, specialty, doctors_on_duty: s.doctors_on_duty[i], doctors_busy: s.doctors_busy[i], waiting: s.waiting[i] }));
      await draw(availability, [
        { type: "scatter", mode: "lines", line: { shape: "hv", width: 2 }, name: t("doctors.on_duty"), x, y: s.doctors_on_duty, hovertemplate: "%{y:.2f}<extra>%{fullData.name}</extra>" },
        { type: "scatter", mode: "lines", fill: "tozeroy", line: { shape: "hv", width: 1 }, name: t("doctors.busy"), x, y: s.doctors_busy, hovertemplate: "%{y:.2f}<extra>%{fullData.name}</extra>" },
        { type: "scatter", mode: "lines", line: { dash: "dot" }, name: t("now.waiting"), x, y: s.waiting, hovertemplate: "%{y:.2f}<extra>%{fullData.name}</extra>" },
      ], { xaxis: { type: "date", title: { text: t("axis.local_time", { tz: run.timezone }) } }, yaxis: { rangemode: "tozero", title: { text: t("doctors.axis.count") } } }, rows);
    } catch (error) {
      showError(availability, error);
    }
  }

  async function loadHourOfWeek() {
    try {
      const body = await get(`/runs/${run.id}/doctors/hour-of-week`, fullRange(run));
      if (!body.series.length) return showEmpty(heatmap, t("common.empty.run"));
      const hours = [...Array(168).keys()];
      const labels = hours.map((h) => `${t(`weekday.${Math.floor(h / 24)}`)} ${String(h % 24).padStart(2, "0")}h`);
      const rows = [];
      const short = [];
      for (const s of body.series) {
        s.utilisation.forEach((u, h) => {
          rows.push({ specialty: s.key, hour_of_week: h, utilisation: u });
          if (u !== null && u >= SHORT) short.push({ specialty: s.key, hour: h, utilisation: u });
        });
      }
      await draw(heatmap, [{
        type: "heatmap", z: body.series.map((s) => s.utilisation), x: labels, y: body.series.map((s) => nameOf(s.key)),
        zmin: 0, zmax: 1, colorscale: "Viridis", hovertemplate: "%{y}, %{x}: %{z:.0%}<extra></extra>",
        colorbar: { title: { text: t("now.utilisation"), side: "right" }, tickformat: ".0%" },
      }], { yaxis: { automargin: true, title: { text: t("common.specialty") } }, xaxis: { nticks: 14, title: { text: t("doctors.when") } }, hovermode: "closest", margin: { l: 150, r: 16, t: 8, b: 64 } }, rows);
      short.sort((a, b) => b.utilisation - a.utilisation);
      shortPanel.querySelector("table, p.empty")?.remove();
      if (!short.length) {
        shortPanel.append(el("p", { class: "empty", i18n: "doctors.short.none" }));
      } else {
        shortPanel.append(el("table", {}, [
          el("thead", {}, el("tr", {}, [el("th", { i18n: "common.specialty" }), el("th", { i18n: "doctors.when" }), el("th", { class: "num", i18n: "now.utilisation" })])),
          el("tbody", {}, short.slice(0, 20).map((r) => el("tr", {}, [
            el("td", { text: nameOf(r.specialty) }),
            el("td", { text: labels[r.hour] }),
            el("td", { class: "num", text: `${formatNumber(100 * r.utilisation, 0)} %` }),
          ]))),
        ]));
      }
    } catch (error) {
      showError(heatmap, error);
    }
  }

  paintControls();
  await Promise.all([loadAvailability(), loadHourOfWeek()]);
}
