"""The five CSV reports rebuilt from the store are the simulator's files, byte for byte."""

from __future__ import annotations

import csv
import datetime
import io

import pytest

from hospiflow.errors import NotFoundError, StoreError
from hospiflow.simulation.engine import simulate
from hospiflow.simulation.reports import REPORT_FILES, CsvReportSink
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import queries
from hospiflow.store.engine import create_engine_for
from hospiflow.store.reports import iter_report_csv, report_csv
from hospiflow.store.sink import StoreSink


def test_reports_from_the_store_are_byte_identical(url, catalog, tmp_path):
    """20 days across the March DST change (Paris): every file equals ``report_csv``."""
    scenario = default_scenario(days=20, seed=7).replace(start_date=datetime.date(2025, 3, 20))
    assert scenario.timezone == "Europe/Paris"
    out = tmp_path / "reports"
    store = StoreSink(url, catalog, batch_size=20_000)
    simulate(scenario, sinks=[CsvReportSink(out), store])
    reader = create_engine_for(url, readonly=True)
    try:
        with reader.connect() as connection:
            for name in REPORT_FILES:
                expected = (out / name).read_bytes()
                got = report_csv(connection, store.run_id, name).encode("utf-8")
                assert got == expected, name
            # streamed in small chunks: the same bytes, the header once
            chunks = list(iter_report_csv(connection, store.run_id, "treatments", chunk_rows=999))
            assert len(chunks) > 3
            assert "".join(chunks).encode() == (out / "treatments.csv").read_bytes()
            hours = (out / "hourly_detail.csv").read_text().splitlines()
            assert any("+02:00" in line for line in hours) and any(
                "+01:00" in line for line in hours
            )
    finally:
        reader.dispose()


def test_reports_refuse_unknown_names_runs_and_unfinished_runs(engine, catalog, small_run):
    """Unknown report or run: NotFoundError; a run still running: StoreError."""
    sink = StoreSink(engine, catalog)
    sink.open(small_run(catalog))
    with engine.connect() as connection:
        with pytest.raises(StoreError, match="running"):
            report_csv(connection, sink.run_id, "hourly_detail.csv")
        with pytest.raises(NotFoundError, match="no report"):
            report_csv(connection, sink.run_id, "nonsense.csv")
        with pytest.raises(NotFoundError):
            report_csv(connection, sink.run_id + 100, "hourly_detail")
    sink.close(None)


def test_a_run_without_simulation_result_gets_sql_rollups(engine, catalog, small_run, hand_records):
    """An import-like run (no SimulationResult) has hourly/daily/monthly rows derived by SQL."""
    events, snapshots, visits = hand_records(10)
    sink = StoreSink(engine, catalog, kind="import")
    sink.open(small_run(catalog))
    sink.write_events(events)
    sink.write_snapshots(snapshots)
    sink.write_visits(visits)
    sink.close("imported")  # any non-None result: complete, rollups from the visits
    with engine.connect() as connection:
        hourly = list(
            csv.DictReader(io.StringIO(report_csv(connection, sink.run_id, "hourly_detail")))
        )
        assert sum(int(r["arrivals"]) for r in hourly) == 10
        assert sum(int(r["left_without_being_seen"]) for r in hourly) == 3
        assert {r["waiting"] for r in hourly} == {""}  # state is the simulator's alone
        assert hourly[0]["hour"] == "2025-03-30T00:00:00+01:00"
        monthly = list(
            csv.DictReader(io.StringIO(report_csv(connection, sink.run_id, "monthly_summary")))
        )
        assert [(r["month"], r["arrivals"], r["mean_wait_minutes"]) for r in monthly] == [
            ("2025-03", "10", "2.0")
        ]
        assert report_csv(connection, sink.run_id, "performance_metrics").count("\n") == 1
        rows = queries.arrivals(connection, sink.run_id, bucket="day")
        assert sum(r["arrivals"] for r in rows) == 10
