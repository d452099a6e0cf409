"""A live run under faults: a long lock, a killed writer process.

Real SQLite files, a real ``hospiflow live`` process killed with SIGKILL, the
real Flask app for ``/health`` and the SSE stream.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hospiflow.live import LiveService
from hospiflow.runner import live_scenario
from hospiflow.simulation.scenario import load_scenario
from hospiflow.store import engine as store_engine
from hospiflow.store import migrate, sink
from hospiflow.store.engine import create_engine_for, sqlite_url
from hospiflow.store.runs import reap_orphans
from hospiflow.web.app import state

API = "/api/v1"


def _events(path: Path, run_id: int) -> int:
    with sqlite3.connect(path, timeout=30) as connection:
        row = connection.execute("SELECT events_count FROM runs WHERE id = ?", (run_id,)).fetchone()
    return int(row[0])


def _row(path: Path, run_id: int) -> tuple[Any, ...]:
    with sqlite3.connect(path, timeout=30) as connection:
        return connection.execute(
            "SELECT status, error, events_count FROM runs WHERE id = ?", (run_id,)
        ).fetchone()


def _wait(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _hold_lock(path: Path, seconds: float) -> None:
    """Another process's long write transaction: BEGIN EXCLUSIVE held ``seconds``."""
    other = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        other.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        other.execute("ROLLBACK")
    finally:
        other.close()


