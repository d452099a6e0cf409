"""Store benchmark: StoreSink vs raw ``sqlite3.executemany``, and dashboard query latency.

Run: ``.venv/bin/python benchmarks/store.py [--years 3] [--repeat 15]``. Prints one table.
Goals (issue 3): sink >= 0.5x raw rows/s; one year simulated + stored <= 3 s;
each dashboard query on a 3-year database <= 20 ms median.

"raw" is the issue's reference: one-row ``executemany``, 50,000 rows per
transaction. The sink writes multi-row ``INSERT`` statements
(``store.writer``), so the table also shows raw multi-row inserts of the same
rows, the closer limit of what SQLite can take.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import warnings
from itertools import chain
from pathlib import Path

warnings.simplefilter("ignore")  # a benchmark, not a test

from hospiflow.simulation.engine import simulate  # noqa: E402
from hospiflow.simulation.scenario import default_scenario  # noqa: E402
from hospiflow.store import migrate, queries  # noqa: E402
from hospiflow.store.engine import create_engine_for  # noqa: E402
from hospiflow.store.sink import _TABLES, StoreSink  # noqa: E402
from hospiflow.store.writer import ROWS_PER_STATEMENT, insert_sql  # noqa: E402

DAY = 86_400_000


class _Recorder:
    """A sink that only keeps the records (to replay them without simulating)."""

    wants_events = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, list]] = []

    def open(self, run) -> None:
        self.run = run

    def write_events(self, batch) -> None:
        self.calls.append(("write_events", list(batch)))

    def write_snapshots(self, batch) -> None:
        self.calls.append(("write_snapshots", list(batch)))

    def write_visits(self, batch) -> None:
        self.calls.append(("write_visits", list(batch)))

    def close(self, result) -> None:
        self.result = result


def _fresh(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    migrate.init(url)
    return url


def write_benchmark(folder: Path) -> list[tuple[str, str]]:
    scenario = default_scenario(days=365, seed=1)
    catalog = scenario.load_catalog()
    t = time.perf_counter()
    simulate(scenario)
    sim_plain = time.perf_counter() - t
    recorder = _Recorder()
    t = time.perf_counter()
    simulate(scenario, sinks=[recorder])
    sim_trace = time.perf_counter() - t

    url = _fresh(folder, "end_to_end.db")
    t = time.perf_counter()
    simulate(scenario, sinks=[StoreSink(url, catalog)])
    end_to_end = time.perf_counter() - t

    url = _fresh(folder, "sink.db")
    sink = StoreSink(url, catalog)
    t = time.perf_counter()
    sink.open(recorder.run)
    for method, batch in recorder.calls:
        getattr(sink, method)(batch)
    sink.close(recorder.result)
    sink_s = time.perf_counter() - t

    source = sqlite3.connect(folder / "sink.db")
    rows = {
        table: source.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id").fetchall()
        for table, cols in _TABLES.items()
    }
    source.close()
    n_rows = sum(len(r) for r in rows.values())
    raw_s = _raw_insert(folder / "raw.db", rows, 1)
    multi_s = _raw_insert(folder / "raw_multi.db", rows, ROWS_PER_STATEMENT)
    return [
        ("rows per year (events+snapshots+visits+treatments)", f"{n_rows:,}"),
        ("simulate 1 year, no sink", f"{sim_plain:.2f} s"),
        ("simulate 1 year, full trace to a no-op sink", f"{sim_trace:.2f} s"),
        ("simulate + store 1 year (StoreSink, goal <= 3 s)", f"{end_to_end:.2f} s"),
        ("StoreSink replay rows/s", f"{n_rows / sink_s:,.0f}"),
        ("raw sqlite3.executemany rows/s", f"{n_rows / raw_s:,.0f}"),
        ("StoreSink / raw (goal >= 0.5)", f"{raw_s / sink_s:.2f}x"),
        (f"raw multi-row INSERT ({ROWS_PER_STATEMENT:,} rows) rows/s", f"{n_rows / multi_s:,.0f}"),
        ("StoreSink / raw multi-row", f"{multi_s / sink_s:.2f}x"),
    ]


def _raw_insert(path: Path, rows: dict[str, list], per_statement: int) -> float:
    """Seconds to insert ``rows`` with plain sqlite3, 50,000 rows per transaction."""
    _fresh(path.parent, path.name)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute(
        "INSERT INTO runs (id, kind, status, parameters, timezone, start_utc_ms, end_utc_ms,"
        " created_at_ms) VALUES (1, 'simulation', 'running', '{}', 'UTC', 0, 0, 0)"
    )
    t = time.perf_counter()
    batch = 50_000
    for table, cols in _TABLES.items():
        data = rows[table]
        for i in range(0, len(data), batch):
            chunk = data[i : i + batch]
            raw.execute("BEGIN IMMEDIATE")
            if per_statement == 1:
                raw.executemany(insert_sql(table, cols), chunk)
            else:
                for j in range(0, len(chunk), per_statement):
                    part = chunk[j : j + per_statement]
                    raw.execute(
                        insert_sql(table, cols, rows=len(part)), list(chain.from_iterable(part))
                    )
            raw.execute("COMMIT")
    seconds = time.perf_counter() - t
    raw.close()
    return seconds


def query_benchmark(folder: Path, years: int, repeat: int) -> list[tuple[str, str]]:
    scenario = default_scenario(days=365 * years, seed=3)
    url = _fresh(folder, "dashboard.db")
    sink = StoreSink(url, scenario.load_catalog())
    simulate(scenario, sinks=[sink])
    run_id = sink.run_id
    engine = create_engine_for(url, readonly=True)
    results = []
    with engine.connect() as c:
        end = queries.run(c, run_id)["end_utc_ms"]
        wk, mo = (end - 7 * DAY, end), (end - 30 * DAY, end)
        cases = {
            "current state": lambda: queries.current_state(c, run_id),
            "arrivals by hour, last 7 days": lambda: queries.arrivals(c, run_id, *wk),
            "arrivals by day x specialty, 90 days": lambda: queries.arrivals(
                c, run_id, end - 90 * DAY, end, "day", "specialty"
            ),
            "arrivals by month x specialty, all": lambda: queries.arrivals(
                c, run_id, bucket="month", by="specialty"
            ),
            "hour-of-week profile, last 4 weeks": lambda: queries.hour_of_week_profile(
                c, run_id, end - 28 * DAY, end
            ),
            "doctor availability by hour, 7 days": lambda: queries.doctor_availability(
                c, run_id, *wk
            ),
            "waits + LOS p50/p90 by specialty, 30 days": lambda: queries.waits(
                c, run_id, *mo, by="specialty"
            ),
            "KPIs, last 30 days": lambda: queries.kpis(c, run_id, *mo),
            "treatments page (100) mid-run": lambda: queries.treatments_page(
                c, run_id, after=(end - 200 * DAY, 0)
            ),
            "events page (100) mid-run": lambda: queries.events_page(
                c, run_id, after=(end - 200 * DAY, 0)
            ),
        }
        for name, call in cases.items():
            call()
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                call()
                times.append((time.perf_counter() - t) * 1000)
                c.rollback()
            median = statistics.median(times)
            verdict = "ok" if median <= 20 else "SLOW"
            results.append((f"{name} ({years}-year DB)", f"{median:.1f} ms {verdict}"))
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = write_benchmark(Path(tmp)) + query_benchmark(Path(tmp), args.years, args.repeat)
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 16}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
