"""Live feed benchmark: MLLP messages and REST pushes into a site, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/feeds.py [--messages 4000] [--batches 10] [--repeat 2]
        [--postgres URL] [--sqlite-only]

For each backend, a fresh store with one site, served by a real
``hospiflow serve --mllp-site SITE`` process (the API and the MLLP listener
in one process, as deployed), driven from this process over 127.0.0.1:

1. MLLP, one connection: ``--messages`` A04 messages of distinct visits, each
   sent after the previous one's ACK (which comes only after its commit):
   messages/s (goal ≥ 1,000/s);
2. MLLP, 4 connections at once (the listener commits what is queued
   together): messages/s in total;
3. message -> visible on the SSE stream under the 4-connection load: a probe
   connection sends, every ~1.1 s, an A04 whose arrival is its send second;
   a stream client reads ``/runs/{id}/stream`` and notes when a ``state``
   message first lists that arrival: p50/p95/max (goal p95 ≤ 1 s);
4. REST push: ``--batches`` batches of 1,000 visits to ``POST /sites/{id}/visits``,
   one after the other: visits/s (goal ≥ 10,000/s).

References in the same run: plain driver transactions of one small INSERT
each (sqlite3 / psycopg, one connection, same database server), the best a
commit-per-message listener could do on this machine now; and an MLLP "echo"
server that ACKs without storing anything, the round trips one connection can
make on this machine now (each message wakes two processes: under a high load
average that scheduling, not the store, bounds a single connection). Each figure is
measured ``--repeat`` times and shown as a range: the machine is shared with
other engineers' jobs, so absolute rates are noisy (load averages printed).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa

from hospiflow.feeds.client import MllpClient
from hospiflow.store import migrate, sites, tokens
from hospiflow.store.engine import create_engine_for

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KEY = "benchmark-pseudonym-key-0123456789"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def message(control: str, visit: str, arrival: datetime) -> bytes:
    stamp = arrival.strftime("%Y%m%d%H%M%S%z")
    pv1 = [""] * 45
    pv1[0:3] = ["PV1", "1", "E"]
    pv1[19] = visit
    pv1[44] = stamp
    return "\r".join(
        [
            f"MSH|^~\\&|SIH|CHU|HOSPIFLOW|X|{stamp}||ADT^A04^ADT_A01|{control}|P|2.5",
            f"EVN|A04|{stamp}",
            f"PID|1||{visit}P^^^CHU^PI||NOM^PRENOM||19600101|F",
            "|".join(pv1),
            "DG1|1||J18.9^^I10|||W",
        ]
    ).encode()


class Store:
    """A fresh database with one site and an admin token, served by ``hospiflow serve``."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        migrate.init(url)
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            self.site = sites.create_site(connection, "Bench", "Europe/Paris")
            self.token = tokens.create_token(connection, "bench", "admin")
        engine.dispose()
        self.http, self.mllp = free_port(), free_port()
        out = (folder / f"serve-{uuid.uuid4().hex[:6]}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hospiflow.cli", "serve", "--database-url", url]
            + ["--port", str(self.http), "--mllp-site", "Bench", "--mllp-port", str(self.mllp)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOSPIFLOW_PSEUDONYM_KEY": KEY},
        )
        out.close()
        for port in (self.mllp, self.http):
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise SystemExit(f"the server did not start (see {out.name})") from None
                    time.sleep(0.2)

    def run_id(self) -> int:
        engine = sa.create_engine(self.url)
        with engine.connect() as connection:
            s = sa.table("sites", sa.column("id"), sa.column("run_id"))
            run = connection.execute(
                sa.select(s.c.run_id).where(s.c.id == self.site["id"])
            ).scalar()
        engine.dispose()
        return int(run)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def mllp_rate(store: Store, count: int, connections: int, tag: str) -> float:
    """Messages/s of ``count`` A04s over ``connections`` concurrent connections."""
    start = datetime.now(PARIS).replace(microsecond=0) - timedelta(hours=8)
    per = count // connections
    errors: list[str] = []

    def send(lane: int) -> None:
        with MllpClient("127.0.0.1", store.mllp) as client:
            for n in range(per):
                visit = f"{tag}-{lane}-{n}"
                arrival = start + timedelta(seconds=(lane * per + n) % 20_000)
                code, text = client.send(message(visit, visit, arrival))
                if code != "AA":
                    errors.append(text)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if errors:
        raise SystemExit(f"{len(errors)} NACKs, first: {errors[0]}")
    return per * connections / seconds


