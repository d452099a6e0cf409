"""StoreSink: runs written whole, bad input refused, committed batches kept."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sqlalchemy as sa

from hospiflow.errors import SinkError
from hospiflow.simulation.engine import simulate
from hospiflow.simulation.events import Event, EventKind, Snapshot
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import queries, schema
from hospiflow.store import sink as sink_module
from hospiflow.store.sink import StoreSink


def _run_row(engine, run_id):
    with engine.connect() as connection:
        return queries.run(connection, run_id)


def _count(engine, table, run_id):
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.run_id == run_id)
        ).scalar_one()


def test_hand_made_run_is_stored_complete(engine, catalog, small_run, hand_records):
    """Every record lands, -1/NaN become NULL, treatments are derived, status ends complete."""
    events, snapshots, visits = hand_records(10)
    sink = StoreSink(engine, catalog, batch_size=4)
    sink.open(small_run(catalog))
    assert _run_row(engine, sink.run_id)["status"] == "running"
    sink.write_events(events)
    sink.write_snapshots(snapshots)
    sink.write_visits(visits)
    sink.close(object())
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "complete"
    assert (run["events_count"], run["snapshots_count"]) == (10, 24)
    assert (run["visits_count"], run["treatments_count"]) == (10, 7)
    assert _count(engine, schema.treatments, sink.run_id) == 7
    with engine.connect() as connection:
        lwbs = connection.execute(
            sa.select(schema.visits).where(schema.visits.c.patient_no == 2)
        ).one()
        assert lwbs.wait_min is None and lwbs.disposition == 4 and lwbs.los_min == 7.0
        assert lwbs.icd10 == catalog.pathologies[0].icd10
        assert not lwbs.pseudonym.isdigit()
        event = connection.execute(sa.select(schema.events).order_by(schema.events.c.id)).first()
        assert event.doctor_idx is None
        assert event.time_ms == run["start_utc_ms"] + 90_000


def test_close_without_result_marks_the_run_failed(engine, catalog, small_run, hand_records):
    """close(None) keeps what was written and marks the run failed, never complete."""
    events, _, _ = hand_records(5)
    sink = StoreSink(engine, catalog)
    sink.open(small_run(catalog))
    sink.write_events(events)
    sink.close(None)
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "failed" and run["events_count"] == 5


def test_time_going_backwards_is_refused_and_committed_rows_kept(
    engine, catalog, small_run, hand_records
):
    """An out-of-order event batch raises SinkError; earlier committed batches stay."""
    events, _, _ = hand_records(6)
    sink = StoreSink(engine, catalog, batch_size=1)
    sink.open(small_run(catalog))
    sink.write_events(events[:4])
    with pytest.raises(SinkError, match="time goes backwards"):
        sink.write_events([Event(0.5, int(EventKind.ARRIVAL), 9, 0, 0, -1)])
    with pytest.raises(SinkError, match="time goes backwards"):
        sink.write_events([events[4], Event(1.0, int(EventKind.ARRIVAL), 9, 0, 0, -1)])
    sink.close(None)
    assert _count(engine, schema.events, sink.run_id) == 4
    assert _run_row(engine, sink.run_id)["status"] == "failed"


@pytest.mark.parametrize(
    "record, message",
    [
        (Event(5.0, int(EventKind.ARRIVAL), 1, 0, 99, -1), "unknown specialty index 99"),
        (Event(5.0, int(EventKind.ARRIVAL), 1, 77, 0, -1), "unknown pathology index 77"),
        (Event(5.0, 42, 1, 0, 0, -1), "unknown kind 42"),
        (Event(math.nan, int(EventKind.ARRIVAL), 1, 0, 0, -1), "has time nan"),
    ],
)
def test_unknown_indices_are_refused(engine, catalog, small_run, record, message):
    """Events naming a specialty, pathology or kind the run lacks are refused with SinkError."""
    sink = StoreSink(engine, catalog)
    sink.open(small_run(catalog))
    with pytest.raises(SinkError, match=message):
        sink.write_events([record])
    with pytest.raises(SinkError, match="unknown specialty"):
        sink.write_snapshots([Snapshot(0.0, 8, 0, 0, 0, 0)])
    sink.close(None)
    assert _count(engine, schema.events, sink.run_id) == 0


def test_database_error_rolls_back_the_whole_batch(
    engine, catalog, monkeypatch, small_run, hand_records
):
    """A batch the database refuses midway is rolled back entirely; earlier batches stay."""
    events, snapshots, visits = hand_records(6)
    sink = StoreSink(engine, catalog, batch_size=1_000)
    sink.open(small_run(catalog))
    sink.write_events(events[:3])
    sink.flush()
    real_insert = sink_module.insert_rows

    def failing_insert(connection, table, columns, rows):
        if table == "visits":
            connection.exec_driver_sql("INSERT INTO runs (id) VALUES (NULL)")  # NOT NULL fails
        real_insert(connection, table, columns, rows)

    monkeypatch.setattr(sink_module, "insert_rows", failing_insert)
    sink.write_events(events[3:])
    sink.write_snapshots(snapshots)
    sink.write_visits(visits)
    with pytest.raises(SinkError, match="rolled back"):
        sink.flush()
    monkeypatch.setattr(sink_module, "insert_rows", real_insert)
    sink.close(None)
    run = _run_row(engine, sink.run_id)
    assert run["events_count"] == 3 == _count(engine, schema.events, sink.run_id)
    assert _count(engine, schema.state_snapshots, sink.run_id) == 0
    assert run["status"] == "failed"


def test_catalog_missing_a_pathology_is_refused(engine, catalog, small_run):
    """A run whose pathology codes the catalog does not know is refused at open."""
    run = small_run(catalog)
    bad = type(run)(**{**run.__dict__, "pathologies": ("no_such_thing",)})
    with pytest.raises(SinkError, match="no_such_thing"):
        StoreSink(engine, catalog).open(bad)


def test_real_simulation_is_stored_and_rollups_match_it(engine, catalog):
    """A simulated fortnight lands whole; daily rollups equal the simulator's own counts."""
    scenario = default_scenario(days=14, seed=11)
    sink = StoreSink(engine, catalog, batch_size=5_000)
    result = simulate(scenario, sinks=[sink])
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "complete"
    assert run["visits_count"] == result.n_patients
    assert run["treatments_count"] == int(np.isfinite(result.start).sum())
    with engine.connect() as connection:
        d = schema.daily_pathology
        stored = connection.execute(
            sa.select(d.c.pathology_idx, sa.func.sum(d.c.arrivals), sa.func.sum(d.c.wait_sum_min))
            .where(d.c.run_id == sink.run_id)
            .group_by(d.c.pathology_idx)
            .order_by(d.c.pathology_idx)
        ).all()
    counts = np.bincount(result.pathology, minlength=len(catalog.pathologies))
    waits = np.bincount(result.pathology, weights=np.nan_to_num(result.wait), minlength=len(counts))
    for idx, arrivals, wait_sum in stored:
        assert arrivals == counts[idx]
        assert wait_sum == pytest.approx(waits[idx], rel=1e-12, abs=1e-9)
