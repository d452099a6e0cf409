"""Key figures an hour ago and usual for this hour of the week, on SQLite and PostgreSQL:
the same local wall-clock time across a daylight-saving change, and the store's answers
against a plain pass over every state sample and visit of a simulated run."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import migrate, schema, usual
from hospiflow.store.engine import create_engine_for
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR, to_ms

PARIS = ZoneInfo("Europe/Paris")


def test_previous_weeks_keep_the_local_clock_across_daylight_saving() -> None:
    """Wednesday 2 April 10:30 in Paris (summer time): a week before is 26 March 10:30
    (winter time), one hour less than 7 x 24 h earlier; weeks before the data are left out."""
    as_of = to_ms(datetime(2025, 4, 2, 10, 30, tzinfo=PARIS))
    first = to_ms(datetime(2025, 3, 18, 0, 0, tzinfo=PARIS))
    ends = usual.week_windows(as_of, "Europe/Paris", first)
    assert ends == [
        to_ms(datetime(2025, 3, 26, 10, 30, tzinfo=PARIS)),
        to_ms(datetime(2025, 3, 19, 10, 30, tzinfo=PARIS)),
    ]
    assert as_of - ends[0] == 7 * MS_PER_DAY - MS_PER_HOUR


def test_usual_and_hour_ago_agree_with_every_sample(empty_url: str) -> None:
    """Three weeks of the default hospital: the usual state and arrivals of an hour of the
    third week, and the state an hour before it, recomputed from all rows in Python."""
    migrate.init(empty_url)
    scenario = default_scenario(days=22.0, warmup_days=1.0, seed=3)
    run = simulate_run(scenario, database_url=empty_url).run_id
    assert run is not None
    engine = create_engine_for(empty_url)
    s, v = schema.state_snapshots, schema.visits
    try:
        with engine.connect() as connection:
            start, tz = connection.execute(
                sa.select(schema.runs.c.start_utc_ms, schema.runs.c.timezone).where(
                    schema.runs.c.id == run
                )
            ).one()
            samples = connection.execute(
                sa.select(s.c.time_ms, s.c.waiting, s.c.in_treatment).where(s.c.run_id == run)
            ).all()
            arrivals = [
                a
                for (a,) in connection.execute(
                    sa.select(v.c.arrival_ms).where(v.c.run_id == run, v.c.patient_no >= 0)
                )
            ]
            as_of = int(start) + 16 * MS_PER_DAY + 19 * MS_PER_HOUR
            ends = usual.week_windows(as_of, tz, int(start))
            typical = usual.usual_state(connection, [run], ends)
            typical_arrivals = usual.usual_arrivals(connection, [run], ends)
            then = usual.state_totals(connection, [run], as_of - MS_PER_HOUR + 1)
    finally:
        engine.dispose()
    assert len(ends) == 2  # 16 days in: two previous weeks
    per_time: dict[int, list[int]] = {}
    for time_ms, waiting, in_treatment in samples:
        if any(end - MS_PER_HOUR < time_ms <= end for end in ends):
            per_time.setdefault(time_ms, [0, 0])
            per_time[time_ms][0] += waiting
            per_time[time_ms][1] += in_treatment
    assert per_time and typical is not None
    assert typical["waiting"] == sum(w for w, _ in per_time.values()) / len(per_time)
    assert typical["in_treatment"] == sum(i for _, i in per_time.values()) / len(per_time)
    counted = sum(1 for a in arrivals for end in ends if end - MS_PER_HOUR < a <= end)
    assert typical_arrivals == counted / 2 and counted > 0
    newest = max(t for t, _w, _i in samples if t <= as_of - MS_PER_HOUR + 1)
    assert then is not None
    assert then["waiting"] == sum(w for t, w, _i in samples if t == newest)
