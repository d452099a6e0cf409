"""Hourly arrival-count series: the one input every forecaster takes.

A series is a ``pd.Series`` of counts (float, NaN = hour not observed) indexed by a
tz-naive ``DatetimeIndex`` of **local wall-clock hours** (``2025-03-30 01:00`` means
"the hour starting at 01:00 on the hospital's clock"). Wall-clock hours are what a
manager plans shifts on and what the weekly rhythm of arrivals follows.

Daylight-saving policy
----------------------
* Hours are local wall-clock hours of the hospital's time zone.
* On the **spring** change the skipped wall-clock hour (02:00 in Europe/Paris on
  2025-03-30) does not exist: it is simply absent from the series. That is not a gap
  and not an error; the day has 23 hours.
* On the **autumn** change the repeated wall-clock hour (02:00 in Europe/Paris on
  2025-10-26, lived twice) keeps a single entry whose count is the **sum** of both
  passes; the day has 24 entries and that hour counts about twice the usual arrivals.
  Models see it as one noisy hour a year, which costs nothing measurable.

Missing hours
-------------
Hours absent from a file are allowed: they are treated as *not observed*, excluded
from fitting and from scoring, never filled with zeros (a zero is an observation).
:func:`to_hourly_grid` puts a series on the complete hourly grid with NaN where an hour
was not observed, which is what the models and the backtest work on.

Errors (:class:`hospiflow.errors.ForecastError`) name the file and line, or the column:
missing column, unparsable time, time not on the hour, missing or negative or
fractional count, duplicate hour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hospiflow.errors import ForecastError

__all__ = [
    "load_series_csv",
    "to_hourly_grid",
    "validate_series",
    "wall_clock_hourly_counts",
]

_HEADER_LINES = 1  # data row i (0-based) sits on file line i + 2


def _line(path: Path, row: int) -> str:
    return f"{path.name}:{row + _HEADER_LINES + 1}"


def load_series_csv(
    path: str | Path,
    time_column: str,
    count_column: str,
    hour_column: str | None = None,
    tz: str | None = None,
) -> pd.Series:
    """Read a hospital's own CSV of hourly counts into a wall-clock hourly series.

    ``time_column`` holds a timestamp (``2025-03-30 14:00``), or only the date when
    ``hour_column`` gives the hour 0-23 (the UIHC file: ``Date`` + ``Hour``). Without
    ``tz`` times are read as local wall-clock hours and must not carry UTC offsets.
    With ``tz`` (e.g. ``"Europe/Paris"``) they are read as instants (offset-aware, or
    UTC when naive), and turned into local wall-clock hours under the module's
    daylight-saving policy. Returns the observed hours only, sorted (see
    :func:`to_hourly_grid` for the complete grid).
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ForecastError("file not found", where=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ForecastError(f"not a readable CSV file ({error})", where=str(path)) from None
    wanted = [time_column, count_column] + ([hour_column] if hour_column else [])
    for column in wanted:
        if column not in frame.columns:
            found = ", ".join(frame.columns) or "none"
            raise ForecastError(
                f"column {column!r} not found (columns: {found})", where=f"{path.name}: {column}"
            )
    if frame.empty:
        raise ForecastError("no data rows", where=str(path))

    times = _parse_times(frame, path, time_column, hour_column, tz)
    counts = _parse_counts(frame[count_column], path, count_column)

    _refuse_duplicates(times, path)
    if tz is None:
        return pd.Series(counts, index=times, name=count_column).sort_index()
    return wall_clock_hourly_counts(times, tz, weights=counts).rename(count_column)


def _parse_times(
    frame: pd.DataFrame, path: Path, time_column: str, hour_column: str | None, tz: str | None
) -> pd.DatetimeIndex:
    raw = frame[time_column].str.strip()
    if tz is None:
        offsets = raw.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True).to_numpy()
        if offsets.any():
            row = int(np.flatnonzero(offsets)[0])
            raise ForecastError(
                f"time {raw.iloc[row]!r} carries a UTC offset; pass tz (the hospital's time "
                "zone) to convert instants to local wall-clock hours",
                where=_line(path, row),
            )
    parsed = pd.to_datetime(raw, errors="coerce", format="mixed", utc=tz is not None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ForecastError(
            f"cannot read time {frame[time_column].iloc[row]!r} in column {time_column!r}",
            where=_line(path, row),
        )
    times = pd.DatetimeIndex(parsed)
    if hour_column is not None:
        hours = pd.to_numeric(frame[hour_column].str.strip(), errors="coerce").to_numpy()
        bad_hour = ~np.isin(hours, np.arange(24))
        if bad_hour.any():
            row = int(np.flatnonzero(bad_hour)[0])
            raise ForecastError(
                f"hour {frame[hour_column].iloc[row]!r} in column {hour_column!r} is not an "
                "integer 0-23",
                where=_line(path, row),
            )
        not_midnight = times != times.normalize()
        if not_midnight.any():
            row = int(np.flatnonzero(not_midnight)[0])
            raise ForecastError(
                f"column {time_column!r} must hold a date only when {hour_column!r} gives "
                f"the hour, got {raw.iloc[row]!r}",
                where=_line(path, row),
            )
        times = times + pd.to_timedelta(hours.astype(np.int64), unit="h")
    off_hour = times != times.floor("h")
    if off_hour.any():
        row = int(np.flatnonzero(off_hour)[0])
        raise ForecastError(
            f"time {raw.iloc[row]!r} is not on the hour (expected hourly counts)",
            where=_line(path, row),
        )
    return times


def _parse_counts(raw: pd.Series, path: Path, column: str) -> np.ndarray:
    values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=float)
    checks = [
        (~np.isfinite(values), "is not a number"),
        (np.nan_to_num(values) < 0, "is negative"),
        (np.nan_to_num(values) != np.round(np.nan_to_num(values)), "is not a whole number"),
    ]
    for mask, what in checks:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise ForecastError(
                f"count {raw.iloc[row]!r} in column {column!r} {what}", where=_line(path, row)
            )
    return values


