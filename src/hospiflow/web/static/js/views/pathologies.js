// "Pathologies": the case mix (counts, shares, ICD-10 codes), seasonal profiles and
// treatment times (the catalog's mean beside the one observed).

import { get } from "../api.js";
import { draw, panel, showEmpty, showError } from "../charts.js";
import { formatNumber, t } from "../i18n.js";
import { catalogOf, el, fullRange, isObserved, noRun, recentRange, viewHeader } from "./common.js";

const OBSERVED_DAYS = 90; // treatment times observed over the last 90 days of data

export async function render(container, state) {
  const run = state.run;
  if (!run) return noRun(container);
  const catalog = await catalogOf(run.id);
  container.append(viewHeader("pathologies.title", run));
  const grid = el("div", { class: "grid" });
  container.append(grid);
  const mix = panel(grid, "pathologies.mix");
  const tablePanel = el("section", { class: "panel" }, [el("h3", { i18n: "pathologies.table" })]);
  container.append(tablePanel);
  const range = fullRange(run);
  try {
    // treatment times are a complement: the case mix is shown even if they cannot be had
    const [arrivals, waits] = await Promise.all([
      get(`/runs/${run.id}/arrivals`, { bucket: "month", by: "pathology", ...range }),
      get(`/runs/${run.id}/waits`, { by: "pathology", ...recentRange(run, OBSERVED_DAYS) }).catch((error) => {
        if (error.status === 401) throw error;
        return { series: [], error };
      }),
    ]);
    const totals = new Map(arrivals.series.map((s) => [s.key, s.total]));
    const observed = new Map(waits.series.map((s) => [s.key, s]));
    const grand = arrivals.total || 0;
    const classified = arrivals.series.reduce((sum, s) => sum + (s.total || 0), 0);
    const rows = catalog.pathologies
      .map((p) => {
        const count = totals.get(p.code) || 0;
        const w = observed.get(p.code);
        const treatment = w && w.los_mean_min[0] !== null && w.wait_mean_min[0] !== null ? w.los_mean_min[0] - w.wait_mean_min[0] : null;
        return { code: p.code, icd10: p.icd10, name: catalog.name(p.code), specialty: p.specialty, patients: count, share: grand ? count / grand : null, mean_treatment_catalog_min: p.mean_treatment_min, mean_treatment_observed_min: treatment };
      })
      .sort((a, b) => b.patients - a.patients);
    if (!grand) showEmpty(mix, t("common.empty.run"));
    else {
      await draw(mix, [{
        type: "bar", orientation: "h", y: rows.map((r) => `${r.name} (${r.icd10})`), x: rows.map((r) => r.patients),
        customdata: rows.map((r) => 100 * r.share), hovertemplate: "%{y}: %{x} (%{customdata:.1f} %)<extra></extra>",
      }], {
        height: 180 + 20 * rows.length, hovermode: "closest", margin: { l: 240, r: 16, t: 8, b: 56 },
        xaxis: { title: { text: t("pathologies.axis.patients") }, rangemode: "tozero" },
        yaxis: { automargin: true, autorange: "reversed", title: { text: t("axis.pathology") } },
      }, rows);
    }
    // visits whose diagnosis maps to no pathology (a site's data) count in no series
    const visits = isObserved(run) ? Math.max(grand, run.counts?.visits ?? 0) : grand;
    if (visits > classified) {
      const missing = visits - classified;
      mix.section.append(el("p", { class: "muted", "data-unclassified": missing, text: t("pathologies.unclassified", { count: formatNumber(missing), share: formatNumber(100 * missing / visits, 1) }) }));
    }
    if (waits.error) {
      tablePanel.append(el("p", { class: "muted", text: t("pathologies.no_treatment_times", { message: waits.error.message }) }));
    }
    const body = el("tbody", {}, rows.map((r) => el("tr", { "data-pathology": r.code }, [
      el("td", { text: r.code }),
      el("td", { text: r.icd10 }),
      el("td", { text: r.name }),
      el("td", { text: catalog.name(r.specialty) }),
      el("td", { class: "num", text: formatNumber(r.patients) }),
      el("td", { class: "num", text: r.share === null ? "–" : `${formatNumber(100 * r.share, 1)} %` }),
      el("td", { class: "num", text: formatNumber(r.mean_treatment_catalog_min, 0) }),
      el("td", { class: "num", text: formatNumber(r.mean_treatment_observed_min, 1) }),
    ])));
    tablePanel.append(el("table", {}, [
      el("thead", {}, el("tr", {}, [
        el("th", { i18n: "pathologies.code" }), el("th", { i18n: "pathologies.icd10" }), el("th", { i18n: "pathologies.name" }),
        el("th", { i18n: "common.specialty" }), el("th", { class: "num", i18n: "pathologies.count" }), el("th", { class: "num", i18n: "pathologies.share" }),
        el("th", { class: "num", i18n: "pathologies.catalog_treatment" }), el("th", { class: "num", i18n: "pathologies.mean_treatment" }),
      ])),
      body,
    ]));
  } catch (error) {
    showError(mix, error);
  }
}
