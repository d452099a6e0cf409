"""Who is in the department at an instant, longest present first: the list a night
manager acts on (pseudonymous number, pathology, specialty, acuity when known, arrival).

Two sources, one answer:

* a site's observed run: the visits present at the instant, by the census rule
  (:func:`hospiflow.store.census.present_where`: arrived, not yet gone, open visits
  only if recent), oldest arrival first, one indexed statement;
* a simulated run (live or complete): its visits are written only when patients
  leave, so presence comes from the trace: arrivals in the ``WINDOW_MS`` before the
  instant with no departure or abandonment at or before it. Acuity is read from the
  visits when they are already written (a complete run); a patient still in a live
  run has none yet (null: not known). Patients of the simulation's warm-up have no
  arrival in the trace and are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.records import EventKind
from hospiflow.store import census, schema
from hospiflow.store.timeconv import MS_PER_HOUR

__all__ = ["PresentPatient", "WINDOW_MS", "longest_present"]

WINDOW_MS = 72 * MS_PER_HOUR  # the importer's longest stay; a simulated stay is shorter
_GONE = (int(EventKind.DEPARTURE), int(EventKind.ABANDONMENT))


@dataclass(frozen=True)
class PresentPatient:
    patient_no: int
    arrival_ms: int
    pathology_idx: int | None
    specialty_idx: int | None
    acuity: int | None


def longest_present(
    connection: Connection, run_id: int, at_ms: int, limit: int, *, observed: bool
) -> tuple[list[PresentPatient], int]:
    """The ``limit`` patients present longest at ``at_ms``, and how many are present."""
    if observed:
        return _observed(connection, run_id, at_ms, limit)
    return _simulated(connection, run_id, at_ms, limit)


def _observed(
    connection: Connection, run_id: int, at_ms: int, limit: int
) -> tuple[list[PresentPatient], int]:
    v = schema.visits
    where = census.present_where(connection, run_id, at_ms)
    if where is None:
        return [], 0
    count = int(connection.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
    stmt = (
        sa.select(v.c.patient_no, v.c.arrival_ms, v.c.pathology_idx, v.c.specialty_idx, v.c.acuity)
        .where(*where)
        .order_by(v.c.arrival_ms, v.c.id)
        .limit(limit)
    )
    rows = [
        PresentPatient(int(no), int(arrival), _int(pathology), _int(specialty), _int(acuity))
        for no, arrival, pathology, specialty, acuity in connection.execute(stmt)
    ]
    return rows, count


def _int(value: int | None) -> int | None:
    return None if value is None else int(value)


def _simulated(
    connection: Connection, run_id: int, at_ms: int, limit: int
) -> tuple[list[PresentPatient], int]:
    e = schema.events
    stmt = (
        sa.select(e.c.time_ms, e.c.kind, e.c.patient_no, e.c.pathology_idx, e.c.specialty_idx)
        .where(
            e.c.run_id == run_id,
            e.c.time_ms >= at_ms - WINDOW_MS,
            e.c.time_ms <= at_ms,
            e.c.kind.in_((int(EventKind.ARRIVAL), *_GONE)),
        )
        .order_by(e.c.time_ms, e.c.id)
    )
    here: dict[int, tuple[int, int | None, int | None]] = {}
    for time_ms, kind, patient, pathology, specialty in connection.execute(stmt):
        if patient is None:
            continue
        if kind == EventKind.ARRIVAL:
            here[int(patient)] = (int(time_ms), pathology, specialty)
        else:
            here.pop(int(patient), None)
    longest = sorted(here.items(), key=lambda item: (item[1][0], item[0]))[:limit]
    acuity = _acuity(connection, run_id, longest)
    rows = [
        PresentPatient(no, arrival, pathology, specialty, acuity.get(no))
        for no, (arrival, pathology, specialty) in longest
    ]
    return rows, len(here)


def _acuity(
    connection: Connection,
    run_id: int,
    patients: list[tuple[int, tuple[int, int | None, int | None]]],
) -> dict[int, int]:
    """Acuity of those patients whose visit is already written (a range of arrivals)."""
    if not patients:
        return {}
    v = schema.visits
    arrivals = [arrival for _no, (arrival, _p, _s) in patients]
    stmt = sa.select(v.c.patient_no, v.c.acuity).where(
        v.c.run_id == run_id,
        v.c.arrival_ms >= min(arrivals),
        v.c.arrival_ms <= max(arrivals),
        v.c.patient_no.in_([no for no, _ in patients]),
        v.c.acuity.is_not(None),
    )
    return {int(no): int(a) for no, a in connection.execute(stmt)}
