"""API benchmark: 20 concurrent dashboard clients against a real server while a live run writes.

    .venv/bin/python benchmarks/api.py [--seconds 30] [--clients 20]

Builds (once, cached in the temp folder) a 3-year simulated SQLite store,
starts ``hospiflow serve --live --continue-from 1`` on a free port (waitress,
the live run writing every tick in the same process), then 20 client
threads hit the dashboard endpoints for 30 s. Prints per endpoint: requests,
errors, p50 and p95 latency, and beside them the median time of the same
store queries run directly on a read-only connection (the floor; measured
while the live run writes, before the load) and the time of the first,
uncached request. Answers about a complete run are cached by the server
(complete runs never change); the live run's ``now`` is computed every
time. Goal: p95 ≤ 50 ms, zero errors.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import bucketed, queries, schema, trace
from hospiflow.store import runs as store_runs
from hospiflow.store.engine import create_engine_for

DAYS = 1096
CACHE = Path(tempfile.gettempdir()) / "hospiflow-bench" / "api-3y.db"
DAY_MS = 86_400_000


def cached_run_store(path: Path, scenario: Any, what: str) -> str:
    """A SQLite store whose run 1 simulates ``scenario``, kept in ``path`` between runs
    and rebuilt if missing or incomplete; its URL."""
    url = f"sqlite:///{path}"
    if path.exists():
        engine = create_engine_for(url, readonly=True)
        try:
            with engine.connect() as connection:
                status = connection.execute(
                    sa.select(schema.runs.c.status).where(schema.runs.c.id == 1)
                ).scalar()
        except sa.exc.DBAPIError:
            status = None
        finally:
            engine.dispose()
        if status == "complete":
            return url
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"building {what} in {path} ...", file=sys.stderr, flush=True)
    simulate_run(scenario, database_url=url)
    return url


def build_store(path: Path) -> str:
    """The cached 3-year store (run 1); its URL."""
    return cached_run_store(path, default_scenario(days=float(DAYS)), f"a {DAYS}-day store")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def endpoints(live_id: int, end_ms: int) -> dict[str, tuple[str, Callable[[Any], Any]]]:
    """Dashboard requests (path) and the store queries each runs (the floor)."""
    week = end_ms - 7 * DAY_MS
    month = end_ms - 30 * DAY_MS
    iso = "2027-12-25T00:00:00%2B01:00"
    iso_month = "2027-12-02T00:00:00%2B01:00"
    iso_quarter = "2027-10-03T00:00:00%2B02:00"
    quarter = end_ms - 90 * DAY_MS
    return {
        "now (live run)": (
            f"/runs/{live_id}/now",
            lambda c: (
                queries.current_state(c, live_id),
                trace.recent_patient_events(c, live_id, 0, 2**62),
            ),
        ),
        "arrivals hour, 7 days": (
            f"/runs/1/arrivals?bucket=hour&start={iso}",
            lambda c: queries.arrivals(c, 1, week, end_ms, "hour"),
        ),
        "arrivals day by specialty, 90 d": (  # the Arrivals view's default
            f"/runs/1/arrivals?bucket=day&by=specialty&start={iso_quarter}",
            lambda c: queries.arrivals(c, 1, quarter, end_ms, "day", "specialty"),
        ),
        "arrivals day by specialty, 3 y": (
            "/runs/1/arrivals?bucket=day&by=specialty",
            lambda c: queries.arrivals(c, 1, None, None, "day", "specialty"),
        ),
        "arrivals hour-of-week, 30 d": (
            f"/runs/1/arrivals/hour-of-week?start={iso_month}",
            lambda c: queries.hour_of_week_profile(c, 1, month, end_ms),
        ),
        "doctors availability, 7 d": (
            f"/runs/1/doctors/availability?bucket=hour&start={iso}",
            lambda c: queries.doctor_availability(c, 1, week, end_ms, "hour", True),
        ),
        "waits by day, 30 d": (
            f"/runs/1/waits?bucket=day&start={iso_month}",
            lambda c: bucketed.waits_by_bucket(c, 1, month, end_ms, "day"),
        ),
        "kpis, 30 d": (
            f"/runs/1/kpis?start={iso_month}",
            lambda c: queries.kpis(c, 1, month, end_ms),
        ),
        "kpis, 3 y": ("/runs/1/kpis", lambda c: queries.kpis(c, 1)),
    }


def floor_ms(url: str, query: Callable[[Any], Any], repeat: int = 15) -> float:
    engine = create_engine_for(url, readonly=True)
    try:
        with engine.connect() as connection:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                query(connection)
                times.append((time.perf_counter() - started) * 1000)
                connection.rollback()
    finally:
        engine.dispose()
    return statistics.median(times)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p * len(ordered))) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--speed", type=float, default=60.0)
    args = parser.parse_args()

    url = build_store(CACHE)
    port = free_port()
    binary = Path(sys.executable).parent / "hospiflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSPIFLOW_")}
    server = subprocess.Popen(
        [str(binary), "serve", "--database-url", url, "--port", str(port), "--live"]
        + ["--continue-from", "1", "--speed", str(args.speed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    live_id = None
    try:
        deadline = time.monotonic() + 60
        while live_id is None and time.monotonic() < deadline:
            try:
                live_id = requests.get(f"{base}/health", timeout=2).json()["live_run_id"]
            except requests.ConnectionError:
                time.sleep(0.2)
        if live_id is None:
            raise SystemExit("the server did not start")
        time.sleep(2.0)  # a few live ticks
        engine = create_engine_for(url, readonly=True)
        with engine.connect() as connection:
            end_ms = connection.execute(
                sa.select(schema.runs.c.end_utc_ms).where(schema.runs.c.id == 1)
            ).scalar_one()
        engine.dispose()
        targets = endpoints(live_id, end_ms)
        floors = {name: floor_ms(url, query) for name, (_path, query) in targets.items()}
        cold = {}
        for name, (path, _query) in targets.items():  # first request: nothing cached yet
            started = time.perf_counter()
            requests.get(base + path, timeout=30).raise_for_status()
            cold[name] = (time.perf_counter() - started) * 1000

        latencies: dict[str, list[float]] = {name: [] for name in targets}
        errors: dict[str, int] = {name: 0 for name in targets}
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds
        names = list(targets)

        def client(offset: int) -> None:
            session = requests.Session()
            i = offset
            while time.monotonic() < stop_at:
                name = names[i % len(names)]
                i += 1
                started = time.perf_counter()
                try:
                    response = session.get(base + targets[name][0], timeout=30)
                    ok = response.status_code == 200 and response.json().get("ok") is True
                except (requests.RequestException, ValueError):
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies[name].append(elapsed)
                    if not ok:
                        errors[name] += 1
            session.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        live = requests.get(f"{base}/runs/{live_id}", timeout=5).json()["run"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            store_runs.delete_run(connection, live_id)  # keep the cached store as it was
    finally:
        engine.dispose()

    print(
        f"\n{args.clients} clients for {args.seconds:g} s against a {DAYS}-day SQLite store; "
        f"live run at {args.speed:g}x wrote {live['counts']['events']} events meanwhile\n"
    )
    header = f"{'endpoint':34} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8}"
    print(header + f" {'SQL floor ms':>13} {'1st req ms':>10}  p95 <= 50 ms")
    print("-" * (len(header) + 39))
    total = 0
    for name in targets:
        values = latencies[name]
        total += len(values)
        p95 = percentile(values, 0.95)
        print(
            f"{name:34} {len(values):>8} {errors[name]:>6} {percentile(values, 0.5):>8.1f} "
            f"{p95:>8.1f} {floors[name]:>13.1f} {cold[name]:>10.1f}  "
            f"{'yes' if p95 <= 50 and not errors[name] else 'NO'}"
        )
    print(f"\n{total} requests, {sum(errors.values())} errors ({total / args.seconds:.0f} req/s)")
    print(
        "(the client threads share this machine's 2 cores with the server and decode every"
        " answer:\n the 3-year series is a 67 KB answer, 5x the 90-day one the dashboard asks for)"
    )


if __name__ == "__main__":
    main()
