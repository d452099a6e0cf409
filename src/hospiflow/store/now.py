"""A simulated run's "now" from its trace: who waits, the last hour, the usual for this hour.

A simulation writes a visit only when the patient leaves, so who is waiting
at an instant comes from the trace: patients with an arrival in a window
before it and no treatment start or abandonment since. ``activity`` derives
from those rows what the Now view shows per specialty (longest wait,
arrivals, treatment starts and their waits over the last hour, the latest
arrivals); ``usual_waiting_per_doctor`` reads the state samples of the same
hour of the week in previous weeks. The web layer only formats the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.records import EventKind
from hospiflow.store import schema, trace
from hospiflow.store.sqlfuncs import hour_of_week
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN, from_ms

WINDOW_MS = 24 * MS_PER_HOUR
"""The first window read for waiting patients; widened x4 until it holds them all."""
USUAL_WEEKS = 8

Waiting = dict[int, tuple[int, int | None, int | None]]
"""Patient number -> (arrival ms, pathology index, specialty index)."""
PatientEvent = tuple[int, int, int, int | None, int | None, int]
"""``trace.recent_patient_events`` rows: time ms, kind, patient, pathology, specialty, id."""


def waiting_patients(
    connection: Connection, run_id: int, start_ms: int, as_of: int, expected: list[int]
) -> tuple[Waiting, list[PatientEvent]]:
    """Patients waiting at ``as_of``, and the patient events of the window read.

    Reads arrivals, treatment starts and abandonments over a window that
    widens (24 h, then x4) until it holds as many waiting patients per
    specialty as the state sample says (``expected``), or reaches the run's
    start ``start_ms`` (patients still waiting from the warm-up have no
    arrival in the trace: their wait is unknown).
    """
    window = WINDOW_MS
    while True:
        since = max(start_ms, as_of - window)
        rows = trace.recent_patient_events(connection, run_id, since, as_of)
        waiting: Waiting = {}
        for time_ms, kind, patient, pathology, specialty, _id in rows:
            if patient is None:
                continue
            if kind == EventKind.ARRIVAL:
                waiting[patient] = (time_ms, pathology, specialty)
            else:
                waiting.pop(patient, None)
        found = [0] * len(expected)
        for _t, _p, s in waiting.values():
            if s is not None and 0 <= s < len(found):
                found[s] += 1
        if since <= start_ms or all(f >= e for f, e in zip(found, expected, strict=True)):
            return waiting, rows
        window *= 4


@dataclass
class Activity:
    """Per specialty (by index), what the trace says about ``as_of`` and the hour before it."""

    longest_wait_min: list[float | None]
    arrivals_last_hour: list[int]
    treatments_started_last_hour: list[int]
    wait_sum_min: list[float]  # waits of the treatments started in the last hour
    wait_count: list[int]
    recent_arrivals: list[PatientEvent] = field(default_factory=list)  # newest first


def activity(
    connection: Connection,
    run_id: int,
    start_ms: int,
    as_of: int,
    expected: list[int],
    recent: int,
) -> Activity:
    """Longest current waits, the last hour's arrivals and treatment starts (with their
    waits) and the ``recent`` newest arrivals, for a run with ``len(expected)`` specialties."""
    n = len(expected)
    waiting, rows = waiting_patients(connection, run_id, start_ms, as_of, expected)
    out = Activity([None] * n, [0] * n, [0] * n, [0.0] * n, [0] * n)
    for arrival_ms, _pathology, s in waiting.values():
        if s is not None and 0 <= s < n:
            minutes = (as_of - arrival_ms) / MS_PER_MIN
            out.longest_wait_min[s] = max(out.longest_wait_min[s] or 0.0, minutes)
    arrival_of: dict[int, int] = {}
    hour_ago = as_of - MS_PER_HOUR
    for time_ms, kind, patient, _pathology, s, _id in rows:
        if patient is None:
            continue
        if kind == EventKind.ARRIVAL:
            arrival_of[patient] = time_ms
            if time_ms > hour_ago and s is not None and 0 <= s < n:
                out.arrivals_last_hour[s] += 1
        elif kind == EventKind.TREATMENT_START and time_ms > hour_ago and s is not None:
            if 0 <= s < n:
                out.treatments_started_last_hour[s] += 1
                if patient in arrival_of:
                    out.wait_sum_min[s] += (time_ms - arrival_of[patient]) / MS_PER_MIN
                    out.wait_count[s] += 1
    for row in reversed(rows):
        if len(out.recent_arrivals) >= recent:
            break
        if row[1] == EventKind.ARRIVAL:
            out.recent_arrivals.append(row)
    return out


def usual_waiting_per_doctor(
    connection: Connection, run_ids: list[int], as_of: int, timezone: str, n: int
) -> list[float | None]:
    """Per specialty, the mean patients waiting per doctor at this local hour of the week
    over the previous ``USUAL_WEEKS`` weeks, from the state samples of ``run_ids`` (a
    live run and the history run it continues); ``None`` without any sample.
    """
    s = schema.state_snapshots
    local = from_ms(as_of, timezone)
    how = 24 * local.weekday() + local.hour  # Monday 0h = 0, as ``sqlfuncs.hour_of_week``
    rows = connection.execute(
        sa.select(s.c.specialty_idx, s.c.waiting, s.c.doctors_on_duty).where(
            s.c.run_id.in_(run_ids),
            s.c.time_ms >= as_of - USUAL_WEEKS * 7 * MS_PER_DAY - MS_PER_HOUR,
            s.c.time_ms < as_of - 6 * MS_PER_DAY,
            hour_of_week(s.c.local_ms) == how,
        )
    ).all()
    sums = [0.0] * n
    counts = [0] * n
    for i, waiting, doctors in rows:
        if 0 <= i < n:
            sums[i] += waiting / max(doctors, 1)
            counts[i] += 1
    return [sums[i] / counts[i] if counts[i] else None for i in range(n)]
