"""Patients present (the census), exactly, from the visits' arrival and departure times.

The time-weighted occupancy of occupancy-analysis tools such as Isken's
*hillmaker* ("occupancy by time of day and day of week from in and out
timestamps", fractional edge bins): the mean number of patients present over a
bin is the time they spent in it divided by its length. Here it is computed
without any loop over visits. With ``F(t) = sum_i [(t - a_i)^+ - (t - d_i)^+]``
(``a_i`` arrival, ``d_i`` departure, ``x^+ = max(x, 0)``), ``F(t)`` is the
patient-time accumulated up to ``t``, so the integral of the census over
``[t0, t1)`` is ``F(t1) - F(t0)``. ``F`` at every bin boundary takes sorted
arrival and departure arrays, ``np.searchsorted`` and prefix sums:
``O((n + H) log n)`` for ``n`` visits and ``H`` bins, in exact integer
milliseconds (times are shifted to the range's start, so sums fit in int64).

A patient is present on ``[arrival, departure)``: at their arrival instant, not
at their departure instant.

**Visits without a departure** (still present when the data were extracted, or
the source lost it) count as present until the range's end only if they arrived
within the last 24 hours of the data (the run's latest arrival); older ones are
ignored: a visit open for more than a day is a record that lost its departure,
not a patient still in the department.

**Reading**: one indexed statement per call, a range of ``ix_visits_arrival``
(``run_id``, ``arrival_ms``): visits arriving before the range's end and at most
the run's longest stay before its start (``max(los_min)``, read first with the
run's latest arrival in one small aggregate).

Functions: :func:`hourly` and :func:`hourly_by_specialty` (per UTC hour),
:func:`hour_of_week` (168 local means, hillmaker's "mean occupancy by day of week
and hour") and :func:`present_at` (one instant).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import NotFoundError
from hospiflow.store import schema
from hospiflow.store.engine import dbapi_connection
from hospiflow.store.timeconv import EPOCH_WEEKDAY, MS_PER_HOUR, MS_PER_MIN

__all__ = [
    "OPEN_VISIT_MS",
    "hour_of_week",
    "hourly",
    "hourly_by_specialty",
    "present_at",
    "present_where",
    "stays",
]

OPEN_VISIT_MS = 24 * MS_PER_HOUR  # a visit with no departure is present if this recent
_QUARTER_MS = 15 * MS_PER_MIN  # every time zone's offset is a whole number of quarter hours
_HOURS_PER_WEEK = 168
# 1970-01-01 00:00 (local hour 0 since the epoch) was Thursday 00:00: hour 72 of a
# week counted from Monday 00:00.
_EPOCH_HOUR_OF_WEEK = EPOCH_WEEKDAY * 24


# ------------------------------------------------------------------------ reading


def _bounds(connection: Connection, run_id: int) -> tuple[int, int | None]:
    """(longest stay in ms, the run's latest arrival) in one aggregate over the run."""
    v = schema.visits
    # two aggregates, each one probe of its own index (ix_visits_stay, ix_visits_arrival)
    mine = v.c.run_id == run_id
    longest = connection.execute(sa.select(sa.func.max(v.c.los_min)).where(mine)).scalar()
    last = connection.execute(sa.select(sa.func.max(v.c.arrival_ms)).where(mine)).scalar()
    # los_min and the stored instants are rounded separately: a minute of margin
    stay = int(np.ceil(float(longest or 0.0))) * MS_PER_MIN + MS_PER_MIN
    return stay, None if last is None else int(last)


def _stays(
    connection: Connection, run_id: int, start_ms: int, end_ms: int, *, specialty: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival, departure (``end_ms`` for counted open visits) and specialty of the visits
    present at some time in ``[start_ms, end_ms)``."""
    v = schema.visits
    longest, last = _bounds(connection, run_id)
    if last is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    open_since = last - OPEN_VISIT_MS
    lowest = min(start_ms - longest, open_since)
    columns = [v.c.arrival_ms, v.c.departure_ms]
    if specialty:
        columns.append(v.c.specialty_idx)
    stmt = sa.select(*columns).where(
        v.c.run_id == run_id,
        v.c.arrival_ms >= lowest,
        v.c.arrival_ms < end_ms,
        sa.or_(
            v.c.departure_ms > start_ms,
            sa.and_(v.c.departure_ms.is_(None), v.c.arrival_ms >= open_since),
        ),
    )
    rows = _fetch_tuples(connection, stmt)
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    # float64 holds epoch ms exactly (< 2**53) and turns NULL into NaN in one pass
    data = np.array(rows, dtype=np.float64).reshape(-1, len(columns))
    data[:, 1] = np.where(np.isnan(data[:, 1]), end_ms, data[:, 1])
    data = data.astype(np.int64)
    spec = data[:, 2] if specialty else np.zeros(len(data), dtype=np.int64)
    return data[:, 0], data[:, 1], spec


def _fetch_tuples(connection: Connection, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """All rows as plain tuples from the driver's cursor: a million SQLAlchemy rows cost
    seconds to build and to hand to NumPy, plain tuples a fraction of that."""
    compiled = stmt.compile(dialect=connection.dialect)
    params: Any = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup or ())
    cursor = dbapi_connection(connection).cursor()
    try:
        cursor.execute(str(compiled), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _timezone(connection: Connection, run_id: int) -> str:
    tz = connection.execute(
        sa.select(schema.runs.c.timezone).where(schema.runs.c.id == run_id)
    ).scalar()
    if tz is None:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    return str(tz)


# ------------------------------------------------------------------------ the arithmetic


def patient_time(arrivals: np.ndarray, departures: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``F(t) = sum_i [(t - a_i)^+ - (t - d_i)^+]`` at every ``t`` of ``at`` (int64 ms in,
    int64 patient-ms out): the patient-time spent in the department up to ``t``."""
    at = np.asarray(at, dtype=np.int64)

    def ramp_sum(points: np.ndarray) -> np.ndarray:
        ordered = np.sort(np.asarray(points, dtype=np.int64))
        prefix = np.concatenate([[0], np.cumsum(ordered)])
        k = np.searchsorted(ordered, at, side="left")  # points strictly before t
        ramps: np.ndarray = at * k - prefix[k]
        return ramps

    patient_ms: np.ndarray = ramp_sum(arrivals) - ramp_sum(departures)
    return patient_ms


def mean_census(arrivals: np.ndarray, departures: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean patients present over each ``[edges[k], edges[k+1])``, exactly (time-weighted)."""
    edges = np.asarray(edges, dtype=np.int64)
    if len(edges) < 2:
        return np.zeros(0)
    origin = edges[0]  # shift to keep every product well inside int64
    f = patient_time(arrivals - origin, departures - origin, edges - origin)
    mean: np.ndarray = np.diff(f) / np.diff(edges).astype(float)
    return mean


def _hour_edges(start_ms: int, end_ms: int) -> np.ndarray:
    first = (start_ms // MS_PER_HOUR) * MS_PER_HOUR
    last = -(-end_ms // MS_PER_HOUR) * MS_PER_HOUR
    return np.arange(first, max(last, first) + 1, MS_PER_HOUR, dtype=np.int64)


# ------------------------------------------------------------------------ public


def hourly(
    connection: Connection, run_id: int, start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """UTC hour starts (int64 ms) of every hour in ``[start_ms, end_ms)`` (start floored,
    end ceiled to whole UTC hours) and the mean patients present over each hour.

    The mean is the integral of the census over the hour divided by one hour: a visit
    from 10:30 to 12:15 counts 0.5, 1.0 and 0.25 in the hours 10, 11 and 12.
    """
    edges = _hour_edges(start_ms, end_ms)
    a, d, _ = _stays(connection, run_id, int(edges[0]), int(edges[-1]))
    return edges[:-1], mean_census(a, d, edges)


def hourly_by_specialty(
    connection: Connection, run_id: int, start_ms: int, end_ms: int
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """:func:`hourly` per specialty: hour starts and ``{specialty_idx: means}`` for every
    specialty of the run's catalog (zeros for one nobody visited)."""
    edges = _hour_edges(start_ms, end_ms)
    a, d, spec = _stays(connection, run_id, int(edges[0]), int(edges[-1]), specialty=True)
    t = schema.specialties
    catalog = [
        int(i)
        for (i,) in connection.execute(
            sa.select(t.c.idx).where(t.c.run_id == run_id).order_by(t.c.idx)
        )
    ]
    result = {}
    for idx in sorted(set(catalog) | {int(s) for s in np.unique(spec)}):
        mine = spec == idx
        result[idx] = mean_census(a[mine], d[mine], edges)
    return edges[:-1], result


def local_hour_edges(start_ms: int, end_ms: int, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC instants at which the local wall clock shows a whole hour, from the one at or
    before ``start_ms`` to the one at or after ``end_ms``, and each local hour's hour of the
    week (Monday 00:00 = 0) for all but the last.

    Computed on a quarter-hour UTC grid (every zone's offset is a multiple of 15
    minutes), so half-hour zones get their own local hours. Daylight saving: the
    spring hour that the clock skips has no instant and is absent; the autumn hour
    that the clock repeats starts twice and is two local hours with the same label.
    """
    pad = 3 * MS_PER_HOUR
    lo = ((start_ms - pad) // _QUARTER_MS) * _QUARTER_MS
    hi = -(-(end_ms + pad) // _QUARTER_MS) * _QUARTER_MS
    grid = np.arange(lo, hi + 1, _QUARTER_MS, dtype=np.int64)
    instants = pd.DatetimeIndex(pd.to_datetime(grid, unit="ms", utc=True))
    local = instants.tz_convert(timezone).tz_localize(None).as_unit("ms").asi8
    whole = (local % MS_PER_HOUR) == 0
    edges, local_edges = grid[whole], local[whole]
    first = int(np.searchsorted(edges, start_ms, side="right")) - 1
    last = int(np.searchsorted(edges, end_ms, side="left"))
    edges, local_edges = edges[first : last + 1], local_edges[first : last + 1]
    labels = (local_edges[:-1] // MS_PER_HOUR + _EPOCH_HOUR_OF_WEEK) % _HOURS_PER_WEEK
    return edges, labels.astype(np.int64)


def hour_of_week(connection: Connection, run_id: int, start_ms: int, end_ms: int) -> np.ndarray:
    """Mean patients present in each of the 168 local hours of the week (Monday 00:00 first)
    over ``[start_ms, end_ms)``.

    Each local wall-clock hour of the range (start and end moved out to whole local
    hours) gets its exact time-weighted mean census; the value of an hour of the
    week is the plain mean of those local hours that fall on it, so a range of whole
    local days gives hillmaker's "mean occupancy by day of week and time of day"
    (bin 60 minutes, fractional edge bins), partial weeks included the same way
    (an hour of the week seen 4 times is averaged over 4, one seen 5 times over 5).

    Daylight saving (hillmaker works on naive local times, so it has no rule of its
    own): the hour the clock skips in spring contributes nothing that week; the
    hour it repeats in autumn contributes both of its real hours, each a sample of
    its hour of the week. Each local hour's mean is over its real length.

    An hour of the week the range never reaches is NaN.
    """
    edges, labels = local_hour_edges(start_ms, end_ms, _timezone(connection, run_id))
    if len(edges) < 2:
        return np.full(_HOURS_PER_WEEK, np.nan)
    a, d, _ = _stays(connection, run_id, int(edges[0]), int(edges[-1]))
    means = mean_census(a, d, edges)
    total = np.bincount(labels, weights=means, minlength=_HOURS_PER_WEEK)
    seen = np.bincount(labels, minlength=_HOURS_PER_WEEK)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, total / np.maximum(seen, 1), np.nan)


def present_where(connection: Connection, run_id: int, at_ms: int) -> list[Any] | None:
    """The conditions on ``visits`` of the patients present at the instant ``at_ms``
    (arrived at or before it, not yet gone; open visits under the 24-hour rule of the
    module), a range of ``ix_visits_arrival``; None when the run has no visits."""
    v = schema.visits
    longest, last = _bounds(connection, run_id)
    if last is None:
        return None
    open_since = last - OPEN_VISIT_MS
    return [
        v.c.run_id == run_id,
        v.c.arrival_ms >= min(at_ms - longest, open_since),
        v.c.arrival_ms <= at_ms,
        sa.or_(
            v.c.departure_ms > at_ms,
            sa.and_(v.c.departure_ms.is_(None), v.c.arrival_ms >= open_since),
        ),
    ]


def present_at(connection: Connection, run_id: int, at_ms: int) -> int:
    """Patients present at the instant ``at_ms`` (:func:`present_where`)."""
    where = present_where(connection, run_id, at_ms)
    if where is None:
        return 0
    return int(connection.execute(sa.select(sa.func.count()).where(*where)).scalar_one())


def stays(
    connection: Connection, run_id: int, start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival and departure (int64 ms) of every visit present at some time in
    ``[start_ms, end_ms)``; a counted open visit departs at ``end_ms``. With
    ``end_ms = at + 1`` these are the patients present at the instant ``at``."""
    a, d, _ = _stays(connection, run_id, start_ms, end_ms)
    return a, d
