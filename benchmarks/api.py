"""API benchmark: 20 closed-loop dashboard clients against a real server, beside a bare
WSGI app serving the same answer bytes under the same server, in the same run.

    .venv/bin/python benchmarks/api.py [--seconds 6] [--clients 20] [--mixed-seconds 20]

Builds (once, cached in the temp folder) a 3-year simulated SQLite store and
starts ``hospiflow serve --live --continue-from 1`` on it (waitress, the live
run writing every tick in the same process, at 60x as in ``make demo``).

1. **Per endpoint, against the reference.** The answer of each dashboard
   request is fetched once (with the clients' ``Accept-Encoding``); a second
   process serves exactly those bytes from a bare WSGI function (no framework,
   no validation, no JSON, no SQL) under waitress with the same threads. Then,
   for each endpoint in turn, 20 closed-loop clients hit the real server, then
   the bare one, for ``--seconds`` each. Printed: throughput, p50/p95, the
   throughput as a ratio to the bare app's, the server's CPU time per request
   of each, the SQL floor (the same store queries run directly) and the
   first, uncached request. With 20 clients on 2 cores, latency is throughput
   in disguise and absolute figures move with the machine's load: the ratio is
   the figure to compare. Goal: ≥ 0.5x the bare throughput, and p95 ≤ 50 ms
   where the bare app's p95 is under 10 ms.
2. **A live run at 600x.** The server restarted with its live run at 600x;
   every client cycles through all endpoints for ``--mixed-seconds``; p95 per
   endpoint and the total beside the bare app under the same mix. Twice: the
   live forecasts refreshed in a thread of the server (as before), then in a
   child process at a lower priority (the default, ``forecast/worker.py``).
   ``--live-only`` runs only this part.

The clients are threads of this process (``http.client``, keep-alive, the
body read but not decoded): they share the 2 cores with the server, for the
bare app as for the real one; the server's CPU per request does not depend
on them.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    # built under a name of this process's, then renamed: another benchmark running at
    # the same time never sees (nor deletes, nor exports) a store still being written
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    simulate_run(scenario, database_url=f"sqlite:///{part}")
    with contextlib.closing(sqlite3.connect(part)) as connection:  # the WAL into the file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(part, path)
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


CLIENT_HEADERS = {"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}


# --------------------------------------------------------------------------- the bare reference


def bare_app(answers: dict[str, tuple[int, list[tuple[str, str]], bytes]]) -> Any:
    """A WSGI function answering each known path with its recorded bytes: the floor of
    any framework under this server."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"] + (
            "?" + environ["QUERY_STRING"] if environ["QUERY_STRING"] else ""
        )
        status, headers, body = answers.get(path, (404, [], b""))
        start_response(f"{status} X", headers)
        return [body]

    return app


def serve_bare(answers_file: str, port: int, threads: int) -> None:
    """The bare reference's process: load the recorded answers, serve them with waitress."""
    import waitress

    recorded = json.loads(Path(answers_file).read_text(encoding="utf-8"))
    answers = {
        path: (a["status"], [tuple(h) for h in a["headers"]], base64.b64decode(a["body"]))
        for path, a in recorded.items()
    }
    waitress.serve(
        bare_app(answers),
        host="127.0.0.1",
        port=port,
        threads=threads,
        channel_timeout=300,
        _quiet=True,
    )


def record(base: str, paths: list[str]) -> dict[str, Any]:
    """Each path's status, content headers and exact (encoded) body from the real server."""
    recorded = {}
    host, port = base.split("//")[1].split("/")[0].split(":")
    prefix = "/" + base.split("//")[1].split("/", 1)[1]
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    for path in paths:
        connection.request("GET", prefix + path, headers=CLIENT_HEADERS)
        response = connection.getresponse()
        body = response.read()
        keep = ("Content-Type", "Content-Encoding", "Vary", "ETag", "Cache-Control")
        headers = [(k, v) for k, v in response.getheaders() if k in keep]
        headers.append(("Content-Length", str(len(body))))
        recorded[prefix + path] = {
            "status": response.status,
            "headers": headers,
            "body": base64.b64encode(body).decode(),
        }
    connection.close()
    return recorded


