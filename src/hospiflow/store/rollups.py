"""Rollup tables: the hourly, daily and monthly aggregates and the KPIs of a run.

Written in the run's last transaction, two ways:

* ``from_result``: a simulation hands its ``SimulationResult``; the rollups
  hold the simulator's own aggregates, computed by the same functions that
  write its CSV reports (``simulation.recorder`` and ``simulation.reports``)
  and stored as raw floats. ``store.reports`` formats them back into the
  five files, byte for byte.
* ``from_visits``: any other source (an import of real visits) gets what
  SQL can derive from its visits, one ``INSERT ... SELECT`` per table:
  counts, sums and means of waits and lengths of stay. The time-averaged
  state, percentiles and KPIs stay NULL/absent.
  ``from_rows`` computes the same rows from visits in hand (NumPy), for
  an import into an empty run.

Every bucket of a simulation is stored, empty ones included; SQL-derived
rollups hold the buckets that had arrivals.

``prepare`` splits the work for ``StoreSink``: the rows are computed first
(NumPy, while the sink's writer thread commits the last batches) and
written later, inside the run's final transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.records import Disposition
from hospiflow.store import schema
from hospiflow.store.sqlfuncs import floor_to, month_start
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN
from hospiflow.store.writer import insert_rows

_LWBS = int(Disposition.LEFT_WITHOUT_BEING_SEEN)


def clear(connection: Connection, run_id: int) -> None:
    """Delete the run's rollup rows."""
    for table in schema.ROLLUP_TABLES:
        connection.execute(table.delete().where(table.c.run_id == run_id))


# -- from a simulation result ----------------------------------------------------------


def _nullable(values: np.ndarray) -> list[Any]:
    """Floats with NaN as NULL (SQLite and PostgreSQL disagree on storing NaN)."""
    return [None if v != v else v for v in np.asarray(values, dtype=float).tolist()]


def _sum(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    keep = groups >= 0
    return np.bincount(groups[keep], weights=np.nan_to_num(values[keep]), minlength=size)


def _day_ms(start_date: str, offsets: np.ndarray, unit: Literal["D", "M"]) -> np.ndarray:
    """Local epoch ms of ``start_date``'s day (``unit`` D) or month (M) plus ``offsets``."""
    first = np.datetime64(start_date[:7] if unit == "M" else start_date, unit)
    moments = (first + offsets.astype(f"timedelta64[{unit}]")).astype("datetime64[ms]")
    ms: np.ndarray = moments.astype(np.int64)
    return ms


Tables = list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]
"""Rows to insert: ``(table, columns, rows)`` per table."""


def from_result(connection: Connection, run_id: int, result: Any) -> None:
    """Replace the run's rollups with the simulator's aggregates of ``result``."""
    _replace(connection, run_id, result_rows(run_id, result))


def _replace(connection: Connection, run_id: int, tables: Tables) -> None:
    clear(connection, run_id)
    for table, columns, rows in tables:
        insert_rows(connection, table, columns, rows)


