"""A run's history from the store, as the forecasters want it.

Any run works the same way - a simulation, a live run, an import - because the
history is read from what every source writes:

* **arrivals** (:func:`load_history`): one SQL statement counts arrivals per hour
  (since the run's start) and specialty, from the cheapest table that has them:
  the ``hourly_specialty`` rollup of a complete run, else the trace's arrival
  events (a live or running run: its visits are written only when patients leave),
  else the visits (an import without a trace). The counts go through
  :func:`~hospiflow.forecast.series.wall_clock_hourly_counts`, so the daylight-saving
  policy of :mod:`hospiflow.forecast.series` holds, and every hour from the run's
  start to its data end is observed (a run is a complete record: a quiet hour is a
  zero, not a gap).
* **state** (:func:`load_state`): per specialty and UTC hour, the time-averaged
  patients waiting and doctors on duty (rollup of a complete simulation) and the
  patients present at the start of the hour (state samples), which the saturation
  and occupancy backtests score against.

A live run that continues a history run (``hospiflow live --continue-from``) starts
where that run ends: :func:`load_history` prepends the history of the complete run
whose end is exactly this run's start (same time zone), so a live forecast has
years of history from its first hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import ForecastError, NotFoundError
from hospiflow.records import EventKind
from hospiflow.store import schema
from hospiflow.store.timeconv import MS_PER_HOUR

__all__ = [
    "HistoryCache",
    "RunHistory",
    "data_end_ms",
    "load_history",
    "load_state",
    "predecessor",
]

TOTAL = "total"


@dataclass
class RunHistory:
    """Hourly wall-clock arrivals of a run: ``arrivals`` has one column per specialty
    code plus ``"total"`` on the complete hourly grid (zeros where nobody came)."""

    run_id: int
    kind: str
    status: str
    timezone: str
    parameters: dict[str, Any]
    specialties: list[str]
    names: list[str]
    start_ms: int
    end_ms: int  # exclusive end of the data (UTC ms)
    arrivals: pd.DataFrame
    source: str  # "rollup", "events" or "visits"
    runs: list[int] = field(default_factory=list)  # the runs read, oldest first

    @property
    def total(self) -> pd.Series:
        return self.arrivals[TOTAL]

    def series(self, specialty: str | None = None) -> pd.Series:
        """The total series, or one specialty's."""
        return self.arrivals[TOTAL if specialty is None else specialty]


