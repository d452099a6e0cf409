"""Functionality of the engine: repeatable runs, shifts, abandonment, sinks, piecewise runs."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from hospiflow.simulation.engine import Engine, simulate
from hospiflow.simulation.events import Event, EventKind, Snapshot, Visit
from hospiflow.simulation.recorder import hourly_state, kpis
from hospiflow.simulation.replications import run_replications
from hospiflow.simulation.scenario import WEEKDAYS, Shift, plain_scenario

ARRAYS = ("pathology", "specialty", "doctor", "arrival", "start", "end", "left")
DUTY = ("duty_doctor", "duty_start", "duty_end")
OFFICE_DOCTORS = 9


def _assert_same_result(a, b) -> None:
    for name in ARRAYS + DUTY:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_single_run_is_repeatable(month_scenario, month_result):
    """Running the same scenario twice gives identical patients, treatments and duty periods."""
    _assert_same_result(month_result, Engine(month_scenario).run())


def test_multiple_runs_are_repeatable_and_independent():
    """Replications are repeatable (same indices, same KPIs) and differ from each other."""
    scenario = plain_scenario(days=14.0)
    first = run_replications(scenario, range(3), workers=1)
    again = run_replications(scenario, range(3), workers=1)
    assert first == again
    waits = [{(m, s): v for m, s, v, _ in rep}[("wait_mean", "all")] for rep in first]
    assert len(set(waits)) == 3


def test_replications_in_a_process_pool_match_serial_ones():
    """Two worker processes give exactly the KPIs of the serial loop, in index order."""
    scenario = plain_scenario(days=7.0)
    serial = run_replications(scenario, range(1, 4), workers=1)
    pooled = run_replications(scenario, range(1, 4), workers=2)
    assert pooled == serial


def test_replication_zero_is_the_scenario_run(month_scenario, month_result):
    """Replication 0 uses the scenario's own seed: its KPIs are those of the plain run."""
    [zero] = run_replications(month_scenario, range(1), workers=1)
    assert zero == kpis(month_result)


def test_every_patient_is_treated_or_left_and_counts_add_up(impatient_result):
    """Hourly arrivals sum to treated + left without being seen; nobody is both."""
    result = impatient_result
    treated = ~np.isnan(result.start)
    left = ~np.isnan(result.left)
    assert not np.any(treated & left)
    assert np.all(treated | left)  # the drain leaves nobody behind in this scenario
    hourly = hourly_state(result)
    assert hourly.arrivals.sum() == result.n_patients == treated.sum() + left.sum()
    assert hourly.left_without_being_seen.sum() == left.sum()


def test_short_patience_produces_left_without_being_seen(impatient_result):
    """Abandonment with 20-minute patience: many leave unseen, and only while waiting."""
    result = impatient_result
    left = ~np.isnan(result.left)
    assert left.sum() > 100
    assert np.all(result.left[left] > result.arrival[left])
    assert np.all(np.isnan(result.start[left]))
    assert np.all(result.doctor[left] == -1)
    values = {(m, s): v for m, s, v, _ in kpis(result)}
    assert values[("lwbs_rate", "all")] == pytest.approx(left.mean())


def test_abandonment_off_means_nobody_leaves(month_result):
    """Without abandonment nobody leaves unseen, however long the wait."""
    assert np.isnan(month_result.left).all()


def test_doctors_treat_one_patient_at_a_time_of_their_specialty(month_result):
    """No doctor's treatments overlap and each doctor treats only their specialty."""
    result = month_result
    treated = ~np.isnan(result.start)
    for d in np.unique(result.doctor[treated]):
        mine = treated & (result.doctor == d)
        order = np.argsort(result.start[mine])
        starts, ends = result.start[mine][order], result.end[mine][order]
        assert np.all(starts[1:] >= ends[:-1])
        assert np.all(result.specialty[mine] == result.doctor_specialty[d])


def test_pooled_queue_is_first_come_first_served(month_result):
    """In a pooled specialty queue, patients start treatment in arrival order."""
    result = month_result
    for s in range(len(result.run.specialties)):
        mine = result.specialty == s
        assert np.all(np.diff(result.start[mine]) >= 0)  # arrays are in arrival order


