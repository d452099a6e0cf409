"""``store.now``: who waits and the last hour, from a real simulated run's stored trace,
checked against the simulator's own per-patient arrays (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import now, schema
from hospiflow.store.timeconv import MS_PER_HOUR, MS_PER_MIN, Clock


def test_waiting_patients_and_the_last_hour_match_the_simulation(url: str) -> None:
    scenario = default_scenario(days=3.0, warmup_days=1.0, seed=11)
    outcome = simulate_run(scenario, database_url=url)
    result, run_id = outcome.result, outcome.run_id
    assert run_id is not None
    run = result.run
    clock = Clock(run.start_utc, run.timezone, run.days)
    start_ms = int(clock.utc_ms(np.array([0.0]))[0])
    arrival_ms = clock.utc_ms(result.arrival)
    start = np.nan_to_num(result.start, nan=np.inf)
    left = np.nan_to_num(result.left, nan=np.inf)
    start_at = clock.utc_ms(np.where(np.isfinite(start), start, 0.0))
    left_at = clock.utc_ms(np.where(np.isfinite(left), left, 0.0))

    def waiting_at(as_of: int) -> np.ndarray:
        """The truth, from the simulator's arrays: arrived, not yet seen, not yet gone."""
        waits = (arrival_ms <= as_of) & (~np.isfinite(start) | (start_at > as_of))
        return waits & (~np.isfinite(left) | (left_at > as_of))

    # the busiest instant of days 2 and 3: a queue worth checking
    candidates = clock.utc_ms(np.arange(1500.0, 3 * 1440.0 - 60, 7.0))
    as_of = int(max(candidates, key=lambda t: int(np.count_nonzero(waiting_at(int(t))))))
    waits = waiting_at(as_of)
    n = len(run.specialties)
    truth = {int(p) for p in np.flatnonzero(waits)}
    expected = [int(np.count_nonzero(waits & (result.specialty == s))) for s in range(n)]
    assert sum(expected) >= 5  # a queue worth checking

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            waiting, _rows = now.waiting_patients(connection, run_id, start_ms, as_of, expected)
            seen = now.activity(connection, run_id, start_ms, as_of, expected, recent=4)
    finally:
        engine.dispose()
    assert set(waiting) == truth
    for s in range(n):
        mine = waits & (result.specialty == s)
        longest = (as_of - arrival_ms[mine].min()) / MS_PER_MIN if mine.any() else None
        assert seen.longest_wait_min[s] == longest
        hour = (arrival_ms > as_of - MS_PER_HOUR) & (arrival_ms <= as_of) & (result.specialty == s)
        assert seen.arrivals_last_hour[s] == int(np.count_nonzero(hour))
        began = (
            np.isfinite(start)
            & (start_at > as_of - MS_PER_HOUR)
            & (start_at <= as_of)
            & (result.specialty == s)
        )
        assert seen.treatments_started_last_hour[s] == int(np.count_nonzero(began))
        # every one of those arrived within the window read, so each wait is known
        assert seen.wait_count[s] == int(np.count_nonzero(began))
        waited = ((start_at[began] - arrival_ms[began]) / MS_PER_MIN).sum()
        assert abs(seen.wait_sum_min[s] - waited) < 1e-6
    newest = np.sort(arrival_ms[arrival_ms <= as_of])[::-1][:4]
    assert [row[0] for row in seen.recent_arrivals] == newest.tolist()


def test_usual_waiting_per_doctor_is_the_mean_of_the_same_hour_in_earlier_weeks(
    url: str,
) -> None:
    scenario = default_scenario(days=23.0, warmup_days=1.0, seed=3)
    outcome = simulate_run(scenario, database_url=url)
    run_id = outcome.run_id
    assert run_id is not None
    tz = outcome.result.run.timezone
    as_of = int(outcome.result.run.start_utc.timestamp() * 1000) + 22 * 24 * MS_PER_HOUR
    engine = sa.create_engine(url)
    s = schema.state_snapshots
    try:
        with engine.connect() as connection:
            usual = now.usual_waiting_per_doctor(connection, [run_id], as_of, tz, 8)
            rows = connection.execute(
                sa.select(s.c.time_ms, s.c.specialty_idx, s.c.waiting, s.c.doctors_on_duty).where(
                    s.c.run_id == run_id
                )
            ).all()
    finally:
        engine.dispose()
    # the same question asked another way: each sample's local weekday and hour via zoneinfo
    here = datetime.fromtimestamp(as_of / 1000, UTC).astimezone(ZoneInfo(tz))
    ratios: dict[int, list[float]] = {}
    for time_ms, specialty, waiting, doctors in rows:
        local = datetime.fromtimestamp(time_ms / 1000, UTC).astimezone(ZoneInfo(tz))
        weeks_before = (as_of - time_ms) / (7 * 24 * MS_PER_HOUR)
        if (local.weekday(), local.hour) == (here.weekday(), here.hour) and 6 / 7 < weeks_before:
            ratios.setdefault(specialty, []).append(waiting / max(doctors, 1))
    assert any(ratios.values())  # three earlier weeks hold that hour
    for specialty in range(8):
        values = ratios.get(specialty)
        if values:
            assert usual[specialty] is not None
            assert abs(usual[specialty] - sum(values) / len(values)) < 1e-9
        else:
            assert usual[specialty] is None
