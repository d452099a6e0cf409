"""``hospiflow replay``: a site's stored day re-sent through MLLP and REST as if it were now,
into another site; the visits, their stays and dispositions come out the same."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from mllp_helpers import listening
from werkzeug.serving import make_server

from hospiflow.cli import main
from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Disposition, VisitRecord
from hospiflow.store import schema, sites

PARIS = ZoneInfo("Europe/Paris")
DAY = datetime(2025, 3, 10, tzinfo=PARIS)


def history() -> list[VisitRecord]:
    """Six visits of one morning: stays of 1 to 3 h, every fourth admitted."""
    out = []
    for n in range(6):
        arrival = DAY + timedelta(hours=8, minutes=10 * n)
        out.append(
            VisitRecord(
                arrival=arrival,
                visit_id=f"H{n}",
                patient_id=f"P{n}",
                first_seen=arrival + timedelta(minutes=15),
                departure=arrival + timedelta(hours=1 + n % 3),
                disposition=Disposition.ADMITTED if n % 4 == 0 else Disposition.DISCHARGED,
                diagnosis="J18.9",
                age_years=60,
            )
        )
    return out


def _same(replayed: list[tuple], original: list[tuple], speed: float, seconds: float) -> None:
    """The replayed visits are the originals, their times divided by ``speed`` (to within
    ``seconds`` of the replay's clock: HL7 times are to the second).

    Compressed arrivals share a second, so the replayed order by arrival is not the
    original's: both sides are paired by disposition, code and stay (stays differ by 60
    minutes, far more than the clock's error of ``seconds * speed`` seconds)."""
    assert len(replayed) == len(original) == 6

    def key(row: tuple) -> tuple:
        los, _wait, disposition, code = row
        return (disposition, code, los)

    pairs = zip(
        sorted(replayed, key=lambda r: key((r[0] * speed, *r[1:]))),
        sorted(original, key=key),
        strict=True,
    )
    for (los, wait, disposition, code), (los0, wait0, disposition0, code0) in pairs:
        assert (disposition, code) == (disposition0, code0)
        assert abs(los * speed - los0) <= seconds * speed / 60
        assert abs(wait * speed - wait0) <= seconds * speed / 60


def _stays(engine: sa.Engine, site_id: int) -> list[tuple]:
    with engine.connect() as connection:
        run_id = connection.execute(
            sa.select(schema.sites.c.run_id).where(schema.sites.c.id == site_id)
        ).scalar()
        v = schema.visits
        rows = connection.execute(
            sa.select(v.c.los_min, v.c.wait_min, v.c.disposition, v.c.icd10)
            .where(v.c.run_id == run_id)
            .order_by(v.c.arrival_ms)
        )
        return [tuple(r) for r in rows]


@pytest.fixture
def source(engine, site) -> dict:
    with engine.begin() as connection:
        target = sites.create_site(connection, "Démo", "Europe/Paris")
    import_items(engine, site["id"], history(), format="csv", allow_future=False)
    return target


@pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)
def test_replay_through_mllp(engine, site, source, url) -> None:
    with listening(engine, source["id"]) as listener:
        result = CliRunner().invoke(
            main,
            ["replay", "--site", site["name"], "--from", "2025-03-10", "--days", "1"]
            + ["--speed", "1440", "--to", f"mllp://127.0.0.1:{listener.port}"]
            + ["--database-url", url],
        )
    assert result.exit_code == 0, result.output
    assert "sent 20, refused 0" in result.output  # A04, A08, A03 each, and 2 A01
    _same(_stays(engine, source["id"]), _stays(engine, site["id"]), 1440, 1.0)


@pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)
def test_replay_through_rest(engine, site, source, url, make_app) -> None:
    app = make_app(url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = CliRunner().invoke(
            main,
            ["replay", "--site", str(site["id"]), "--from", "2025-03-10", "--speed", "2880"]
            + ["--to", f"http://127.0.0.1:{server.server_port}", "--target-site"]
            + [str(source["id"]), "--database-url", url],
            env={"HOSPIFLOW_API_TOKEN": site["admin"]["Authorization"].split()[1]},
        )
    finally:
        server.shutdown()
        thread.join(10)
    assert result.exit_code == 0, result.output
    assert "refused 0" in result.output
    _same(_stays(engine, source["id"]), _stays(engine, site["id"]), 2880, 0.6)