@pytest.fixture(scope="module")
def daytime_cardiology():
    """Cardiology staffed only 08:00–16:00 on weekdays (Paris), from a Monday, for 4 weeks.

    Nine cardiologists: the office hours then absorb the whole week's patients.
    """
    base = plain_scenario()
    shifts = tuple(s for s in base.shifts if s.specialty != "cardiology") + (
        Shift("cardiology", "08:00", "16:00", OFFICE_DOCTORS, days=WEEKDAYS[:5], label="office"),
    )
    scenario = base.replace(shifts=shifts, start_date=date(2025, 3, 17), days=28.0)
    return scenario, Engine(scenario).run()


def _local(result, minutes: np.ndarray) -> pd.DatetimeIndex:
    start = pd.Timestamp(result.run.start_utc)
    return (start + pd.to_timedelta(minutes, unit="min")).tz_convert(result.run.timezone)


def test_no_treatment_starts_while_no_doctor_of_the_specialty_is_on_duty(daytime_cardiology):
    """Cardiology treatments start only on weekdays between 08:00 and 16:00 local time."""
    _, result = daytime_cardiology
    cardiology = result.specialty == result.run.specialties.index("cardiology")
    assert not np.isnan(result.start[cardiology]).any()  # the queue empties every week
    starts = _local(result, result.start[cardiology])
    assert len(starts) > 100
    assert np.all(starts.day_of_week < 5)
    assert np.all((starts.hour >= 8) & (starts.hour < 16))
    # and they did arrive around the clock, queueing overnight and over the weekend
    arrivals = _local(result, result.arrival[cardiology])
    assert np.any(arrivals.hour < 8) and np.any(arrivals.day_of_week >= 5)


def test_every_treatment_starts_while_its_doctor_is_on_duty(month_result):
    """Each treatment's start lies in one of its doctor's duty periods."""
    result = month_result
    treated = np.flatnonzero(~np.isnan(result.start))
    for i in treated[::7]:
        d = result.doctor[i]
        mine = result.duty_doctor == d
        inside = (result.duty_start[mine] <= result.start[i]) & (
            result.start[i] < result.duty_end[mine]
        )
        assert inside.any(), i


def test_a_doctor_on_duty_at_shift_end_finishes_the_patient(daytime_cardiology):
    """A treatment running at 16:00 goes on to its end; the doctor's duty ends with it."""
    _, result = daytime_cardiology
    cardiology = np.flatnonzero(result.specialty == result.run.specialties.index("cardiology"))
    starts = _local(result, result.start[cardiology])
    ends = _local(result, result.end[cardiology])
    overtime = cardiology[
        (starts.hour < 16) & ((ends.hour >= 16) | (ends.normalize() > starts.normalize()))
    ]
    assert len(overtime) > 5
    for i in overtime:
        d = result.doctor[i]
        mine = result.duty_doctor == d
        # the duty period holding this treatment ends exactly when the treatment does
        holding = mine & (result.duty_start <= result.start[i]) & (result.duty_end >= result.end[i])
        assert holding.sum() == 1
        assert result.duty_end[holding][0] == result.end[i]


def test_doctors_are_on_duty_only_on_their_shifts(daytime_cardiology):
    """Cardiology duty periods start at 08:00 on weekdays and end at 16:00 or later that day."""
    _, result = daytime_cardiology
    cardiology = np.flatnonzero(
        result.doctor_specialty == result.run.specialties.index("cardiology")
    )
    reported = (result.duty_start >= 0) & (result.duty_start < result.calendar.horizon_minute)
    periods = np.isin(result.duty_doctor, cardiology) & reported
    starts = _local(result, result.duty_start[periods])
    assert len(starts) == OFFICE_DOCTORS * 20  # 20 weekdays in 4 weeks
    assert set(starts.hour) == {8} and set(starts.minute) == {0}
    assert np.all(starts.day_of_week < 5)
    # each period ends at 16:00, or when the treatment running at 16:00 ends
    # (from the second week: in the first, warm-up patients, not reported, are treated too)
    for k in np.flatnonzero(periods & (result.duty_start >= 7 * 1440.0)):
        d, begin, end = result.duty_doctor[k], result.duty_start[k], result.duty_end[k]
        treated_then = (result.doctor == d) & (result.start >= begin) & (result.start < end)
        last_end = np.max(result.end[treated_then], initial=begin)
        assert end == max(begin + 8 * 60.0, last_end)


