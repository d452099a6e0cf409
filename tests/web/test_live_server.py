"""A real server (waitress on a free port) streaming a live run over Server-Sent Events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from click.testing import CliRunner

from hospiflow.catalog.loader import load_catalog
from hospiflow.cli import main
from hospiflow.live import LiveService, live_run_scenario
from hospiflow.simulation.events import DoctorInfo, Event, EventKind, RunInfo
from hospiflow.store import StoreSink, schema
from hospiflow.store.engine import connect


class SseClient:
    """A minimal EventSource: reads messages from a streaming response in a thread."""

    def __init__(self, url: str, last_event_id: int | None = None) -> None:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.session = requests.Session()
        self.response = self.session.get(url, headers=headers, stream=True, timeout=10)
        assert self.response.status_code == 200
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        self.messages: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line == "":
                    if "data" in fields:
                        self.messages.append({**fields, "received": time.monotonic()})
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.lstrip(" ")
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed by the test

    def traces(self) -> list[dict[str, Any]]:
        return [
            {**json.loads(m["data"]), "sse_id": int(m["id"]), "received": m["received"]}
            for m in list(self.messages)
            if m.get("event") == "trace"
        ]

    def wait_for(self, predicate, seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; got {len(self.messages)} messages")

    def close(self) -> None:
        self.response.close()
        self.session.close()
        self.thread.join(5)


def _run_event_ids(url: str, run_id: int) -> list[int]:
    e = schema.events
    with connect(url) as connection:
        rows = connection.execute(sa.select(e.c.id).where(e.c.run_id == run_id).order_by(e.c.id))
        return [row.id for row in rows]


def test_stream_delivers_live_events_and_resumes_without_loss(make_app, serve, private_store):
    """An SSE client sees a live run's arrivals; reconnecting with Last-Event-ID loses nothing."""
    scenario, label = live_run_scenario(private_store, continue_from=1)
    service = LiveService(private_store, scenario, speed=3600.0, label=label)
    run_id = service.start()
    try:
        server = serve(make_app(private_store))
        url = f"{server.url}/api/v1/runs/{run_id}/stream"
        first = SseClient(url)
        first.wait_for(lambda c: sum(t["kind"] == "arrival" for t in c.traces()) >= 3)
        first.wait_for(lambda c: any(m.get("event") == "state" for m in c.messages))
        first.close()
        received = first.traces()
        # events keep being written while nobody listens: wait for 20 more in the store
        unseen = received[-1]["sse_id"]
        e = schema.events
        deadline = time.monotonic() + 30
        while True:
            with connect(private_store) as connection:
                newer = connection.execute(
                    sa.select(sa.func.count()).where(e.c.run_id == run_id, e.c.id > unseen)
                ).scalar_one()
            if newer >= 20:
                break
            assert time.monotonic() < deadline, "the live run wrote nothing while unwatched"
            time.sleep(0.05)
        second = SseClient(url, last_event_id=received[-1]["sse_id"])
        second.wait_for(lambda c: len(c.traces()) >= 30)
        second.close()
    finally:
        service.stop()
    ids = [t["sse_id"] for t in received + second.traces()]
    stored = _run_event_ids(private_store, run_id)
    start = stored.index(ids[0])
    assert ids == stored[start : start + len(ids)]  # same rows, same order, no gap
    assert all(t["id"] == t["sse_id"] for t in received)
    with connect(private_store) as connection:
        runs = schema.runs
        row = connection.execute(sa.select(runs).where(runs.c.id == run_id)).one()
    assert row.kind == "live" and row.status == "complete"


def test_new_arrival_reaches_the_client_within_a_second(make_app, serve, private_store):
    """An arrival committed to the store is on the client within 1 s."""
    catalog = load_catalog(None)
    run = RunInfo(
        start_utc=datetime(2025, 6, 1, tzinfo=UTC),
        timezone="Europe/Paris",
        days=1.0,
        seed=1,
        specialties=catalog.specialty_codes,
        pathologies=catalog.pathology_codes,
        doctors=(DoctorInfo("GM-01", 0, "day"),),
        snapshot_step_min=60.0,
    )
    sink = StoreSink(private_store, catalog, kind="live")
    sink.open(run)
    try:
        server = serve(make_app(private_store))
        client = SseClient(f"{server.url}/api/v1/runs/{sink.run_id}/stream")
        client.wait_for(lambda c: bool(c.messages))  # connected: the first state
        latencies = []
        for i in range(5):
            sink.write_events([Event(float(i), int(EventKind.ARRIVAL), i, 0, 0, -1)])
            sink.flush()
            committed = time.monotonic()
            client.wait_for(lambda c, n=i + 1: len(c.traces()) >= n, seconds=5)
            latencies.append(client.traces()[i]["received"] - committed)
            time.sleep(0.1)
        client.close()
    finally:
        sink.close(None)
    assert max(latencies) < 1.0, latencies


def test_live_command_continues_a_history_run(private_store) -> None:
    """`hospiflow live --continue-from` writes a complete live run starting where history ends."""
    result = CliRunner().invoke(
        main,
        ["live", "--database-url", private_store, "--continue-from", "1", "--speed", "3600"]
        + ["--for", "1.5"],
    )
    assert result.exit_code == 0, result.output
    with connect(private_store) as connection:
        runs = schema.runs
        history, live = connection.execute(sa.select(runs).order_by(runs.c.id)).all()
    assert live.kind == "live" and live.status == "complete"
    assert live.start_utc_ms == history.end_utc_ms
    assert live.events_count > 0


def test_serve_command_runs_live_and_stops_cleanly(private_store, tmp_path, port) -> None:
    """`hospiflow serve --live` answers on its port and ends the live run cleanly on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSPIFLOW_")}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "hospiflow"), "serve", "--database-url", private_store]
        + ["--port", str(port), "--live", "--speed", "600"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and health is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).json()
            except requests.ConnectionError:
                time.sleep(0.2)
        assert health is not None and health["live_run_id"] == 2
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    with connect(private_store) as connection:
        runs = schema.runs
        status = connection.execute(sa.select(runs.c.status).where(runs.c.id == 2)).scalar()
    assert status == "complete"
