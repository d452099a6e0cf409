"""Read queries: right answers on both backends, and an index behind each on SQLite."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from hospiflow.errors import NotFoundError, StoreError
from hospiflow.simulation.engine import simulate
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import queries, schema, sqlfuncs
from hospiflow.store.engine import create_engine_for
from hospiflow.store.sink import StoreSink

DAY = 86_400_000
BIG_TABLES = ("events", "visits", "treatments", "state_snapshots")


@pytest.fixture
def stored(url, catalog):
    """A simulated three weeks (across the March DST change) in the store, and a reader."""
    scenario = default_scenario(days=21, seed=5).replace(
        start_date=default_scenario().start_date.replace(month=3, day=20)
    )
    sink = StoreSink(url, catalog, batch_size=10_000)
    result = simulate(scenario, sinks=[sink])
    reader = create_engine_for(url, readonly=True)
    with reader.connect() as connection:
        yield connection, sink.run_id, result
    reader.dispose()


def _calls(run_id: int, start: int) -> dict[str, tuple]:
    week = (start, start + 7 * DAY)
    return {
        "current_state": (queries.current_state, (run_id,), {}),
        "arrivals": (queries.arrivals, (run_id, *week), {"bucket": "day", "by": "specialty"}),
        "daily_arrivals": (queries.daily_arrivals, (run_id,), {"bucket": "month"}),
        "hour_of_week_profile": (queries.hour_of_week_profile, (run_id, *week), {}),
        "doctor_availability": (queries.doctor_availability, (run_id, *week), {}),
        "waits": (queries.waits, (run_id, *week), {"by": "pathology"}),
        "kpis": (queries.kpis, (run_id, *week), {}),
        "treatments_page": (queries.treatments_page, (run_id,), {"after": (start + DAY, 0)}),
        "events_page": (queries.events_page, (run_id,), {"after": (start + DAY, 0)}),
    }


def test_every_query_is_served_by_an_index(stored):
    """EXPLAIN QUERY PLAN shows no full scan of a big table in any query (SQLite)."""
    connection, run_id, _ = stored
    if connection.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    start = queries.run(connection, run_id)["start_utc_ms"]
    calls = _calls(run_id, start)
    assert set(calls) == set(queries.ALL_QUERIES)
    for name, (function, args, kwargs) in calls.items():
        statements: list[str] = []

        def capture(conn, cursor, statement, parameters, context, executemany, into=statements):
            into.append((statement, parameters))

        sa.event.listen(connection.engine, "before_cursor_execute", capture)
        try:
            function(connection, *args, **kwargs)
        finally:
            sa.event.remove(connection.engine, "before_cursor_execute", capture)
        for statement, parameters in statements:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [row[-1] for row in plan]
            for line in details:
                for table in BIG_TABLES:
                    assert not line.startswith(f"SCAN {table}"), f"{name}: {line}\n{details}"


def test_arrival_buckets_add_up_to_the_visits(stored):
    """Every bucket and grouping sums to the number of visits; rollup and visits agree by month."""
    connection, run_id, result = stored
    for bucket in ("hour", "day", "week", "month"):
        for by in (None, "specialty", "pathology"):
            rows = queries.arrivals(connection, run_id, bucket=bucket, by=by)
            assert sum(r["arrivals"] for r in rows) == result.n_patients
    from_visits = queries.arrivals(connection, run_id, bucket="month", by="specialty")
    from_rollup = queries.daily_arrivals(connection, run_id, bucket="month", by="specialty")
    assert from_visits == from_rollup


def test_hourly_arrivals_match_the_simulator(stored):
    """Hourly arrivals equal a NumPy count of the simulator's arrival times per local hour."""
    connection, run_id, result = stored
    run = queries.run(connection, run_id)
    rows = queries.arrivals(connection, run_id, bucket="hour")
    local_start = run["start_utc_ms"] + 3_600_000  # Paris is UTC+1 at the start (March 20)
    hours = np.floor(result.arrival / 60).astype(int)
    expected = np.bincount(hours[hours < 24 * 8])  # before the DST change
    got = {(r["bucket_local_ms"] - local_start) // 3_600_000: r["arrivals"] for r in rows}
    for h, n in enumerate(expected):
        assert got.get(h, 0) == n


def test_waits_percentiles_are_numpys(stored):
    """Mean, p50 and p90 of waits and LOS equal NumPy's (linear interpolation), per group too."""
    connection, run_id, result = stored
    (row,) = queries.waits(connection, run_id)
    wait = result.wait[np.isfinite(result.wait)]
    assert row["treated"] == len(wait)
    assert row["wait_mean_min"] == pytest.approx(wait.mean(), rel=1e-9)
    for p, key in ((50, "wait_p50_min"), (90, "wait_p90_min")):
        assert row[key] == pytest.approx(np.percentile(wait, p), rel=1e-12)
    # a range and a grouping, against NumPy on the stored visits of that range
    start = queries.run(connection, run_id)["start_utc_ms"]
    low, high = start + 3 * DAY + 1_234_567, start + 10 * DAY
    v = schema.visits
    stored_rows = connection.execute(
        sa.select(v.c.specialty_idx, v.c.wait_min, v.c.los_min).where(
            v.c.run_id == run_id, v.c.arrival_ms >= low, v.c.arrival_ms < high
        )
    ).all()
    data = np.array([tuple(r) for r in stored_rows], dtype=float)
    by = queries.waits(connection, run_id, low, high, by="specialty")
    assert [r["specialty_idx"] for r in by] == sorted(set(data[:, 0].astype(int).tolist()))
    assert sum(r["visits"] for r in by) == len(data)
    for r in by:
        mine = data[data[:, 0] == r["specialty_idx"]]
        for column, name in ((1, "wait"), (2, "los")):
            values = mine[:, column][~np.isnan(mine[:, column])]
            assert r[f"{name}_mean_min"] == pytest.approx(values.mean(), rel=1e-9)
            assert r[f"{name}_p50_min"] == pytest.approx(np.percentile(values, 50), rel=1e-12)
            assert r[f"{name}_p90_min"] == pytest.approx(np.percentile(values, 90), rel=1e-12)
    total = queries.waits(connection, run_id, by="specialty")
    assert sum(r["visits"] for r in total) == result.n_patients
    assert queries.waits(connection, run_id, high, high) == []


def test_keyset_pagination_walks_every_event_once(stored):
    """Following ``next`` cursors yields every event once, in (time, id) order."""
    connection, run_id, _ = stored
    total = queries.run(connection, run_id)["events_count"]
    seen, after = [], None
    while True:
        page = queries.events_page(connection, run_id, after=after, limit=5_000)
        seen.extend((r["time_ms"], r["id"]) for r in page.rows)
        if page.next is None:
            break
        after = page.next
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen)


