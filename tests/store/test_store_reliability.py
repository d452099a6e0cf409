"""Reliability on real files and real processes: crashes, concurrency (SQLite)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

from hospiflow.simulation.engine import simulate
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import queries, runs, schema
from hospiflow.store.engine import create_engine_for, time_limit
from hospiflow.store.sink import StoreSink

WRITER = textwrap.dedent(
    """
    import sys
    from hospiflow.simulation.engine import simulate
    from hospiflow.simulation.scenario import default_scenario
    from hospiflow.store.sink import StoreSink

    scenario = default_scenario(days=365, seed=2)
    def progress(rows):
        print("committed", rows, flush=True)
    sink = StoreSink(sys.argv[1], scenario.load_catalog(), batch_size=20_000, progress=progress)
    simulate(scenario, sinks=[sink])
    print("done", flush=True)
    """
)


def _table_counts(connection, run_id):
    return {
        table.name: connection.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.run_id == run_id)
        ).scalar_one()
        for table in (schema.events, schema.visits, schema.treatments, schema.state_snapshots)
    }


def test_kill_9_mid_write_leaves_a_sound_file_and_an_unfinished_run(tmp_path):
    """After kill -9 mid-year: integrity ok, batches whole, run not complete, re-run ok."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        commits = 0
        assert writer.stdout is not None
        for line in writer.stdout:
            commits += line.startswith("committed")
            if commits >= 3:
                break
        assert commits >= 3, "the writer never committed"
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
        if writer.stdout is not None:
            writer.stdout.close()
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            (run,) = runs.list_runs(connection)
            assert run["status"] == "running"
            counts = _table_counts(connection, run["id"])
            # Row counts are updated in the same transaction as the rows: equal means whole batches.
            assert counts == {
                "events": run["events_count"],
                "visits": run["visits_count"],
                "treatments": run["treatments_count"],
                "state_snapshots": run["snapshots_count"],
            }
            assert counts["events"] > 0
        with engine.begin() as connection:
            runs.delete_run(connection, run["id"])
        scenario = default_scenario(days=7, seed=2)
        sink = StoreSink(engine, scenario.load_catalog())
        simulate(scenario, sinks=[sink])
        with engine.connect() as connection:
            assert [r["status"] for r in runs.list_runs(connection)] == ["complete"]
            assert _table_counts(connection, run["id"])["events"] == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("seconds", [10.0])
def test_one_writer_and_twenty_readers_never_lock(tmp_path, seconds):
    """A writer streaming runs while 20 readers query: no 'database is locked', reads consistent."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    scenario = default_scenario(days=60, seed=4)
    catalog = scenario.load_catalog()
    simulate(scenario, sinks=[StoreSink(url, catalog)])  # something to read from the start
    stop = time.monotonic() + seconds
    errors: list[BaseException] = []
    reads = [0] * 20
    writes = [0]

    def write() -> None:
        try:
            while time.monotonic() < stop:
                simulate(scenario, sinks=[StoreSink(url, catalog, batch_size=5_000)])
                writes[0] += 1
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def read(k: int) -> None:
        engine = create_engine_for(url, readonly=True)
        try:
            while time.monotonic() < stop:
                # a guard against a hang, not a speed check: 21 threads share two cores
                with engine.connect() as connection, time_limit(connection, 60):
                    for run in runs.list_runs(connection):
                        # One transaction: the row counts agree with the rows.
                        visits = sum(
                            r["arrivals"]
                            for r in queries.arrivals(connection, run["id"], bucket="day")
                        )
                        assert visits == run["visits_count"], (run, visits)
                        queries.kpis(connection, run["id"])
                        queries.current_state(connection, run["id"])
                    reads[k] += 1
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=read, args=(k,)) for k in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    assert not errors, errors[:3]
    assert writes[0] >= 1 and min(reads) >= 1


def test_an_interrupted_live_run_is_claimed_once_and_never_from_a_live_writer(url):
    """Both backends: the claim is a compare-and-set on status and writer."""
    from hospiflow.errors import StoreError
    from hospiflow.simulation.engine import Engine

    scenario = default_scenario(days=1.0, seed=4)
    sink = StoreSink(url, scenario.load_catalog(), kind="live", continues_run=7)
    engine = Engine(scenario, [sink])
    engine.open()
    sink.checkpoint(0.0)  # nothing buffered: the clock stays unset
    engine.abort()  # failed, but not by a crash
    writer = create_engine_for(url)
    r = schema.runs
    with writer.begin() as connection:
        assert runs.interrupted_continuation(connection, 7) is None
        connection.execute(r.update().values(status="running", error=None))
        # its writer (this process) is alive: not interrupted, not claimable
        assert runs.interrupted_continuation(connection, 7) is None
        with pytest.raises(StoreError, match="not interrupted"):
            runs.claim_interrupted(connection, sink.run_id, "other:1")
        connection.execute(r.update().values(writer="gone-host:1", heartbeat_ms=1))
        assert runs.interrupted_continuation(connection, 8) is None  # another history
        assert runs.interrupted_continuation(connection, 7)["id"] == sink.run_id
        assert runs.claim_interrupted(connection, sink.run_id, "new:2") is None
        with pytest.raises(StoreError, match="not interrupted"):  # the new writer's now
            runs.claim_interrupted(connection, sink.run_id, "new:3")
        assert runs.reap_orphans(connection) == []  # "new:2" is silent, but fresh
        row = connection.execute(sa.select(r.c.status, r.c.writer)).one()
    assert tuple(row) == ("running", "new:2")
    writer.dispose()