def sse_latency(store: Store, count: int, tag: str) -> tuple[float, list[float]]:
    """(messages/s of the 4-connection load, latencies of the probes in seconds)."""
    run_id = store.run_id()
    url = f"http://127.0.0.1:{store.http}/api/v1/runs/{run_id}/stream"
    seen: queue.Queue[tuple[float, str]] = queue.Queue()
    stop = threading.Event()

    def listen() -> None:
        with requests.get(url, stream=True, timeout=60) as response:
            buffer = ""
            for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
                buffer += chunk
                while "\n\n" in buffer:
                    event, buffer = buffer.split("\n\n", 1)
                    if "event: state" in event:
                        seen.put((time.perf_counter(), event))
                if stop.is_set():
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(1.0)
    sent: dict[str, float] = {}

    def probe() -> None:
        with MllpClient("127.0.0.1", store.mllp) as client:
            n = 0
            while not stop.is_set():
                arrival = datetime.now(PARIS).replace(microsecond=0)
                key = arrival.isoformat(timespec="milliseconds")
                if key not in sent:
                    sent[key] = time.perf_counter()
                    n += 1
                    client.send(message(f"{tag}-probe-{n}", f"{tag}-probe-{n}", arrival))
                time.sleep(1.1)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    rate = mllp_rate(store, count, 4, tag)
    time.sleep(1.5)
    stop.set()
    prober.join(10)
    latencies: dict[str, float] = {}
    while not seen.empty():
        at, event = seen.get()
        for key, when in sent.items():
            if key not in latencies and f'"time":"{key}"' in event:
                latencies[key] = at - when
    missing = len(sent) - len(latencies)
    if missing > 1:  # the last probe may be sent after the stream was read
        log(f"  {missing} probe(s) never seen on the stream")
    return rate, sorted(latencies.values())


def push_rate(store: Store, batches: int, tag: str) -> float:
    start = datetime.now(PARIS).replace(microsecond=0) - timedelta(hours=20)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {store.token}"
    url = f"http://127.0.0.1:{store.http}/api/v1/sites/{store.site['id']}/visits"
    bodies = []
    for b in range(batches):
        visits = []
        for n in range(1000):
            arrival = start + timedelta(seconds=(b * 1000 + n) * 3 % 60_000)
            visits.append(
                {
                    "visit_id": f"{tag}-{b}-{n}",
                    "patient_id": f"P{n % 700}",
                    "arrival": arrival.isoformat(),
                    "first_seen": (arrival + timedelta(minutes=20)).isoformat(),
                    "departure": (arrival + timedelta(hours=3)).isoformat(),
                    "disposition": "home",
                    "diagnosis": "J18.9",
                    "sex": "F",
                    "age_years": 50,
                }
            )
        bodies.append(json.dumps({"visits": visits}))
    began = time.perf_counter()
    for body in bodies:
        answer = session.post(url, data=body, headers={"Content-Type": "application/json"})
        answer.raise_for_status()
        if answer.json()["accepted"] != 1000:
            raise SystemExit(f"push refused items: {answer.text[:300]}")
    return batches * 1000 / (time.perf_counter() - began)


def raw_commit_rate(url: str, seconds: float = 3.0) -> float:
    """Plain driver transactions of one INSERT each, on the same database."""
    engine = create_engine_for(url)  # the store's own settings (WAL, synchronous=NORMAL)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.commit()
        cursor = raw.cursor()
        cursor.execute("CREATE TABLE bench_raw (a BIGINT, b TEXT)")
        raw.commit()
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        n = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            cursor.execute(f"INSERT INTO bench_raw VALUES ({marker}, {marker})", (n, "x" * 40))
            raw.commit()
            n += 1
        rate = n / (time.perf_counter() - began)
        cursor.execute("DROP TABLE bench_raw")
        raw.commit()
    engine.dispose()
    return rate