def result_rows(run_id: int, result: Any) -> Tables:
    """The rollup rows of a simulation's ``result``: NumPy only, no database needed."""
    # imported here: the recorder pulls in the whole simulator
    from hospiflow.simulation import reports as sim
    from hospiflow.simulation.recorder import hourly_state, kpis, reported_hour_of

    tables: Tables = []
    cal = result.calendar
    start_ms = int(round(cal.start_utc.timestamp() * 1000))
    start_date = str(result.run.parameters["time"]["start_date"])
    hourly = hourly_state(result)
    n_hours, n_spec = hourly.arrivals.shape
    wait = result.wait
    # how long each visit stayed: to the end of treatment, or until it left unseen
    los = np.where(np.isnan(result.end), result.left, result.end) - result.arrival
    treated = (~np.isnan(wait)).astype(float)

    hour = reported_hour_of(result, result.arrival)
    cell = np.where((hour >= 0) & (hour < n_hours), hour * n_spec + result.specialty, -1)
    size = n_hours * n_spec
    hour_ms = start_ms + MS_PER_HOUR * np.arange(n_hours, dtype=np.int64)
    offsets = cal.offset_minutes[cal.reported_slots()].astype(np.int64)
    hour_local_ms = hour_ms + offsets * MS_PER_MIN
    specialty = np.tile(np.arange(n_spec), n_hours)
    tables.append(
        (
            "hourly_specialty",
            HOURLY_COLUMNS,
            list(
                zip(
                    [run_id] * size,
                    np.repeat(hour_ms, n_spec).tolist(),
                    specialty.tolist(),
                    np.repeat(hour_local_ms, n_spec).tolist(),
                    hourly.arrivals.ravel().tolist(),
                    _sum(cell, treated, size).astype(np.int64).tolist(),
                    hourly.left_without_being_seen.ravel().tolist(),
                    _sum(cell, wait, size).tolist(),
                    _sum(cell, los, size).tolist(),
                    _nullable(hourly.mean_wait.ravel()),
                    hourly.waiting.ravel().tolist(),
                    hourly.in_treatment.ravel().tolist(),
                    hourly.doctors_on_duty.ravel().tolist(),
                    strict=True,
                )
            ),
        )
    )

    daily = sim.daily_pathology_table(result)
    n_path = len(result.run.pathologies)
    size = len(daily.days) * n_path
    stats = daily.stats
    day_ms = _day_ms(start_date, daily.days, "D")
    month_ms = (
        (day_ms.astype("datetime64[ms]").astype("datetime64[M]"))
        .astype("datetime64[ms]")
        .astype(np.int64)
    )
    spec_of_path = result.catalog.pathology_specialty_index()
    tables.append(
        (
            "daily_pathology",
            DAILY_COLUMNS,
            list(
                zip(
                    [run_id] * size,
                    np.repeat(day_ms, n_path).tolist(),
                    np.tile(np.arange(n_path), len(daily.days)).tolist(),
                    np.tile(spec_of_path, len(daily.days)).tolist(),
                    np.repeat(month_ms, n_path).tolist(),
                    stats.arrivals.tolist(),
                    stats.treated.tolist(),
                    stats.left_without_being_seen.tolist(),
                    _sum(daily.groups, wait, size).tolist(),
                    _sum(daily.groups, los, size).tolist(),
                    _nullable(stats.mean_wait),
                    _nullable(stats.p90_wait),
                    _nullable(stats.mean_treatment),
                    strict=True,
                )
            ),
        )
    )

    monthly = sim.monthly_table(result, hourly)
    size = len(monthly.months) * n_spec
    stats = monthly.stats
    tables.append(
        (
            "monthly_specialty",
            MONTHLY_COLUMNS,
            list(
                zip(
                    [run_id] * size,
                    np.repeat(_day_ms(start_date, monthly.months, "M"), n_spec).tolist(),
                    np.tile(np.arange(n_spec), len(monthly.months)).tolist(),
                    stats.arrivals.tolist(),
                    stats.treated.tolist(),
                    stats.left_without_being_seen.tolist(),
                    _nullable(stats.mean_wait),
                    _nullable(stats.p50_wait),
                    _nullable(stats.p90_wait),
                    _nullable(stats.mean_treatment),
                    _nullable(monthly.mean_waiting),
                    _nullable(monthly.doctor_hours),
                    _nullable(monthly.busy_hours),
                    strict=True,
                )
            ),
        )
    )

    metrics = sim.metrics_table([kpis(result, hourly)])
    n = len(metrics.metrics)
    tables.append(
        (
            "performance_metrics",
            METRIC_COLUMNS,
            list(
                zip(
                    [run_id] * n,
                    range(n),
                    metrics.metrics,
                    metrics.scopes,
                    _nullable(metrics.values),
                    metrics.units,
                    _nullable(metrics.ci95_low),
                    _nullable(metrics.ci95_high),
                    [metrics.replications] * n,
                    strict=True,
                )
            ),
        )
    )
    return tables


HOURLY_COLUMNS = tuple(c.name for c in schema.hourly_specialty.columns)
DAILY_COLUMNS = tuple(c.name for c in schema.daily_pathology.columns)
MONTHLY_COLUMNS = tuple(c.name for c in schema.monthly_specialty.columns)
METRIC_COLUMNS = tuple(c.name for c in schema.performance_metrics.columns)


# -- from visits (any source) -------------------------------------------------------------


