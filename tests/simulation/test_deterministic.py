"""Deterministic runs: fixed treatment times give exact totals; seeds fix everything.

Also common random numbers: each random purpose has its own stream, so
changing one parameter (routing, doctors, patience) leaves the patients —
arrival times, pathologies, treatment lengths — exactly as they were.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from hospiflow.simulation.engine import Engine, simulate
from hospiflow.simulation.events import EventKind, EventRow, RunInfo, SnapshotRow, VisitRow
from hospiflow.simulation.recorder import hourly_state
from hospiflow.simulation.reports import REPORT_FILES, CsvReportSink
from hospiflow.simulation.scenario import Shift, plain_scenario


@pytest.fixture(scope="module")
def fixed_result():
    """The default hospital for 30 days with every treatment lasting exactly its mean."""
    return Engine(plain_scenario(days=30.0, treatment_distribution="fixed")).run()


def test_fixed_treatment_lasts_exactly_the_pathology_mean(fixed_result):
    """With ``fixed`` treatments, each treatment lasts its pathology's mean (to 1e-9 min)."""
    means = fixed_result.catalog.mean_treatment_minutes()[fixed_result.pathology]
    assert not np.isnan(fixed_result.start).any()
    np.testing.assert_allclose(fixed_result.treatment_minutes, means, rtol=0, atol=1e-9)


class _Trace:
    """A sink that keeps the full trace: the engine's record written as it goes."""

    wants_events = True

    def __init__(self) -> None:
        self.events: list[EventRow] = []

    def open(self, run: RunInfo) -> None:
        pass

    def write_events(self, events: Sequence[EventRow]) -> None:
        self.events.extend(events)

    def write_snapshots(self, snapshots: Sequence[SnapshotRow]) -> None:
        pass

    def write_visits(self, visits: Sequence[VisitRow]) -> None:
        pass

    def close(self, result: object) -> None:
        pass


def test_fixed_treatments_in_the_trace_total_exactly_the_sum_of_means():
    """Busy minutes per specialty between the trace's treatment starts and ends = Σ means.

    The trace is a second record, apart from the result's arrays: each
    reported patient's treatment end minus its start, summed per specialty,
    must be the pathology means of that specialty's patients.
    """
    trace = _Trace()
    result = Engine(plain_scenario(days=14.0, treatment_distribution="fixed"), [trace]).run()
    events = np.array(trace.events)
    time, kind = events[:, 0], events[:, 1].astype(int)
    patient, specialty = events[:, 2].astype(int), events[:, 4].astype(int)
    reported = patient >= 0  # warm-up patients are negative, shift events -1
    starts = reported & (kind == EventKind.TREATMENT_START)
    ends = reported & (kind == EventKind.TREATMENT_END)
    assert starts.sum() == ends.sum() == result.n_patients
    started_at = dict(zip(patient[starts].tolist(), time[starts].tolist(), strict=True))
    n = len(result.catalog.specialties)
    busy = np.zeros(n)
    for end, p, s in zip(time[ends], patient[ends], specialty[ends], strict=True):
        busy[s] += end - started_at[int(p)]
    means = result.catalog.mean_treatment_minutes()[result.pathology]
    expected = np.bincount(result.specialty, weights=means, minlength=n)
    assert (expected > 0).all()
    np.testing.assert_allclose(busy, expected, rtol=1e-9)


def test_fixed_treatments_without_queue_give_exact_departures(around_the_clock):
    """Fixed treatments and plenty of doctors: everyone leaves at arrival + mean, exactly.

    The time-averaged number in treatment over the reported hours is then
    Σ (time each treatment overlaps the reported period) / its length.
    """
    doctors = {s: 50 for s in plain_scenario().doctors_per_specialty()}
    scenario = around_the_clock(doctors, days=10.0, treatment_distribution="fixed")
    result = Engine(scenario).run()
    means = result.catalog.mean_treatment_minutes()[result.pathology]
    assert np.all(result.wait == 0.0)
    np.testing.assert_allclose(result.end, result.arrival + means, rtol=0, atol=1e-9)
    hourly = hourly_state(result)
    horizon = 60.0 * hourly.in_treatment.shape[0]
    # reported patients' busy minutes inside [0, horizon) plus warm-up patients' spill-over
    state_busy = np.clip(
        np.minimum(result.state_end, horizon) - np.maximum(result.state_start, 0), 0, None
    )
    assert 60.0 * hourly.in_treatment.sum() == pytest.approx(float(state_busy.sum()), rel=1e-9)