def test_current_state_and_kpis_are_consistent(stored):
    """The current state has one row per specialty; KPIs count the same visits as arrivals."""
    connection, run_id, result = stored
    state = queries.current_state(connection, run_id)
    assert len(state) == len(result.catalog.specialties)
    kpis = queries.kpis(connection, run_id)
    assert kpis["arrivals"] == result.n_patients
    assert 0 < kpis["utilisation"] <= 1
    availability = queries.doctor_availability(connection, run_id, bucket="day")
    assert all(r["doctors_busy"] <= r["doctors_on_duty"] for r in availability)


def test_bad_arguments_are_refused(stored):
    """Unknown buckets, groupings, page sizes and runs are clear errors."""
    connection, run_id, _ = stored
    with pytest.raises(StoreError, match="bucket"):
        queries.arrivals(connection, run_id, bucket="fortnight")
    with pytest.raises(StoreError, match="by"):
        queries.arrivals(connection, run_id, by="doctor")
    with pytest.raises(StoreError, match="limit"):
        queries.events_page(connection, run_id, limit=0)
    with pytest.raises(NotFoundError):
        queries.run(connection, run_id + 1000)


def _plans(connection, call) -> list[str]:
    """The EXPLAIN QUERY PLAN lines of every statement ``call`` runs (SQLite)."""
    statements: list[tuple] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(connection.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(connection.engine, "before_cursor_execute", capture)
    lines = []
    for statement, parameters in statements:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        lines += [row[-1] for row in plan]
    return lines


def test_rollup_paths_and_reports_are_served_by_keys(stored):
    """Arrivals from the rollups and the five reports read by primary key or index, never a scan."""
    connection, run_id, _ = stored
    if connection.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    from hospiflow.store.reports import REPORT_FILES, report_csv

    start = queries.run(connection, run_id)["start_utc_ms"]
    calls = [
        lambda: queries.arrivals(connection, run_id, start, start + 3 * DAY, "day", "specialty"),
        lambda: queries.arrivals(connection, run_id, bucket="month", by="specialty"),
        lambda: queries.arrivals(connection, run_id, bucket="week", by="pathology"),
        *[lambda name=name: report_csv(connection, run_id, name) for name in REPORT_FILES],
    ]
    for call in calls:
        lines = _plans(connection, call)
        assert not [line for line in lines if line.startswith("SCAN") and "(" not in line], lines
        assert not any(line.startswith("SCAN treatments") for line in lines), lines


def test_rollup_paths_equal_counting_the_visits(stored):
    """Every path of ``arrivals`` (daily rollup, hourly rollup, visits) gives the same answer."""
    connection, run_id, _ = stored
    v = schema.visits
    start = queries.run(connection, run_id)["start_utc_ms"]
    ranges = [
        (None, None),  # daily rollup for months and pathologies, else hourly
        (start + 2 * DAY, start + 5 * DAY),  # local midnights, before the DST change
        (start + 5 * DAY, start + 15 * DAY + 3_600_000),  # whole hours only: hourly rollup
        (start + 1_234_567, start + 9 * DAY),  # cuts an hour: visits
    ]
    for low, high in ranges:
        for bucket in ("hour", "day", "week", "month"):
            for by in (None, "specialty", "pathology"):
                got = queries.arrivals(connection, run_id, low, high, bucket, by)
                expected = queries._bucketed(
                    connection,
                    v,
                    v.c.arrival_local_ms,
                    bucket,
                    by,
                    [v.c.run_id == run_id, *sqlfuncs.in_range(v.c.arrival_ms, low, high)],
                    None,
                )
                assert got == expected, (low, high, bucket, by)
