"""The MLLP listener as a real process on 127.0.0.1: killed with SIGKILL mid-stream and
restarted, every message is applied exactly once; bad input, oversized messages, slow
senders and extra connections are refused with a logged reason while others go on."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from mllp_helpers import adt, listening, recent

from hospiflow.feeds.client import MllpClient, ack_code
from hospiflow.feeds.mllp import Limits
from hospiflow.store import schema

MESSAGES = 10_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_listener(url: str, site: str, port: int, log: Path) -> subprocess.Popen:
    """``hospiflow ingest mllp`` in a process of its own; returns once it listens."""
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "hospiflow.cli", "ingest", "mllp", "--site", site]
            + ["--port", str(port), "--database-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the listener did not start")


@pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)
def test_kill_minus_nine_loses_and_doubles_nothing(tmp_path, site, engine) -> None:
    """5,000 visits as A04 + A03 (10,000 messages) on one connection; SIGKILL after 3,000
    ACKs; the sender retransmits what had no ACK to the restarted listener (SQLite: the
    PostgreSQL path is the same code, and the benchmark streams through it)."""
    db_url = engine.url.render_as_string(hide_password=False)
    port = free_port()
    log = tmp_path / "listener.log"
    process = start_listener(db_url, site["name"], port, log)
    start = recent(600)
    messages = []
    for n in range(MESSAGES // 2):
        arrival = start + timedelta(seconds=5 * n)
        messages.append(adt("A04", f"K{n}A", f"KV{n}", arrival, arrival=arrival))
        messages.append(adt("A03", f"K{n}D", f"KV{n}", arrival + timedelta(hours=1)))
    acked = 0
    killed = threading.Event()
    with MllpClient("127.0.0.1", port, retry_seconds=60) as client:
        for number, message in enumerate(messages):
            if number == 3_000:
                os.kill(process.pid, signal.SIGKILL)  # mid-stream: a message may be in flight
                process.wait()
                killed.set()
                process = start_listener(db_url, site["name"], port, log)
            code, _text = client.send(message)
            assert code == "AA"
            acked += 1
        retransmitted = client.retransmitted
    process.send_signal(signal.SIGINT)
    process.wait(10)
    assert killed.is_set() and acked == MESSAGES
    assert retransmitted >= 1
    with engine.connect() as connection:
        run_id = connection.execute(
            sa.select(schema.sites.c.run_id).where(schema.sites.c.id == site["id"])
        ).scalar()
        v, m, r = schema.visits, schema.feed_messages, schema.runs
        visits = connection.execute(
            sa.select(sa.func.count(), sa.func.count(v.c.departure_ms)).where(v.c.run_id == run_id)
        ).one()
        taken = connection.execute(sa.select(sa.func.count()).select_from(m)).scalar()
        counted = connection.execute(sa.select(r.c.visits_count).where(r.c.id == run_id)).scalar()
        los = connection.execute(sa.select(sa.func.min(v.c.los_min), sa.func.max(v.c.los_min)))
        assert los.one() == (60.0, 60.0)
    assert tuple(visits) == (MESSAGES // 2, MESSAGES // 2)  # none lost, none doubled
    assert taken == MESSAGES  # every control id once
    assert counted == MESSAGES // 2  # the run's counter was not bumped twice


def test_bad_input_is_refused_and_others_go_on(engine, site, caplog) -> None:
    caplog.set_level(logging.INFO, logger="hospiflow.feeds.mllp")
    limits = Limits(max_connections=3, max_message_bytes=1_000_000, message_seconds=0.5)
    when = recent(30)
    with listening(engine, site["id"], limits) as listener:
        port = listener.port
        good = MllpClient("127.0.0.1", port)
        assert good.send(adt("A04", "G1", "GV1", when, arrival=when))[0] == "AA"
        # a 10 MB message: AR, then the connection is closed
        big = MllpClient("127.0.0.1", port)
        huge = adt("A04", "BIG", "BV", when, arrival=when) + b"NTE|1||" + b"x" * 10_000_000
        try:
            code, text = ack_code(big.exchange(huge))
            assert code == "AR" and "over 1000000 bytes" in text
            big.exchange(adt("A04", "B2", "BV2", when))  # closed by now
            raise AssertionError("the connection stayed open after a 10 MB message")
        except OSError:
            pass  # closed, possibly while we were still sending: the log says why
        big.close()
        # a slow sender: a start byte and a few bytes, then nothing
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"\x0bMSH|^~\\&|")
        slow.settimeout(5)
        assert slow.recv(100) == b""  # closed after message_seconds
        slow.close()
        # over the connection limit: closed at once; the others still work
        extra = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        time.sleep(0.2)
        extra[-1].settimeout(5)
        assert extra[-1].recv(10) == b""
        for sock in extra:
            sock.close()
        time.sleep(0.2)
        assert good.send(adt("A04", "G2", "GV2", when, arrival=when))[0] == "AA"
        good.close()
    text = caplog.text
    assert "a message over 1000000 bytes" in text
    assert "slow sender" in text
    assert "connections open (limit 3)" in text