def test_same_seed_gives_byte_identical_reports(tmp_path):
    """Two runs with the same seed write the five reports byte for byte the same."""
    scenario = plain_scenario(days=21.0, abandonment=True, mean_patience_minutes=90.0)
    for name in ("a", "b"):
        simulate(scenario, [CsvReportSink(tmp_path / name)])
    for report in REPORT_FILES:
        first = (tmp_path / "a" / report).read_bytes()
        assert first == (tmp_path / "b" / report).read_bytes(), report
        assert first.count(b"\n") > 1, report


def test_different_seeds_give_different_patients():
    """Seeds 1 and 2 give different arrivals, pathologies and waits."""
    one = Engine(plain_scenario(days=7.0, seed=1)).run()
    two = Engine(plain_scenario(days=7.0, seed=2)).run()
    n = min(one.n_patients, two.n_patients)
    assert not np.array_equal(one.arrival[:n], two.arrival[:n])
    assert not np.array_equal(one.pathology[:n], two.pathology[:n])
    assert np.nanmean(one.wait) != np.nanmean(two.wait)


def test_explicit_seed_sequence_overrides_the_scenario_seed():
    """``Engine(seed=SeedSequence(...))`` is repeatable and differs from the scenario's seed."""
    scenario = plain_scenario(days=7.0)
    a = Engine(scenario, seed=np.random.SeedSequence(99)).run()
    b = Engine(scenario, seed=np.random.SeedSequence(99)).run()
    c = Engine(scenario).run()
    np.testing.assert_array_equal(a.arrival, b.arrival)
    assert a.n_patients != c.n_patients or not np.array_equal(a.arrival, c.arrival)


def _same_patients(a, b) -> None:
    np.testing.assert_array_equal(a.arrival, b.arrival)
    np.testing.assert_array_equal(a.pathology, b.pathology)
    both = ~np.isnan(a.start) & ~np.isnan(b.start)
    np.testing.assert_allclose(a.treatment_minutes[both], b.treatment_minutes[both], atol=1e-9)


@pytest.mark.parametrize(
    "change",
    [
        {"routing": "random"},
        {"routing": "shortest-queue"},
        {"abandonment": True, "mean_patience_minutes": 30.0},
        {"shifts": plain_scenario().shifts + (Shift("cardiology", "00:00", "00:00", 3),)},
        {"snapshot_step_minutes": 1.0},
    ],
    ids=["random", "shortest-queue", "abandonment", "more-doctors", "snapshot-step"],
)
def test_changing_one_parameter_keeps_the_same_patients(month_scenario, month_result, change):
    """Common random numbers: routing, staffing or patience changes keep arrivals and durations."""
    other = Engine(month_scenario.replace(**change)).run()
    _same_patients(month_result, other)


def test_changing_staffing_changes_only_the_queue(month_scenario, month_result):
    """More cardiologists: same cardiology patients, shorter cardiology waits."""
    extra = month_scenario.shifts + (Shift("cardiology", "00:00", "00:00", 3),)
    other = Engine(month_scenario.replace(shifts=extra)).run()
    cardiology = month_result.specialty == month_result.run.specialties.index("cardiology")
    assert np.nanmean(other.wait[cardiology]) < np.nanmean(month_result.wait[cardiology])
    rest = ~cardiology
    np.testing.assert_array_equal(other.wait[rest], month_result.wait[rest])


def test_a_longer_run_starts_with_the_same_patients():
    """The same seed gives the same first days whatever the run length (streams per chunk)."""
    short = Engine(plain_scenario(days=10.0)).run()
    long = Engine(plain_scenario(days=20.0)).run()
    first = long.arrival < 10 * 1440
    np.testing.assert_array_equal(short.arrival, long.arrival[first])
    np.testing.assert_array_equal(short.pathology, long.pathology[first])
