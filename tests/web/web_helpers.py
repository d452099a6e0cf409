"""What the web tests share besides fixtures: the store's token, a short simulated run, a
free port and a waitress server in a thread.

A module of its own, not ``conftest``: ``from conftest import ...`` picks whichever
``conftest`` pytest imported last, which depends on the folders on the command line.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import migrate

TOKEN = "s3cret-token"
DAYS = 7


def simulate_into(url: str, days: float = DAYS, **changes: Any) -> int:
    """Write a short default-hospital run into ``url``; its run id."""
    migrate.init(url)
    scenario = default_scenario(days=float(days), warmup_days=1.0, seed=11, **changes)
    outcome = simulate_run(scenario, database_url=url)
    assert outcome.run_id is not None
    return outcome.run_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """waitress serving an app on a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        from hospiflow.web.server import make_server

        self.app = app
        self.server = make_server(app, host="127.0.0.1", port=free_port(), threads=16)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except OSError:
            # close() from the test's thread can pull a socket from under the loop's
            # select (EBADF): expected once closing, an error before
            if not self.closing:
                raise

    def wait_idle(self, seconds: float = 5.0) -> None:
        """Wait until every connection is closed (a test that dropped some, before teardown)."""
        import time

        deadline = time.monotonic() + seconds
        while len(self.server._map) > 2 and time.monotonic() < deadline:  # listener + trigger
            time.sleep(0.02)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.closing = True
        self.server.close()
        self.thread.join(10)
        self.server.task_dispatcher.shutdown()