def _run_row(connection: Connection, run_id: int) -> dict[str, Any]:
    row = connection.execute(sa.select(schema.runs).where(schema.runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    return dict(row._mapping)


def data_end_ms(connection: Connection, row: dict[str, Any]) -> int:
    """Exclusive end of a run's data: its end when complete, else its newest record + 1 ms."""
    if row["status"] == "complete" and row["kind"] != "live":
        return int(row["end_utc_ms"])
    s, e = schema.state_snapshots, schema.events
    known = []
    for table in (s, e):
        value = connection.execute(
            sa.select(sa.func.max(table.c.time_ms)).where(table.c.run_id == row["id"])
        ).scalar()
        if value is not None:
            known.append(int(value))
    if not known:
        v = schema.visits
        value = connection.execute(
            sa.select(sa.func.max(v.c.arrival_ms)).where(v.c.run_id == row["id"])
        ).scalar()
        if value is not None:
            known.append(int(value))
    return max(known) + 1 if known else int(row["start_utc_ms"])


def predecessor(connection: Connection, row: dict[str, Any]) -> int | None:
    """The complete run this run continues: it ends exactly when this one starts."""
    r = schema.runs
    found = connection.execute(
        sa.select(r.c.id)
        .where(
            r.c.status == "complete",
            r.c.kind != "live",
            r.c.end_utc_ms == row["start_utc_ms"],
            r.c.timezone == row["timezone"],
            r.c.id != row["id"],
        )
        .order_by(r.c.id.desc())
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def _has_rollups(connection: Connection, run_id: int) -> bool:
    h = schema.hourly_specialty
    return (
        connection.execute(sa.select(h.c.run_id).where(h.c.run_id == run_id).limit(1)).first()
        is not None
    )


def _has_events(connection: Connection, run_id: int) -> bool:
    e = schema.events
    return (
        connection.execute(
            sa.select(e.c.id)
            .where(e.c.run_id == run_id, e.c.kind == int(EventKind.ARRIVAL))
            .limit(1)
        ).first()
        is not None
    )


def _hourly_counts(
    connection: Connection, row: dict[str, Any], since_ms: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(UTC hour starts in ms, specialty index, count) of one run, in one statement.

    ``since_ms`` (an hour start of a run without rollups): only the hours from there on.
    """
    run_id, start = int(row["id"]), int(row["start_utc_ms"])
    if since_ms is None and row["status"] == "complete" and _has_rollups(connection, run_id):
        h = schema.hourly_specialty
        stmt = sa.select(h.c.hour_ms, h.c.specialty_idx, h.c.arrivals).where(h.c.run_id == run_id)
        source = "rollup"
    else:
        if _has_events(connection, run_id):
            table, time_column, source = schema.events, schema.events.c.time_ms, "events"
            where = [table.c.run_id == run_id, table.c.kind == int(EventKind.ARRIVAL)]
        else:
            table, time_column, source = schema.visits, schema.visits.c.arrival_ms, "visits"
            where = [table.c.run_id == run_id]
        # hours counted from the run's start (a local midnight): integer division on
        # both backends; arrivals before the start (warm-up) are not the run's history
        hour = sa.cast((time_column - start) / MS_PER_HOUR, sa.BigInteger).label("hour")
        stmt = (
            sa.select(hour, table.c.specialty_idx, sa.func.count().label("n"))
            .where(*where, time_column >= max(start, since_ms or start))
            .group_by(hour, table.c.specialty_idx)
        )
    rows = [tuple(row) for row in connection.execute(stmt).all()]
    data = np.array(rows, dtype=np.int64).reshape(-1, 3)
    hours = data[:, 0] if source == "rollup" else start + data[:, 0] * MS_PER_HOUR
    return hours, data[:, 1], data[:, 2], source


def _specialties(connection: Connection, run_id: int) -> tuple[list[str], list[str]]:
    sp = schema.specialties
    rows = connection.execute(
        sa.select(sp.c.code, sp.c.name).where(sp.c.run_id == run_id).order_by(sp.c.idx)
    ).all()
    return [r.code for r in rows], [r.name for r in rows]


def _wall_clock_frame(
    hours_ms: np.ndarray,
    specialty: np.ndarray,
    counts: np.ndarray,
    codes: list[str],
    timezone: str,
    start_ms: int,
    end_ms: int,
) -> pd.DataFrame:
    """Per local wall-clock hour and specialty, on the full grid from start to end."""
    first = pd.Timestamp(start_ms, unit="ms", tz="UTC").tz_convert(timezone)
    last = pd.Timestamp(max(end_ms - 1, start_ms), unit="ms", tz="UTC").tz_convert(timezone)
    grid = pd.date_range(
        first.tz_localize(None).floor("h"), last.tz_localize(None).floor("h"), freq="h"
    )
    # the spring hour that does not exist on the wall clock is not an hour of the run
    utc_grid = pd.date_range(
        pd.Timestamp(start_ms, unit="ms", tz="UTC").floor("h"),
        pd.Timestamp(max(end_ms - 1, start_ms), unit="ms", tz="UTC").floor("h"),
        freq="h",
    )
    lived = pd.DatetimeIndex(utc_grid.tz_convert(timezone).tz_localize(None).floor("h")).unique()
    grid = grid[grid.isin(lived)]
    values = np.zeros((len(grid), len(codes)))
    if len(hours_ms):
        instants = pd.DatetimeIndex(pd.to_datetime(hours_ms, unit="ms", utc=True))
        # each hour start to its wall-clock hour, as wall_clock_hourly_counts does (the
        # repeated autumn hour adds up, the skipped spring hour never appears)
        local = instants.tz_convert(timezone).tz_localize(None).floor("h")
        position = grid.get_indexer(local)
        keep = (position >= 0) & (specialty >= 0) & (specialty < len(codes))
        np.add.at(values, (position[keep], specialty[keep]), counts[keep])
    frame = pd.DataFrame(values, index=grid, columns=codes)
    frame[TOTAL] = frame[codes].sum(axis=1)
    return frame


class HistoryCache:
    """What a live forecaster re-reads every simulated hour, kept between its reads.

    * A complete run other than a live one (the history a live run continues)
      does not change: its ``RunHistory`` is kept, keyed by its id, end and
      finish time and visit count (an import that grows is read again).
    * A live run's hourly counts before the hour of its newest record do not
      change either: its trace is committed in time order, a tick at a time
      (``StoreSink.checkpoint``), so every arrival before its newest record is
      stored. Those counts are kept; each read counts only the hours from
      there on (one index range of the newest events, not the whole run).

    Without it a refresh at 600x re-read three years of rollups every six real
    seconds and starved the API's readers (``benchmarks/api.py``).
    """

    def __init__(self) -> None:
        self._complete: dict[tuple[Any, ...], RunHistory] = {}
        # live run id -> (hour from which to count again, hours, specialty, counts)
        self._live: dict[int, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple[Any, ...] | None:
        if row["status"] != "complete" or row["kind"] == "live":
            return None
        return (row["id"], row["end_utc_ms"], row["finished_at_ms"], row["visits_count"])

    def complete(self, row: dict[str, Any]) -> RunHistory | None:
        key = self._key(row)
        return None if key is None else self._complete.get(key)

    def keep(self, row: dict[str, Any], history: RunHistory) -> None:
        key = self._key(row)
        if key is not None:
            self._complete = {k: v for k, v in self._complete.items() if k[0] != row["id"]}
            self._complete[key] = history

    def live_counts(
        self, connection: Connection, row: dict[str, Any], end_ms: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
        """A live run's hourly counts, read from the last cut on; None: not a live trace."""
        run_id, start = int(row["id"]), int(row["start_utc_ms"])
        if row["kind"] != "live" or row["status"] != "running":
            self._live.pop(run_id, None)
            return None
        none = np.zeros(0, dtype=np.int64)
        cut, hours, specialty, counts = self._live.get(run_id, (start, none, none, none))
        new_hours, new_specialty, new_counts, source = _hourly_counts(connection, row, cut)
        if source != "events":
            return None
        hours = np.concatenate([hours, new_hours])
        specialty = np.concatenate([specialty, new_specialty])
        counts = np.concatenate([counts, new_counts])
        # hours before the one holding the newest record are final
        final = start + max(0, (end_ms - 1 - start) // MS_PER_HOUR) * MS_PER_HOUR
        keep = hours < final
        self._live[run_id] = (final, hours[keep], specialty[keep], counts[keep])
        return hours, specialty, counts, source


def load_history(
    connection: Connection,
    run_id: int,
    *,
    with_predecessor: bool = True,
    cache: HistoryCache | None = None,
) -> RunHistory:
    """The run's hourly wall-clock arrivals (total and per specialty) from the store.

    ``with_predecessor``: a run continuing a complete run (see :func:`predecessor`)
    gets that run's history in front of its own. ``cache``: what an earlier call
    read and cannot have changed is not read again (:class:`HistoryCache`).
    """
    row = _run_row(connection, run_id)
    kept = cache.complete(row) if cache is not None else None
    if kept is not None and not with_predecessor:
        return kept
    codes, names = _specialties(connection, run_id)
    if not codes:
        raise ForecastError(f"run {run_id} has no specialties", where="run_id")
    end = data_end_ms(connection, row)
    counted = cache.live_counts(connection, row, end) if cache is not None else None
    hours, specialty, counts, source = counted or _hourly_counts(connection, row)
    frame = _wall_clock_frame(
        hours, specialty, counts, codes, row["timezone"], int(row["start_utc_ms"]), end
    )
    start, read = int(row["start_utc_ms"]), [run_id]
    previous = predecessor(connection, row) if with_predecessor else None
    if previous is not None:
        before = load_history(connection, previous, with_predecessor=False, cache=cache)
        if before.specialties == codes:
            frame = pd.concat([before.arrivals[before.arrivals.index < frame.index[0]], frame])
            start, read = before.start_ms, [previous, run_id]
    history = RunHistory(
        run_id=run_id,
        kind=row["kind"],
        status=row["status"],
        timezone=row["timezone"],
        parameters=row["parameters"] or {},
        specialties=codes,
        names=names,
        start_ms=start,
        end_ms=end,
        arrivals=frame,
        source=source,
        runs=read,
    )
    if cache is not None and not with_predecessor:
        cache.keep(row, history)
    return history


def _tuples(connection: Connection, stmt: sa.Select) -> list[tuple]:
    """Plain tuples: NumPy and pandas read them far faster than rows."""
    return [tuple(row) for row in connection.execute(stmt).all()]


def load_state(connection: Connection, run_id: int) -> pd.DataFrame:
    """Per UTC hour and specialty: time-averaged waiting and doctors on duty, present at start.

    Columns ``hour_ms``, ``specialty_idx``, ``waiting``, ``doctors_on_duty`` (the
    rollup's exact time averages; NaN for runs without them) and ``present`` (patients
    waiting or in treatment at the state sample taken at the start of the hour; NaN
    without one). Two statements, each one range of an index.
    """
    h, s = schema.hourly_specialty, schema.state_snapshots
    rollup = pd.DataFrame(
        _tuples(
            connection,
            sa.select(h.c.hour_ms, h.c.specialty_idx, h.c.waiting, h.c.doctors_on_duty)
            .where(h.c.run_id == run_id)
            .order_by(h.c.hour_ms, h.c.specialty_idx),
        ),
        columns=["hour_ms", "specialty_idx", "waiting", "doctors_on_duty"],
    )
    samples = pd.DataFrame(
        _tuples(
            connection,
            sa.select(s.c.time_ms, s.c.specialty_idx, s.c.waiting + s.c.in_treatment)
            .where(s.c.run_id == run_id)
            .order_by(s.c.time_ms, s.c.specialty_idx),
        ),
        columns=["hour_ms", "specialty_idx", "present"],
    )
    samples = samples[samples["hour_ms"] % MS_PER_HOUR == 0]
    if rollup.empty:
        return samples.assign(waiting=np.nan, doctors_on_duty=np.nan)
    merged = rollup.merge(samples, on=["hour_ms", "specialty_idx"], how="left")
    return merged.astype(
        {"hour_ms": np.int64, "specialty_idx": np.int64, "waiting": float, "present": float}
    )