def _measures(v: sa.Table) -> list[sa.ColumnElement[Any]]:
    return [
        sa.func.count(),
        sa.func.count(v.c.wait_min),
        sa.func.coalesce(sa.func.sum(sa.case((v.c.disposition == _LWBS, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(v.c.wait_min), 0.0),
        sa.func.coalesce(sa.func.sum(v.c.los_min), 0.0),
        sa.func.avg(v.c.wait_min),
    ]


def from_visits(connection: Connection, run_id: int) -> None:
    """Replace the run's rollups with what SQL derives from its visits."""
    clear(connection, run_id)
    v = schema.visits
    mine = v.c.run_id == run_id
    # hour buckets by local hour *and* offset: the repeated hour of an autumn
    # DST change is two buckets, as in the simulator's reports
    hour_local = floor_to(v.c.arrival_local_ms, MS_PER_HOUR)
    offset = v.c.arrival_local_ms - v.c.arrival_ms
    hourly = (
        sa.select(
            v.c.run_id,
            hour_local - offset,
            v.c.specialty_idx,
            hour_local,
            *_measures(v),
        )
        .where(mine)
        .group_by(v.c.run_id, hour_local, offset, v.c.specialty_idx)
    )
    _insert_from(connection, schema.hourly_specialty, hourly, 10)

    day = floor_to(v.c.arrival_local_ms, MS_PER_DAY)
    daily = (
        sa.select(
            v.c.run_id,
            day,
            v.c.pathology_idx,
            sa.func.min(v.c.specialty_idx),
            month_start(day),
            *_measures(v),
        )
        .where(mine, v.c.pathology_idx.is_not(None))
        .group_by(v.c.run_id, day, v.c.pathology_idx)
    )
    _insert_from(connection, schema.daily_pathology, daily, 11)

    month = month_start(v.c.arrival_local_ms)
    m = _measures(v)
    monthly = (
        sa.select(v.c.run_id, month, v.c.specialty_idx, m[0], m[1], m[2], m[5])
        .where(mine)
        .group_by(v.c.run_id, month, v.c.specialty_idx)
    )
    _insert_from(connection, schema.monthly_specialty, monthly, 7)


def _insert_from(connection: Connection, table: sa.Table, select: sa.Select[Any], n: int) -> None:
    columns = [c.name for c in table.columns][:n]
    connection.execute(table.insert().from_select(columns, select))


def prepare(run_id: int, result: Any | None = None) -> Callable[[Connection], None]:
    """``rebuild`` in two steps: compute now, write later with the returned function.

    For a ``SimulationResult`` the rows are computed here (NumPy, no
    database), so ``StoreSink`` does it while its writer thread is still
    committing the last batches; the returned function replaces the run's
    rollup rows inside the caller's transaction. For other results it runs
    ``from_visits``.
    """
    if result is not None and hasattr(result, "calendar") and hasattr(result, "state_start"):
        tables = result_rows(run_id, result)
        return lambda connection: _replace(connection, run_id, tables)
    return lambda connection: from_visits(connection, run_id)


def rebuild(connection: Connection, run_id: int, result: Any | None = None) -> None:
    """The run's rollups: the simulator's own if ``result`` is a ``SimulationResult``."""
    prepare(run_id, result)(connection)


def from_rows(connection: Connection, run_id: int, columns: dict[str, np.ndarray]) -> None:
    """``from_visits`` computed from the visits in hand instead of read back (NumPy).

    For a run whose every visit is in ``columns`` (an import into an empty run):
    the same groups and measures as the SQL, without scanning what was just
    written. ``columns``: ``arrival_ms``, ``arrival_local_ms``, ``specialty_idx``,
    ``pathology_idx`` (-1: none), ``wait_min`` and ``los_min`` (NaN: none),
    ``disposition`` (-1: none). A test checks both give the same rows.
    """
    clear(connection, run_id)
    local = columns["arrival_local_ms"]
    offset = local - columns["arrival_ms"]
    specialty, pathology = columns["specialty_idx"], columns["pathology_idx"]
    wait, los = columns["wait_min"], columns["los_min"]
    left = (columns["disposition"] == _LWBS).astype(np.int64)
    hour_local = local // MS_PER_HOUR * MS_PER_HOUR
    keys, groups = _groups(hour_local, offset, specialty)
    counts = _measured(groups, len(keys[0]), wait, los, left)
    insert_rows(
        connection,
        "hourly_specialty",
        HOURLY_COLUMNS[:10],
        _rows(run_id, [keys[0] - keys[1], keys[2], keys[0]], counts),
    )
    day = local // MS_PER_DAY * MS_PER_DAY
    mapped = pathology >= 0
    keys, groups = _groups(day[mapped], pathology[mapped])
    first_specialty = np.full(len(keys[0]), np.iinfo(np.int64).max)
    np.minimum.at(first_specialty, groups, specialty[mapped])
    counts = _measured(groups, len(keys[0]), wait[mapped], los[mapped], left[mapped])
    insert_rows(
        connection,
        "daily_pathology",
        DAILY_COLUMNS[:11],
        _rows(run_id, [keys[0], keys[1], first_specialty, _month_of(keys[0])], counts),
    )
    keys, groups = _groups(_month_of(local), specialty)
    arrivals, treated, lwbs, _wait_sum, _los_sum, mean_wait = _measured(
        groups, len(keys[0]), wait, los, left
    )
    insert_rows(
        connection,
        "monthly_specialty",
        MONTHLY_COLUMNS[:7],
        _rows(run_id, list(keys), [arrivals, treated, lwbs, mean_wait]),
    )


def _groups(*keys: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct key tuples (one array per key) and each row's group number.

    Each key is first made dense, then the codes are combined into one integer
    per row (much faster than ``unique(axis=0)``). Dense codes come from
    ``pandas.factorize`` (a hash table, sorted afterwards: the same as
    ``np.unique(..., return_inverse=True)`` without sorting a million rows,
    3-5x faster on an import's columns).
    """
    if len(keys[0]) == 0:
        return [np.asarray(k, dtype=np.int64)[:0] for k in keys], np.zeros(0, dtype=np.int64)
    values, codes = [], []
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        code, distinct = _factorize(np.asarray(key, dtype=np.int64))
        values.append(distinct)
        codes.append(len(distinct))
        combined = combined * len(distinct) + code
    groups, groups_of = _factorize(combined)
    out = []
    for distinct, size in zip(reversed(values), reversed(codes), strict=True):
        out.append(distinct[groups_of % size])
        groups_of = groups_of // size
    return out[::-1], groups


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, the distinct values sorted): ``np.unique``'s inverse and values."""
    import pandas as pd  # here: the store's other users need not load it

    code, distinct = pd.factorize(values, sort=True)
    return code.astype(np.int64, copy=False), np.asarray(distinct, dtype=np.int64)


def _measured(
    groups: np.ndarray, size: int, wait: np.ndarray, los: np.ndarray, left: np.ndarray
) -> list[np.ndarray]:
    """count(*), count(wait), sum(left), sum(wait) or 0, sum(los) or 0, avg(wait) or NaN."""
    seen = ~np.isnan(wait)
    arrivals = np.bincount(groups, minlength=size)
    treated = np.bincount(groups, weights=seen, minlength=size).astype(np.int64)
    lwbs = np.bincount(groups, weights=left, minlength=size).astype(np.int64)
    wait_sum = np.bincount(groups, weights=np.nan_to_num(wait), minlength=size)
    los_sum = np.bincount(groups, weights=np.nan_to_num(los), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_wait = np.where(treated > 0, wait_sum / np.maximum(treated, 1), np.nan)
    return [arrivals, treated, lwbs, wait_sum, los_sum, mean_wait]


def _month_of(local_ms: np.ndarray) -> np.ndarray:
    """Local epoch ms of the first instant of each value's month."""
    months = np.asarray(local_ms, dtype=np.int64).astype("datetime64[ms]").astype("datetime64[M]")
    return months.astype("datetime64[ms]").astype(np.int64)


def _rows(run_id: int, keys: list[np.ndarray], measures: list[np.ndarray]) -> list[tuple[Any, ...]]:
    values = [k.tolist() for k in keys]
    for measure in measures:
        values.append(_nullable(measure) if measure.dtype.kind == "f" else measure.tolist())
    return list(zip([run_id] * len(values[0]), *values, strict=True))
