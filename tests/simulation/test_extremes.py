"""Extreme values: more doctors than ever needed, no arrivals at all, the routing ladder."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

from hospiflow.simulation.engine import Engine, simulate
from hospiflow.simulation.recorder import hourly_state, kpis
from hospiflow.simulation.reports import REPORT_FILES, CsvReportSink
from hospiflow.simulation.scenario import plain_scenario


@pytest.mark.parametrize("routing", ["pooled", "shortest-queue"])
def test_more_doctors_than_ever_needed_means_no_wait(around_the_clock, routing):
    """With 60 doctors of every specialty around the clock, every wait is exactly 0."""
    doctors = {s: 60 for s in plain_scenario().doctors_per_specialty()}
    scenario = around_the_clock(doctors, days=60.0, routing=routing)
    result = Engine(scenario).run()
    assert result.n_patients > 10_000
    assert not np.isnan(result.start).any()
    assert np.all(result.wait == 0.0)
    assert hourly_state(result).waiting.max() == 0.0


def test_more_doctors_than_needed_with_real_shifts_and_profiles_means_no_wait():
    """The default hospital's shapes with 40 doctors on every shift: nobody waits."""
    base = plain_scenario(days=30.0)
    shifts = tuple(dataclasses.replace(shift, doctors=40) for shift in base.shifts)
    result = Engine(base.replace(shifts=shifts)).run()
    assert np.all(result.wait == 0.0)


def test_no_arrivals_gives_empty_but_valid_reports(tmp_path):
    """Rate 0: the five reports exist with their headers; treatments.csv has no row."""
    scenario = plain_scenario(arrival_rate_per_hour=0.0, days=7.0)
    sink = CsvReportSink(tmp_path)
    result = simulate(scenario, [sink])
    assert result.n_patients == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPORT_FILES)
    tables = {}
    for name in REPORT_FILES:
        with (tmp_path / name).open(newline="", encoding="utf-8") as handle:
            tables[name] = list(csv.DictReader(handle))
    assert tables["treatments.csv"] == []
    assert (tmp_path / "treatments.csv").read_text(encoding="utf-8").startswith("patient_id,")
    n_specialties = len(result.run.specialties)
    hourly = tables["hourly_detail.csv"]
    assert len(hourly) == 7 * 24 * n_specialties
    assert {row["arrivals"] for row in hourly} == {"0"}
    assert {row["waiting"] for row in hourly} == {"0.0"}
    assert all(float(row["doctors_on_duty"]) > 0 for row in hourly if row["hour"][11:13] == "14")
    daily = tables["daily_pathology_stats.csv"]
    assert len(daily) == 7 * len(result.catalog.pathologies)
    assert {row["arrivals"] for row in daily} == {"0"}
    metrics = {
        (row["metric"], row["scope"]): row["value"] for row in tables["performance_metrics.csv"]
    }
    assert metrics[("arrivals", "all")] == "0.0"
    assert metrics[("treated", "all")] == "0.0"
    assert metrics[("wait_mean", "all")] == ""  # not measured: empty, never a made-up number


def test_no_arrivals_keeps_doctors_idle():
    """Rate 0: doctors are on duty, never busy; utilisation is 0 and there is no wait."""
    result = Engine(plain_scenario(arrival_rate_per_hour=0.0, days=7.0)).run()
    values = {(metric, scope): value for metric, scope, value, _ in kpis(result)}
    assert values[("utilisation", "all")] == 0.0
    assert values[("doctor_hours", "all")] > 0
    assert np.isnan(values[("wait_mean", "all")])


def test_routing_ladder_random_waits_more_than_shortest_queue_more_than_pooled():
    """On the same arrivals, mean wait: random ≥ shortest-queue ≥ pooled."""
    waits = {}
    for routing in ("random", "shortest-queue", "pooled"):
        result = Engine(plain_scenario(days=120.0, routing=routing)).run()
        waits[routing] = (float(np.nanmean(result.wait)), result)
    assert waits["random"][0] >= waits["shortest-queue"][0] >= waits["pooled"][0]
    # and clearly so: a pooled queue is the best use of the same doctors
    assert waits["random"][0] > 1.5 * waits["pooled"][0]
    pooled = waits["pooled"][1]
    for s, code in enumerate(pooled.run.specialties):
        per = {
            routing: float(np.nanmean(result.wait[result.specialty == s]))
            for routing, (_, result) in waits.items()
        }
        assert per["random"] >= per["pooled"], code


def test_patience_so_short_that_nobody_waits_long():
    """Mean patience of 1 minute: most patients who must wait leave unseen, within minutes."""
    scenario = plain_scenario(days=30.0, abandonment=True, mean_patience_minutes=1.0)
    result = Engine(scenario).run()
    left = ~np.isnan(result.left)
    treated = ~np.isnan(result.start)
    assert left.sum() > 0
    assert np.all(left ^ treated)  # everyone is either seen or gone, never both
    assert np.median(result.left[left] - result.arrival[left]) < 5.0
    assert np.nanmean(result.wait) < 5.0
