"""Store fixtures: hand-made runs (the ``url`` and ``engine`` fixtures, on a real
SQLite file and on PostgreSQL, are in ``tests/conftest.py``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

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