def test_advance_in_pieces_equals_one_run(month_scenario, month_result):
    """``advance_to`` in uneven pieces, then ``run``, gives exactly the one-shot result."""
    engine = Engine(month_scenario)
    for until in np.arange(-7 * 1440.0, 33 * 1440.0, 997.3):
        engine.advance_to(float(until))
        assert engine.now <= until or engine.now == pytest.approx(until)
    _assert_same_result(month_result, engine.run())


class RecordingSink:
    """A sink that keeps everything it is given (the protocol of ``events.Sink``)."""

    wants_events = True

    def __init__(self) -> None:
        self.opened = 0
        self.closed: list[object] = []
        self.events: list = []
        self.snapshots: list = []
        self.visits: list = []

    def open(self, run) -> None:
        self.opened += 1
        self.run = run

    def write_events(self, events) -> None:
        self.events.extend(events)

    def write_snapshots(self, snapshots) -> None:
        self.snapshots.extend(snapshots)

    def write_visits(self, visits) -> None:
        self.visits.extend(visits)

    def close(self, result) -> None:
        self.closed.append(result)


def test_sinks_receive_a_consistent_ordered_trace(impatient_scenario):
    """A sink gets open once, every event in time order, one visit per patient, close once."""
    sink = RecordingSink()
    result = simulate(impatient_scenario.replace(days=7.0), [sink])
    assert sink.opened == 1 and sink.closed == [result]
    events = [Event(*e) for e in sink.events]
    times = np.array([e.time_min for e in events])
    assert np.all(np.diff(times) >= 0)
    kinds = np.array([e.kind for e in events])
    treated = ~np.isnan(result.start)
    left = ~np.isnan(result.left)
    assert (kinds == EventKind.ARRIVAL).sum() == result.n_patients
    assert (kinds == EventKind.TREATMENT_START).sum() == treated.sum()
    assert (kinds == EventKind.TREATMENT_END).sum() == treated.sum()
    assert (kinds == EventKind.ABANDONMENT).sum() == left.sum()
    assert (kinds == EventKind.DEPARTURE).sum() == result.n_patients
    visits = [Visit(*v) for v in sink.visits]
    assert len(visits) == result.n_patients
    assert sorted(v.patient for v in visits) == list(range(result.n_patients))


def test_snapshots_sample_the_state_every_step(impatient_scenario):
    """Snapshots come every step of the reported period, one per specialty, busy ≤ on duty."""
    sink = RecordingSink()
    scenario = impatient_scenario.replace(days=2.0, snapshot_step_minutes=15.0)
    result = simulate(scenario, [sink])
    n_spec = len(result.run.specialties)
    snapshots = [Snapshot(*s) for s in sink.snapshots]
    assert len(snapshots) == 2 * 24 * 4 * n_spec
    times = sorted({s.time_min for s in snapshots})
    assert times == [15.0 * k for k in range(2 * 24 * 4)]
    for snap in snapshots:
        assert 0 <= snap.doctors_busy <= snap.doctors_on_duty
        assert snap.waiting >= 0


class FailingSink(RecordingSink):
    """A sink whose writes fail, to see the others closed with ``None``."""

    def write_snapshots(self, snapshots) -> None:
        raise OSError("disk full")


def test_a_failing_sink_stops_the_run_and_every_sink_is_closed_with_none():
    """When a sink raises, the error propagates and every sink is closed with ``None``."""
    good, bad = RecordingSink(), FailingSink()
    with pytest.raises(OSError, match="disk full"):
        simulate(plain_scenario(days=3.0), [good, bad])
    assert good.closed == [None] and bad.closed == [None]