def _refuse_duplicates(times: pd.DatetimeIndex, path: Path) -> None:
    duplicated = times.duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero(times == times[row])[0])
        raise ForecastError(
            f"hour {times[row]} appears twice (first on line {first + _HEADER_LINES + 1})",
            where=_line(path, row),
        )


def wall_clock_hourly_counts(
    instants: pd.DatetimeIndex | pd.Series,
    tz: str,
    weights: np.ndarray | None = None,
) -> pd.Series:
    """Count tz-aware instants (e.g. UTC arrival times) per local wall-clock hour.

    This is where the daylight-saving policy lives: instants are converted to ``tz``,
    floored to the hour, and the zone is dropped, so the two passes through the
    repeated autumn hour fall in one wall-clock hour (their counts add up) and the
    skipped spring hour never appears. ``weights`` (one per instant) counts each
    instant that many times, for input that is already hourly counts in UTC. Only
    hours with at least one instant (or weight entry) appear; zero-count hours
    between them are *not* filled in, because an absent instant cannot tell a quiet
    hour from an unobserved one (use :func:`to_hourly_grid` with ``fill_value=0``
    when the instants are a complete record).
    """
    index = pd.DatetimeIndex(instants)
    if index.tz is None:
        raise ForecastError("instants must be time-zone aware (e.g. UTC)", where="instants")
    try:
        local = index.tz_convert(tz)
    except Exception as error:  # zoneinfo raises several kinds for unknown zones
        raise ForecastError(f"unknown time zone {tz!r} ({error})", where="tz") from None
    wall_clock = local.tz_localize(None).floor("h")
    values = np.ones(len(index)) if weights is None else np.asarray(weights, dtype=float)
    if len(values) != len(index):
        raise ForecastError("weights must have one value per instant", where="weights")
    counts = pd.Series(values, index=wall_clock).groupby(level=0).sum()
    counts.index = pd.DatetimeIndex(counts.index, name=None)
    return counts.astype(float)


def validate_series(series: pd.Series, where: str = "series") -> pd.Series:
    """Check a series is a usable hourly count series; return it sorted as float.

    Used at the boundary with the store: the index must be tz-naive wall-clock hours,
    unique, on the hour; values non-negative (NaN = not observed).
    """
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ForecastError("index must be a DatetimeIndex of hours", where=where)
    if series.index.tz is not None:
        raise ForecastError(
            "index must be local wall-clock hours without a time zone "
            "(see wall_clock_hourly_counts)",
            where=where,
        )
    if series.index.has_duplicates:
        raise ForecastError(
            f"hour {series.index[series.index.duplicated()][0]} appears twice", where=where
        )
    if (series.index != series.index.floor("h")).any():
        raise ForecastError("index entries must be on the hour", where=where)
    values = pd.to_numeric(series, errors="coerce").astype(float)
    if (values < 0).any():
        raise ForecastError("counts must not be negative", where=where)
    if values.notna().sum() == 0:
        raise ForecastError("no observed hours", where=where)
    return values.sort_index()


def hours_of(data: pd.Series | pd.DataFrame) -> pd.DatetimeIndex:
    """The hours indexing ``data`` (a grid from ``to_hourly_grid``, or rows of one)."""
    index = data.index
    if not isinstance(index, pd.DatetimeIndex):
        raise ForecastError(
            f"index must be a DatetimeIndex of hours, got {type(index).__name__}", where="series"
        )
    return index


def to_hourly_grid(series: pd.Series, fill_value: float = np.nan) -> pd.Series:
    """Reindex a series on every hour from its first to its last entry.

    Hours not in the input become ``fill_value`` (NaN: not observed). The spring
    daylight-saving hour therefore shows up as NaN here, harmlessly: NaN hours are
    skipped when fitting and scoring.
    """
    series = validate_series(series)
    grid = pd.date_range(series.index[0], series.index[-1], freq="h")
    return series.reindex(grid, fill_value=fill_value)