ECHO = """
import asyncio, sys
ACK = b"\\x0bMSH|^~\\\\&|ECHO|X|||20260101000000||ACK|1|P|2.5\\rMSA|AA|1\\r\\x1c\\r"
async def client(reader, writer):
    sock = writer.get_extra_info("socket")
    import socket
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            await reader.readuntil(b"\\x1c\\r")
            writer.write(ACK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(client, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""


def echo_rate(count: int) -> float:
    """Round trips/s to an MLLP server that ACKs at once and stores nothing: what the
    machine's scheduling allows one connection now (each message wakes two processes)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", ECHO, str(port)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        sample = message("E1", "E1", datetime.now(PARIS))
        with MllpClient("127.0.0.1", port) as client:
            began = time.perf_counter()
            for _ in range(count):
                client.exchange(sample)
            return count / (time.perf_counter() - began)
    finally:
        process.terminate()
        process.wait(10)


def span(values: list[float], fmt: str = "{:,.0f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if len(values) == 1 else f"{fmt.format(low)}-{fmt.format(high)}"


def backend(name: str, url: str, args: argparse.Namespace, folder: Path) -> list[tuple]:
    log(f"{name}: starting hospiflow serve --mllp-site")
    store = Store(url, folder)
    rows = []
    try:
        raw, echo, one, four, load, lat, push = [], [], [], [], [], [], []
        for r in range(args.repeat):
            raw.append(raw_commit_rate(url))
            echo.append(echo_rate(args.messages))
            log(f"{name}: MLLP, 1 connection (round {r + 1})")
            one.append(mllp_rate(store, args.messages, 1, f"one{r}"))
            log(f"{name}: MLLP, 4 connections")
            four.append(mllp_rate(store, args.messages, 4, f"four{r}"))
            log(f"{name}: SSE latency under 4 connections")
            rate, latencies = sse_latency(store, args.messages, f"sse{r}")
            load.append(rate)
            lat.extend(latencies)
            log(f"{name}: REST push")
            push.append(push_rate(store, args.batches, f"push{r}"))
        p95 = lat and sorted(lat)[min(len(lat) - 1, round(0.95 * len(lat) + 0.5) - 1)]
        rows = [
            (f"{name}: raw driver commits (reference)", span(raw) + " tx/s", ""),
            (f"{name}: MLLP echo, no store (reference)", span(echo) + " msg/s", ""),
            (
                f"{name}: MLLP 1 connection",
                span(one) + " msg/s",
                f"≥ 1,000 msg/s; x{min(one) / max(echo):.2f}-{max(one) / min(echo):.2f} of echo",
            ),
            (f"{name}: MLLP 4 connections", span(four) + " msg/s", "reported"),
            (
                f"{name}: msg -> SSE (under {span(load)} msg/s)",
                f"p50 {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {max(lat):.2f} s",
                f"p95 ≤ 1 s ({len(lat)} probes)",
            ),
            (f"{name}: REST push, batches of 1,000", span(push) + " visits/s", "≥ 10,000/s"),
        ]
    finally:
        store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    os.environ["HOSPIFLOW_PSEUDONYM_KEY"] = KEY
    load_start = os.getloadavg()
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="hospiflow-feeds-bench-") as folder:
        rows += backend("SQLite", f"sqlite:///{folder}/feeds.db", args, Path(folder))
        if not args.sqlite_only:
            admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            name = f"hospiflow_feeds_{uuid.uuid4().hex[:8]}"
            with admin.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {name}")
            try:
                url = sa.make_url(args.postgres).set(database=name)
                rows += backend(
                    "PostgreSQL", url.render_as_string(hide_password=False), args, Path(folder)
                )
            finally:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.dispose()
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'result':<44}  goal")
    print("-" * (width + 70))
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:<44}  {goal}")
    load_end = os.getloadavg()
    print(
        f"\nload average (1 min) at start {load_start[0]:.1f}, at end {load_end[0]:.1f} "
        f"on {os.cpu_count()} cores: the machine is shared, rates are noisy"
    )


if __name__ == "__main__":
    main()
