"""A run's trace as it grows: what live readers (the SSE stream, "now") poll.

Same conventions as ``queries``: an open (read-only) ``Connection``, UTC
epoch ms, plain rows back, each statement served by an index:

* ``data_end_ms`` / ``newest_event_ms`` — the newest state sample and trace
  row of a run (``ix_snapshots_time``, ``ix_events_time``: one index probe
  each): where a running or live run's data end;
* ``last_event_id`` / ``events_after`` — the newest trace row, and the trace
  after a row id (the primary key, = commit order): what the stream polls;
* ``recent_patient_events`` — arrivals, treatment starts and abandonments in
  a window (``ix_events_time``), from which who is waiting right now is
  derived (visits are only written when patients leave).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.records import EventKind
from hospiflow.store import schema

PATIENT_KINDS = (int(EventKind.ARRIVAL), int(EventKind.TREATMENT_START), int(EventKind.ABANDONMENT))

e = schema.events
s = schema.state_snapshots


def data_end_ms(connection: Connection, run_id: int) -> int | None:
    """Time of the run's newest state sample (None before the first one)."""
    stmt = sa.select(sa.func.max(s.c.time_ms)).where(s.c.run_id == run_id)
    return connection.execute(stmt).scalar()


def newest_event_ms(connection: Connection, run_id: int) -> int | None:
    """Time of the run's newest trace row (None before the first one)."""
    return connection.execute(
        sa.select(sa.func.max(e.c.time_ms)).where(e.c.run_id == run_id)
    ).scalar()


def last_event_id(connection: Connection, run_id: int) -> int:
    """The id of the run's newest trace row, 0 if it has none."""
    stmt = sa.select(sa.func.max(e.c.id)).where(e.c.run_id == run_id)
    return connection.execute(stmt).scalar() or 0


def recent_patient_events(
    connection: Connection, run_id: int, start_ms: int, end_ms: int
) -> list[tuple[int, int, int, int | None, int | None, int]]:
    """Arrivals, treatment starts and abandonments in ``[start_ms, end_ms]``, oldest first.

    Rows are ``(time_ms, kind, patient_no, pathology_idx, specialty_idx, id)``.
    """
    stmt = (
        sa.select(
            e.c.time_ms, e.c.kind, e.c.patient_no, e.c.pathology_idx, e.c.specialty_idx, e.c.id
        )
        .where(
            e.c.run_id == run_id,
            e.c.time_ms >= start_ms,
            e.c.time_ms <= end_ms,
            e.c.kind.in_(PATIENT_KINDS),
        )
        .order_by(e.c.time_ms, e.c.id)
    )
    return [tuple(row) for row in connection.execute(stmt)]


def events_after(
    connection: Connection,
    run_id: int,
    after_id: int,
    limit: int = 500,
    kinds: tuple[int, ...] | None = None,
) -> list[tuple[int, int, int, int | None, int | None, int | None, int | None]]:
    """Trace rows of the run with ``id > after_id`` in id order (= commit order).

    Rows are ``(id, time_ms, kind, patient_no, pathology_idx, specialty_idx, doctor_idx)``.
    """
    conditions = [e.c.id > after_id, e.c.run_id == run_id]
    if kinds:
        conditions.append(e.c.kind.in_(kinds))
    stmt = (
        sa.select(
            e.c.id,
            e.c.time_ms,
            e.c.kind,
            e.c.patient_no,
            e.c.pathology_idx,
            e.c.specialty_idx,
            e.c.doctor_idx,
        )
        .where(*conditions)
        .order_by(e.c.id)
        .limit(limit)
    )
    return [tuple(row) for row in connection.execute(stmt)]
