"""kill -9 in the middle of an import: the site stays as it was, and a re-run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import sqlalchemy as sa

from hospiflow.ingest.pipeline import import_items
from hospiflow.records import VisitRecord
from hospiflow.store import schema, sites

KEY = "kill-test-key-long-enough"

IMPORTER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timedelta
    from pathlib import Path
    from zoneinfo import ZoneInfo
    from hospiflow.ingest.pipeline import import_items
    from hospiflow.records import VisitRecord
    from hospiflow.store.engine import create_engine_for

    url, ready, total = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    t0 = datetime(2025, 1, 6, tzinfo=ZoneInfo("Europe/Paris"))

    def records():
        for i in range(total):
            if i == total // 2:
                ready.write_text("half")  # the parent kills us from here on
                time.sleep(30)
            arrival = t0 + timedelta(minutes=7 * i)
            yield VisitRecord(arrival=arrival, visit_id=f"K{i}", patient_id=f"P{i % 997}",
                              departure=arrival + timedelta(hours=3), diagnosis="S52.5")

    import_items(create_engine_for(url), "Kill", records(), format="test")
    print("finished")
    """
)


def records(total: int) -> list[VisitRecord]:
    """The same visits as the child process yields."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    t0 = datetime(2025, 1, 6, tzinfo=ZoneInfo("Europe/Paris"))
    out = []
    for i in range(total):
        arrival = t0 + timedelta(minutes=7 * i)
        out.append(
            VisitRecord(
                arrival=arrival,
                visit_id=f"K{i}",
                patient_id=f"P{i % 997}",
                departure=arrival + timedelta(hours=3),
                diagnosis="S52.5",
            )
        )
    return out


def test_kill_9_during_an_import_leaves_the_site_as_before(engine, url, tmp_path, monkeypatch):
    """A real process killed with SIGKILL mid-import: no visit of it visible; re-run completes."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", KEY)
    with engine.begin() as connection:
        sites.create_site(connection, "Kill", "Europe/Paris")
    before = import_items(engine, "Kill", records(40)[:40], format="test")
    assert before.imported == 40
    ready = tmp_path / "ready"
    total = 30_000
    log = tmp_path / "child.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", IMPORTER, url, str(ready), str(total)],
            env={**os.environ, "HOSPIFLOW_PSEUDONYM_KEY": KEY},
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the importer never reached half way"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    with engine.connect() as connection:
        n = connection.execute(sa.select(sa.func.count()).select_from(schema.visits)).scalar_one()
        batches = connection.execute(sa.select(sa.func.count()).select_from(schema.import_batches))
        assert batches.scalar_one() == 1  # only the import before the kill
    assert n == 40  # half of 30,000 had been written inside the open transaction: none visible
    again = import_items(engine, "Kill", records(total), format="test")
    assert (again.imported, again.duplicates) == (total - 40, 40)
    with engine.connect() as connection:
        n = connection.execute(sa.select(sa.func.count()).select_from(schema.visits)).scalar_one()
    assert n == total