# --------------------------------------------------------------------------- servers, load


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_health(base: str, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            return requests.get(f"{base}/health", timeout=2).json()
        except (requests.ConnectionError, ValueError):
            time.sleep(0.2)
    raise SystemExit(f"the {what} did not start")


@contextmanager
def real_server(
    url: str, speed: float, threads: int, forecast: str = "process"
) -> Iterator[tuple[subprocess.Popen, str, int]]:
    """``hospiflow serve --live --continue-from 1`` on a free port; (process, API base, live id).
    ``forecast``: where the live forecasts are computed (``HOSPIFLOW_LIVE_FORECAST``).
    The live run is deleted afterwards, leaving the cached store as it was."""
    port = free_port()
    binary = Path(sys.executable).parent / "hospiflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSPIFLOW_")}
    env["HOSPIFLOW_LIVE_FORECAST"] = forecast
    server = subprocess.Popen(
        [str(binary), "serve", "--database-url", url, "--port", str(port), "--live"]
        + ["--continue-from", "1", "--speed", str(speed), "--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    live_id = None
    try:
        live_id = _wait_health(base, "server")["live_run_id"]
        if live_id is None:
            raise SystemExit("the server has no live run")
        time.sleep(2.0)  # a few live ticks
        yield server, base, live_id
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        if live_id is not None:
            engine = create_engine_for(url)
            try:
                with engine.begin() as connection:
                    store_runs.delete_run(connection, live_id)
            finally:
                engine.dispose()


@contextmanager
def bare_server(recorded: dict[str, Any], threads: int) -> Iterator[tuple[subprocess.Popen, str]]:
    """The bare reference in its own process on a free port; (process, base of the same paths)."""
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(
            {**recorded, "/api/v1/health": {"status": 200, "headers": [], "body": ""}}, handle
        )
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--bare",
            handle.name,
            "--port",
            str(port),
            "--threads",
            str(threads),
        ]
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/health", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield server, base
    finally:
        server.terminate()
        server.wait(30)
        Path(handle.name).unlink(missing_ok=True)


@dataclass
class Load:
    """What a closed-loop load measured."""

    latencies: dict[str, list[float]]
    errors: dict[str, int]
    seconds: float
    cpu: float  # the server's CPU seconds meanwhile

    def requests(self, name: str | None = None) -> int:
        if name is None:
            return sum(len(v) for v in self.latencies.values())
        return len(self.latencies[name])

    def rate(self, name: str | None = None) -> float:
        return self.requests(name) / self.seconds

    def p(self, name: str, q: float) -> float:
        return percentile(self.latencies[name], q) if self.latencies[name] else float("nan")


def load(base: str, paths: dict[str, str], clients: int, seconds: float, pid: int) -> Load:
    """``clients`` closed-loop threads cycling through ``paths`` for ``seconds``."""
    host, port = base.split("//")[1].split("/")[0].split(":")
    prefix = "/" + base.split("//")[1].split("/", 1)[1]
    names = list(paths)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: list[tuple[str, float, bool]] = []
        i = offset
        start.wait()
        while time.monotonic() < stop_at[0]:
            name = names[i % len(names)]
            i += 1
            began = time.perf_counter()
            try:
                connection.request("GET", prefix + paths[name], headers=CLIENT_HEADERS)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
            mine.append((name, (time.perf_counter() - began) * 1000, ok))
        connection.close()
        with lock:
            for name, elapsed, ok in mine:
                latencies[name].append(elapsed)
                errors[name] += not ok

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = cpu_seconds(pid)
    began = time.monotonic()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return Load(latencies, errors, elapsed, cpu_seconds(pid) - cpu_before)


# --------------------------------------------------------------------------- the report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per endpoint and server")
    parser.add_argument("--mixed-seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--live-speed", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument(
        "--live-only", action="store_true", help="only the mixed load beside a live run"
    )
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(args.bare, args.port, args.threads)
        return

    url = build_store(CACHE)
    engine = create_engine_for(url, readonly=True)
    with engine.connect() as connection:
        end_ms = connection.execute(
            sa.select(schema.runs.c.end_utc_ms).where(schema.runs.c.id == 1)
        ).scalar_one()
    engine.dispose()
    load_avg = os.getloadavg()[0]
    if not args.live_only:
        per_endpoint(url, end_ms, args, load_avg)
    for forecast in ("thread", "process"):
        live_mix(url, end_ms, args, forecast)


def per_endpoint(url: str, end_ms: int, args: argparse.Namespace, load_avg: float) -> None:
    """Each endpoint in turn: the real server, then the bare app serving its bytes."""
    with real_server(url, args.speed, args.threads) as (server, base, live_id):
        targets = endpoints(live_id, end_ms)
        paths = {name: path for name, (path, _query) in targets.items()}
        floors = {name: floor_ms(url, query) for name, (_path, query) in targets.items()}
        cold = {}
        for name, path in paths.items():  # first request: nothing cached yet
            began = time.perf_counter()
            requests.get(base + path, timeout=30).raise_for_status()
            cold[name] = (time.perf_counter() - began) * 1000
        recorded = record(base, list(paths.values()))
        real: dict[str, Load] = {}
        bare: dict[str, Load] = {}
        with bare_server(recorded, args.threads) as (reference, bare_base):
            for name, path in paths.items():
                real[name] = load(base, {name: path}, args.clients, args.seconds, server.pid)
                bare[name] = load(
                    bare_base, {name: path}, args.clients, args.seconds, reference.pid
                )

    print(
        f"\n{args.clients} closed-loop clients, {args.seconds:g} s per endpoint and server, on a "
        f"{DAYS}-day SQLite store; live run at {args.speed:g}x; load average {load_avg:.1f} "
        "at the start (2 cores, shared)\n"
    )
    header = (
        f"{'endpoint':32} {'req/s':>7} {'p50':>6} {'p95':>6} {'bare req/s':>10} {'bare p95':>8}"
        f" {'ratio':>6} {'CPU ms/req':>10} {'bare':>5} {'SQL ms':>7} {'1st ms':>7} {'err':>4}  goal"
    )
    print(header)
    print("-" * len(header))
    for name in targets:
        r, b = real[name], bare[name]
        ratio = r.rate() / b.rate() if b.rate() else float("nan")
        p95, bare_p95 = r.p(name, 0.95), b.p(name, 0.95)
        met = ratio >= 0.5 and (p95 <= 50 or bare_p95 >= 10)
        print(
            f"{name:32} {r.rate():>7.0f} {r.p(name, 0.5):>6.1f} {p95:>6.1f} {b.rate():>10.0f}"
            f" {bare_p95:>8.1f} {ratio:>6.2f} {1000 * r.cpu / max(1, r.requests()):>10.2f}"
            f" {1000 * b.cpu / max(1, b.requests()):>5.2f} {floors[name]:>7.1f} {cold[name]:>7.1f}"
            f" {r.errors[name] + b.errors[name]:>4}  {'yes' if met else 'NO'}"
        )
    print(
        "\nratio: the endpoint's throughput over the bare WSGI app's serving the same bytes under"
        " the same server;\ngoal: ratio >= 0.5, and p95 <= 50 ms where the bare p95 is under 10 ms."
        " Latencies in ms."
    )


def live_mix(url: str, end_ms: int, args: argparse.Namespace, forecast: str) -> None:
    """Every client cycles through all endpoints while a live run at ``--live-speed`` runs,
    its forecasts refreshed in a thread of the server or in a child process (``forecast``);
    then the bare app under the same mix."""
    with real_server(url, args.live_speed, args.threads, forecast) as (server, base, live_id):
        targets = endpoints(live_id, end_ms)
        paths = {name: path for name, (path, _query) in targets.items()}
        for path in paths.values():
            requests.get(base + path, timeout=30).raise_for_status()
        recorded = record(base, list(paths.values()))
        mixed = load(base, paths, args.clients, args.mixed_seconds, server.pid)
        live = requests.get(f"{base}/runs/{live_id}", timeout=5).json()["run"]
        with bare_server(recorded, args.threads) as (reference, bare_base):
            bare_mixed = load(bare_base, paths, args.clients, args.mixed_seconds, reference.pid)
    print(
        f"\nMixed load with the live run at {args.live_speed:g}x, forecasts in a {forecast}"
        f" ({live['counts']['events']} events written meanwhile), {args.mixed_seconds:g} s,"
        f" load average {os.getloadavg()[0]:.1f}:"
    )
    print(f"{'endpoint':32} {'requests':>8} {'p95 ms':>7} {'bare p95':>8} {'errors':>6}")
    for name in targets:
        print(
            f"{name:32} {mixed.requests(name):>8} {mixed.p(name, 0.95):>7.1f}"
            f" {bare_mixed.p(name, 0.95):>8.1f} {mixed.errors[name]:>6}"
        )
    print(
        f"total: {mixed.rate():.0f} req/s vs bare {bare_mixed.rate():.0f} req/s "
        f"(ratio {mixed.rate() / bare_mixed.rate():.2f}); {sum(mixed.errors.values())} errors",
        flush=True,
    )


if __name__ == "__main__":
    main()