def _live(path: Path) -> LiveService:
    scenario = live_scenario(load_scenario("default").replace(seed=5))
    service = LiveService(sqlite_url(path), scenario, speed=3600.0, forecast=False)
    service.start()
    return service


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite gives up on a lock after 0.2 s (15 s in production): the same fault, sooner."""
    monkeypatch.setitem(store_engine.SQLITE_PRAGMAS, "busy_timeout", 200)


def test_live_run_survives_a_lock_longer_than_busy_timeout(
    tmp_path: Path, short_busy_timeout: None, make_app: Callable[..., Any]
) -> None:
    path = tmp_path / "live.db"
    migrate.init(sqlite_url(path))
    service = _live(path)
    try:
        run_id = service.run_id
        assert run_id is not None
        _wait(lambda: _events(path, run_id) > 0, 30, "the first events")
        _hold_lock(path, 1.5)  # 7x the busy timeout: every batch meets the lock
        released = _events(path, run_id)
        _wait(lambda: _events(path, run_id) > released, 30, "writes after the lock")
        assert service.error is None and service.thread is not None
        assert service.thread.is_alive()
        app = make_app(sqlite_url(path))
        state(app).live = service
        health = app.test_client().get(API + "/health").get_json()
        assert health["live_run_id"] == run_id and health["live_error"] is None
    finally:
        service.stop()
    assert _row(path, run_id)[0] == "complete"


def test_health_reports_a_dead_live_run(
    tmp_path: Path,
    short_busy_timeout: None,
    make_app: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sink, "LOCK_RETRY_SECONDS", 0.5)  # a lock that outlasts every retry
    path = tmp_path / "live.db"
    migrate.init(sqlite_url(path))
    service = _live(path)
    try:
        run_id = service.run_id
        _wait(lambda: _events(path, run_id) > 0, 30, "the first events")
        app = make_app(sqlite_url(path))
        state(app).live = service
        assert app.test_client().get(API + "/health").get_json()["live_run_id"] == run_id
        _hold_lock(path, 2.5)
        _wait(lambda: service.failure is not None, 30, "the live run to die")
        health = app.test_client().get(API + "/health").get_json()
        assert health["live_run_id"] is None
        assert f"live run {run_id} failed" in health["live_error"]
    finally:
        service.stop()


def test_killed_live_process_leaves_no_run_running_forever(
    tmp_path: Path, make_app: Callable[..., Any]
) -> None:
    path = tmp_path / "live.db"
    command = [sys.executable, "-m", "hospiflow.cli"]
    subprocess.run([*command, "db", "init", "--db", str(path)], check=True, capture_output=True)
    process = subprocess.Popen(
        [*command, "live", "--db", str(path), "--speed", "3600", "--for", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _row(path, 1) is not None and _row(path, 1)[2] > 0, 60, "the live run")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    assert _row(path, 1)[0] == "running"  # what kill -9 leaves behind
    status = subprocess.run(
        [*command, "db", "status", "--db", str(path)], capture_output=True, text=True, check=True
    )
    assert "orphaned" in status.stdout
    # the SSE stream of the orphan ends instead of waiting forever
    body = make_app(sqlite_url(path)).test_client().get(API + "/runs/1/stream")
    assert b"event: end" in body.data and b'"status":"failed"' in body.data
    engine = create_engine_for(sqlite_url(path))
    try:
        with engine.begin() as connection:
            assert reap_orphans(connection) == [1]
        with engine.begin() as connection:
            assert reap_orphans(connection) == []
    finally:
        engine.dispose()
    status_after, error, _events_count = _row(path, 1)
    assert status_after == "failed" and "gone" in error


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_live(command: list[str], path: Path, stderr: int) -> subprocess.Popen[bytes]:
    port = str(_free_port())
    return subprocess.Popen(
        [*command, "serve", "--db", str(path), "--port", port, "--continue-from", "1"]
        + ["--speed", "3600"],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def _trace(path: Path, run_id: int, before_ms: int) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path, timeout=30) as connection:
        return connection.execute(
            "SELECT time_ms, kind, patient_no, doctor_idx FROM events"
            " WHERE run_id = ? AND time_ms < ? ORDER BY time_ms, kind, patient_no, doctor_idx",
            (run_id, before_ms),
        ).fetchall()


def test_serve_continue_from_resumes_the_live_run_a_kill_interrupted(tmp_path: Path) -> None:
    """kill -9 of ``serve --continue-from 1``, then the same command: the same run carries on.

    The resumed run's trace has no duplicate and no gap: it equals, event for
    event, the same scenario simulated without interruption.
    """
    from hospiflow.simulation.engine import Engine
    from hospiflow.simulation.scenario import scenario_from_dict
    from hospiflow.store import StoreSink

    path = tmp_path / "live.db"
    command = [sys.executable, "-m", "hospiflow.cli"]
    subprocess.run(
        [*command, "simulate", "--db", str(path), "--days", "2", "--seed", "3", "--no-reports"]
        + ["--warmup-days", "1", "--quiet"],
        check=True,
        capture_output=True,
    )
    first = _serve_live(command, path, subprocess.DEVNULL)
    try:

        def clocked() -> bool:
            with sqlite3.connect(path, timeout=30) as connection:
                row = connection.execute("SELECT clock_min FROM runs WHERE id = 2").fetchone()
            return row is not None and row[0] is not None and row[0] > 120

        _wait(clocked, 90, "two simulated hours of the live run")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    assert _row(path, 2)[0] == "running"  # what kill -9 leaves behind
    with sqlite3.connect(path, timeout=30) as connection:
        killed_events = connection.execute(
            "SELECT COUNT(*) FROM events WHERE run_id = 2"
        ).fetchone()
        (killed_clock,) = connection.execute("SELECT clock_min FROM runs WHERE id = 2").fetchone()

    second = _serve_live(command, path, subprocess.PIPE)
    try:
        _wait(lambda: _events(path, 2) > killed_events[0] + 200, 90, "the resumed run to write")
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()
    assert b"was interrupted: it carries on" in err
    with sqlite3.connect(path, timeout=30) as connection:
        runs = connection.execute("SELECT id, kind, status FROM runs ORDER BY id").fetchall()
        (parameters,) = connection.execute("SELECT parameters FROM runs WHERE id = 2").fetchone()
        (last_ms,) = connection.execute(
            "SELECT MAX(time_ms) FROM events WHERE run_id = 2"
        ).fetchone()
    assert runs == [(1, "simulation", "complete"), (2, "live", "complete")]  # no second run

    # the same scenario, uninterrupted, in another store
    import json

    scenario = scenario_from_dict(json.loads(parameters), where="test")
    reference_path = tmp_path / "reference.db"
    reference = StoreSink(sqlite_url(reference_path), scenario.load_catalog(), kind="live")
    engine = Engine(scenario, [reference])
    engine.advance_to(killed_clock + 24 * 60.0)
    engine.finish()
    with sqlite3.connect(reference_path) as connection:
        (reference_last,) = connection.execute("SELECT MAX(time_ms) FROM events").fetchone()
    assert reference_last > last_ms  # the reference covers the whole resumed run
    resumed = _trace(path, 2, last_ms)
    assert len(resumed) >= killed_events[0] + 200
    assert resumed == _trace(reference_path, 1, last_ms)
