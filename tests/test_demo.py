"""The README's main command: ``hospiflow demo`` builds history, goes live and serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_builds_history_then_serves_a_live_run(tmp_path: Path) -> None:
    """`hospiflow demo` stores a history run, serves the dashboard and runs live from it."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "hospiflow.cli",
        "demo",
        "--db",
        "demo.db",
        "--days",
        "3",
        "--port",
        str(port),
        "--speed",
        "600",
    ]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        runs: list[dict] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                runs = requests.get(f"{base}/api/v1/runs", timeout=2).json()["runs"]
                if any(r["kind"] == "live" for r in runs):
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        kinds = {(r["kind"], r["status"]) for r in runs}
        assert ("simulation", "complete") in kinds
        assert ("live", "running") in kinds
        page = requests.get(f"{base}/", timeout=5)
        assert page.status_code == 200 and "hospiflow" in page.text
        assert (tmp_path / "reports" / "treatments.csv").is_file()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert f"http://localhost:{port}/" in output
