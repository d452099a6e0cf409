"""``store.trace`` (what live readers poll) and ``store.bucketed``, on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hospiflow.records import EventKind
from hospiflow.simulation.engine import simulate
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import bucketed, schema, trace
from hospiflow.store.engine import create_engine_for
from hospiflow.store.sink import StoreSink

DAY = 86_400_000


@pytest.fixture
def stored(url, catalog):
    """Three simulated days in the store, and a read-only connection."""
    sink = StoreSink(url, catalog, batch_size=5_000)
    simulate(default_scenario(days=3, seed=7), sinks=[sink])
    reader = create_engine_for(url, readonly=True)
    with reader.connect() as connection:
        yield connection, sink.run_id
    reader.dispose()


def test_the_trace_is_read_back_in_commit_order_in_pages(stored):
    """events_after walks every row once, in id order; last_event_id and data_end_ms are the
    newest row and sample; a kind filter keeps only those kinds."""
    connection, run_id = stored
    e, s = schema.events, schema.state_snapshots
    ids = connection.execute(sa.select(e.c.id).where(e.c.run_id == run_id)).scalars().all()
    assert trace.last_event_id(connection, run_id) == max(ids)
    newest = connection.execute(
        sa.select(sa.func.max(s.c.time_ms)).where(s.c.run_id == run_id)
    ).scalar()
    assert newest is not None
    assert trace.data_end_ms(connection, run_id) == newest
    seen: list[int] = []
    after = 0
    while page := trace.events_after(connection, run_id, after, limit=997):
        seen += [row[0] for row in page]
        after = page[-1][0]
    assert seen == sorted(ids)
    arrivals = trace.events_after(connection, run_id, 0, 10**6, (int(EventKind.ARRIVAL),))
    assert arrivals and {row[2] for row in arrivals} == {int(EventKind.ARRIVAL)}
    assert trace.last_event_id(connection, run_id + 1) == 0
    assert trace.data_end_ms(connection, run_id + 1) is None


def test_recent_patient_events_hold_the_window_only(stored):
    """Arrivals, treatment starts and abandonments of [start, end], oldest first."""
    connection, run_id = stored
    end = trace.data_end_ms(connection, run_id)
    assert end is not None
    rows = trace.recent_patient_events(connection, run_id, end - DAY, end)
    assert rows
    assert all(end - DAY <= row[0] <= end for row in rows)
    assert {row[1] for row in rows} <= set(trace.PATIENT_KINDS)
    assert [(row[0], row[5]) for row in rows] == sorted((row[0], row[5]) for row in rows)


def test_waits_by_day_add_up_to_the_range(stored):
    """Per-day rows add up to the one-row answer for the range; targets within the treated."""
    connection, run_id = stored
    days = bucketed.waits_by_bucket(connection, run_id, bucket="day", by="specialty")
    whole = bucketed.waits_by_bucket(connection, run_id, bucket=None, by="specialty")
    assert len(days) > len(whole) > 1
    for key in ("visits", "treated", "seen_within_target", "left_without_being_seen"):
        assert sum(r[key] for r in days) == sum(r[key] for r in whole), key
    assert all(r["seen_within_target"] <= r["treated"] <= r["visits"] for r in days)
    v = schema.visits
    count = sa.select(sa.func.count()).where(v.c.run_id == run_id, v.c.specialty_idx.is_not(None))
    assert sum(r["visits"] for r in whole) == connection.execute(count).scalar()


def test_utilisation_hour_of_week_sums_every_sample(stored):
    """Samples per hour of the week add up to the run's state samples; busy <= on duty."""
    connection, run_id = stored
    rows = bucketed.utilisation_hour_of_week(connection, run_id)
    s = schema.state_snapshots
    samples = connection.execute(sa.select(sa.func.count()).where(s.c.run_id == run_id)).scalar()
    assert sum(r["samples"] for r in rows) == samples
    assert {r["hour_of_week"] for r in rows} <= set(range(168))
    assert all(r["busy"] <= r["on_duty"] for r in rows)
