"""StoreSink: runs written whole, bad input refused, committed batches kept."""

from __future__ import annotations

import gc
import math
import threading

import numpy as np
import pytest
import sqlalchemy as sa

from hospiflow.errors import SinkError
from hospiflow.simulation.engine import simulate
from hospiflow.simulation.events import Event, EventKind, Snapshot
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import queries, rollups, schema
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
    """A simulated fortnight lands whole; daily rollups equal the simulator's own counts.

    The store holds finished visits: a patient of the default (flow) hospital still
    boarding when the run's drain ends is not one of them.
    """
    scenario = default_scenario(days=14, seed=11)
    sink = StoreSink(engine, catalog, batch_size=5_000)
    result = simulate(scenario, sinks=[sink])
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "complete"
    assert result.flow is not None
    gone = result.flow.disposition > 0
    assert run["visits_count"] == int(gone.sum()) >= result.n_patients - 5
    assert run["treatments_count"] == int(np.isfinite(result.start[gone]).sum())
    with engine.connect() as connection:
        d = schema.daily_pathology
        stored = connection.execute(
            sa.select(d.c.pathology_idx, sa.func.sum(d.c.arrivals), sa.func.sum(d.c.wait_sum_min))
            .where(d.c.run_id == sink.run_id)
            .group_by(d.c.pathology_idx)
            .order_by(d.c.pathology_idx)
        ).all()
    # rollups count arrivals and treatment starts from the events: every patient
    counts = np.bincount(result.pathology, minlength=len(catalog.pathologies))
    waits = np.bincount(result.pathology, weights=np.nan_to_num(result.wait), minlength=len(counts))
    for idx, arrivals, wait_sum in stored:
        assert arrivals == counts[idx]
        assert wait_sum == pytest.approx(waits[idx], rel=1e-12, abs=1e-9)


def _refuse_visits(monkeypatch):
    """Make the database refuse any batch holding visits (a NOT NULL violation)."""
    real_insert = sink_module.insert_rows

    def failing_insert(connection, table, columns, rows):
        if table == "visits":
            connection.exec_driver_sql("INSERT INTO runs (id) VALUES (NULL)")
        real_insert(connection, table, columns, rows)

    monkeypatch.setattr(sink_module, "insert_rows", failing_insert)
    return real_insert


def test_writer_error_comes_back_at_the_next_write_and_the_run_fails(
    engine, catalog, monkeypatch, small_run, hand_records
):
    """A batch refused in the writer thread is raised by the next write_*; close(result) fails."""
    events, snapshots, visits = hand_records(6)
    sink = StoreSink(engine, catalog, batch_size=1)
    sink.open(small_run(catalog))
    sink.write_events(events[:3])
    _refuse_visits(monkeypatch)
    sink.write_visits(visits)  # handed over; refused in the writer thread
    sink._writer.wait()
    with pytest.raises(SinkError, match="rolled back"):
        sink.write_snapshots(snapshots)
    sink.write_events(events[3:])  # the sink goes on, as before
    with pytest.raises(SinkError, match="cannot be complete"):
        sink.close(object())
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "failed" and "refused a batch" in run["error"]
    assert run["events_count"] == 6 == _count(engine, schema.events, sink.run_id)
    assert run["visits_count"] == 0 == _count(engine, schema.visits, sink.run_id)


def test_close_raises_a_refusal_not_yet_reported(
    engine, catalog, monkeypatch, small_run, hand_records
):
    """An error still in the writer when close(result) is called is raised there, run failed."""
    events, _, visits = hand_records(6)
    sink = StoreSink(engine, catalog, batch_size=1)
    sink.open(small_run(catalog))
    sink.write_events(events)
    _refuse_visits(monkeypatch)
    sink.write_visits(visits)
    with pytest.raises(SinkError, match="rolled back"):
        sink.close(object())
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "failed" and run["events_count"] == 6


def test_close_without_result_records_the_writer_error(
    engine, catalog, monkeypatch, small_run, hand_records
):
    """close(None), the failure path, does not raise over the caller but keeps the error."""
    events, _, visits = hand_records(6)
    sink = StoreSink(engine, catalog, batch_size=1)
    sink.open(small_run(catalog))
    sink.write_events(events)
    _refuse_visits(monkeypatch)
    sink.write_visits(visits)
    sink.close(None)
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "failed" and "rolled back" in run["error"]
    assert run["events_count"] == 6


def test_a_refused_last_transaction_leaves_the_run_failed(
    engine, catalog, monkeypatch, small_run, hand_records
):
    """If the rollups + status transaction is refused, close raises and the run is failed."""
    events, snapshots, visits = hand_records(6)
    sink = StoreSink(engine, catalog)
    sink.open(small_run(catalog))
    sink.write_events(events)
    sink.write_snapshots(snapshots)
    sink.write_visits(visits)

    def broken(run_id, result):
        return lambda connection: connection.exec_driver_sql("INSERT INTO runs (id) VALUES (NULL)")

    monkeypatch.setattr(rollups, "prepare", broken)
    with pytest.raises(SinkError, match="rolled back"):
        sink.close(object())
    run = _run_row(engine, sink.run_id)
    assert run["status"] == "failed"
    assert run["events_count"] == 6 and run["visits_count"] == 6


def test_flush_returns_once_everything_is_committed(engine, catalog, small_run, hand_records):
    """After flush() another connection sees every row; progress runs in the caller's thread."""
    events, snapshots, visits = hand_records(30)
    seen: list[tuple[int, str]] = []
    sink = StoreSink(
        engine,
        catalog,
        batch_size=1,
        progress=lambda rows: seen.append((rows, threading.current_thread().name)),
    )
    sink.open(small_run(catalog))
    thread = sink._writer.thread
    for k in range(0, 30, 3):
        sink.write_events(events[k : k + 3])
        sink.write_visits(visits[k : k + 3])
        sink.flush()
        assert _count(engine, schema.events, sink.run_id) == k + 3
        assert _count(engine, schema.visits, sink.run_id) == k + 3
    sink.write_snapshots(snapshots)
    sink.close(object())
    assert not thread.is_alive()
    assert _run_row(engine, sink.run_id)["status"] == "complete"
    assert seen and {name for _, name in seen} == {threading.current_thread().name}
    assert [rows for rows, _ in seen] == sorted(rows for rows, _ in seen)
    assert seen[-1][0] == 30 + 30 + 20 + 24  # events, visits, treatments, snapshots


def test_a_sink_dropped_without_close_stops_its_thread(engine, catalog, small_run):
    """The writer holds its sink weakly: a forgotten sink does not keep a thread alive."""
    sink = StoreSink(engine, catalog)
    sink.open(small_run(catalog))
    run_id, thread = sink.run_id, sink._writer.thread
    del sink
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
    assert _run_row(engine, run_id)["status"] == "running"  # like a crashed writer
