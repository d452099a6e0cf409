"""Store fixtures: every test runs on a real SQLite file and on PostgreSQL.

Each PostgreSQL test gets an empty ``public`` schema in a database created for
this session (``postgres_databases`` in ``tests/conftest.py``: skipped without
a server, failed under ``CI=true``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from hospiflow.catalog.loader import load_catalog
from hospiflow.catalog.models import Catalog
from hospiflow.simulation.events import (
    Disposition,
    DoctorInfo,
    Event,
    EventKind,
    RunInfo,
    Snapshot,
    Visit,
)
from hospiflow.store import migrate
from hospiflow.store.engine import create_engine_for

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_database(postgres_databases: Callable[[str], str]) -> str:
    """A database of its own for this test session (dropped at the end)."""
    return postgres_databases("hospiflow_test")


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty database: a temp SQLite file, or a clean PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = request.getfixturevalue("postgres_database")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def url(empty_url: str) -> str:
    """The URL of a database with the current schema."""
    migrate.init(empty_url)
    return empty_url


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    """A writer engine on ``url``, disposed after the test."""
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(None)


def _small_run(catalog: Catalog, days: float = 2.0) -> RunInfo:
    """A hand-made run over the whole catalog with two doctors."""
    return RunInfo(
        start_utc=datetime(2025, 3, 29, 23, 0, tzinfo=UTC),  # Paris midnight, DST next night
        timezone="Europe/Paris",
        days=days,
        seed=1,
        specialties=catalog.specialty_codes,
        pathologies=catalog.pathology_codes,
        doctors=(DoctorInfo("GM-01", 0, "day"), DoctorInfo("CA-01", 1, "night")),
        snapshot_step_min=60.0,
        parameters={"note": "hand-made"},
    )


def _hand_records(n: int = 10) -> tuple[list[Event], list[Snapshot], list[Visit]]:
    """``n`` patients ten minutes apart; every third leaves without being seen."""
    events: list[Event] = []
    visits: list[Visit] = []
    for p in range(n):
        arrival = 10.0 * p + 1.5
        events.append(Event(arrival, int(EventKind.ARRIVAL), p, 0, 0, -1))
        if p % 3 == 2:
            visits.append(Visit(p, 0, 0, -1, arrival, math.nan, math.nan, arrival + 7.0, 4))
        else:
            start, end = arrival + 2.0, arrival + 9.0
            visits.append(Visit(p, 0, 0, 0, arrival, start, end, end, int(Disposition.DISCHARGED)))
    snapshots = [Snapshot(60.0 * h, s, h, 1, 2, 1) for h in range(3) for s in range(8)]
    return events, snapshots, visits


@pytest.fixture
def small_run():
    """Factory: a hand-made ``RunInfo`` for a catalog."""
    return _small_run


@pytest.fixture
def hand_records():
    """Factory: hand-made events, snapshots and visits for ``small_run``."""
    return _hand_records


@pytest.fixture(autouse=True)
def no_writer_thread_left() -> Iterator[None]:
    """Every ``StoreSink`` writer thread ends with its sink (``close`` joins it)."""
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("hospiflow-store-writer")]
    assert not left, f"writer threads outlived their sinks: {left}"
