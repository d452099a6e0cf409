"""Reading hourly counts: CSV errors name the line or column; daylight-saving policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hospiflow.errors import ForecastError
from hospiflow.forecast.series import (
    load_series_csv,
    to_hourly_grid,
    validate_series,
    wall_clock_hourly_counts,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "counts.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_timestamps_and_counts(tmp_path: Path) -> None:
    """A plain time,count CSV becomes a float series on wall-clock hours, sorted."""
    path = write(tmp_path, "time,n\n2025-01-01 01:00,4\n2025-01-01 00:00,3\n")
    series = load_series_csv(path, "time", "n")
    assert series.index.tolist() == [
        pd.Timestamp("2025-01-01 00:00"),
        pd.Timestamp("2025-01-01 01:00"),
    ]
    assert series.tolist() == [3.0, 4.0]


def test_reads_date_and_hour_columns(tmp_path: Path) -> None:
    """With hour_column the time column holds the date and the hour comes from 0-23."""
    path = write(tmp_path, "Date,Hour,Arrivals\n2018-03-31,0,5\n2018-03-31,23,2\n")
    series = load_series_csv(path, "Date", "Arrivals", hour_column="Hour")
    assert series.index[-1] == pd.Timestamp("2018-03-31 23:00")


@pytest.mark.parametrize(
    ("text", "where", "phrase"),
    [
        ("time,n\n2025-01-01 00:00,1\n", "counts.csv: count", "column 'count' not found"),
        ("time,count\n2025-01-01 00:00,1\nyesterday,2\n", "counts.csv:3", "cannot read time"),
        ("time,count\n2025-01-01 00:00,1\n2025-01-01 01:00,-2\n", "counts.csv:3", "negative"),
        ("time,count\n2025-01-01 00:00,1.5\n", "counts.csv:2", "whole number"),
        ("time,count\n2025-01-01 00:00,\n", "counts.csv:2", "not a number"),
        ("time,count\n2025-01-01 00:30,1\n", "counts.csv:2", "not on the hour"),
        (
            "time,count\n2025-01-01 00:00,1\n2025-01-01 01:00,1\n2025-01-01 00:00,2\n",
            "counts.csv:4",
            "appears twice (first on line 2)",
        ),
        ("time,count\n2025-01-01T00:00+01:00,1\n", "counts.csv:2", "pass tz"),
    ],
)
def test_bad_input_names_line_or_column(tmp_path: Path, text: str, where: str, phrase: str) -> None:
    """Every malformed file raises ForecastError with file:line (or column) and the reason."""
    with pytest.raises(ForecastError) as caught:
        load_series_csv(write(tmp_path, text), "time", "count")
    assert caught.value.where == where
    assert phrase in caught.value.message


def test_bad_hour_column_names_line(tmp_path: Path) -> None:
    """An hour outside 0-23 is refused with its line."""
    path = write(tmp_path, "Date,Hour,n\n2025-01-01,0,1\n2025-01-01,24,1\n")
    with pytest.raises(ForecastError) as caught:
        load_series_csv(path, "Date", "n", hour_column="Hour")
    assert caught.value.where == "counts.csv:3"


def test_missing_file_is_a_forecast_error(tmp_path: Path) -> None:
    """A file that does not exist is reported, not a traceback."""
    with pytest.raises(ForecastError, match="file not found"):
        load_series_csv(tmp_path / "nope.csv", "time", "count")


def test_gaps_are_allowed_and_become_unobserved(tmp_path: Path) -> None:
    """A missing hour is not an error; on the grid it is NaN, not zero."""
    path = write(tmp_path, "time,count\n2025-01-01 00:00,1\n2025-01-01 03:00,2\n")
    grid = to_hourly_grid(load_series_csv(path, "time", "count"))
    assert len(grid) == 4
    assert np.isnan(grid.iloc[1]) and np.isnan(grid.iloc[2])


def test_spring_change_hour_is_absent() -> None:
    """Paris, 2025-03-30: one event per UTC hour gives 23 wall-clock hours, no 02:00."""
    instants = pd.date_range("2025-03-29 23:30", "2025-03-30 21:30", freq="h", tz="UTC")
    counts = wall_clock_hourly_counts(instants, "Europe/Paris")
    day = counts["2025-03-30"]
    assert len(day) == 23
    assert pd.Timestamp("2025-03-30 02:00") not in counts.index
    assert day.eq(1).all()
    assert counts.index.tz is None


def test_autumn_change_hour_is_summed() -> None:
    """Paris, 2025-10-26: the 02:00 hour lived twice holds both passes' counts, once."""
    instants = pd.date_range("2025-10-25 22:30", "2025-10-26 22:30", freq="h", tz="UTC")
    counts = wall_clock_hourly_counts(instants, "Europe/Paris")
    day = counts["2025-10-26"]
    assert len(day) == 24  # 25 real hours, 24 wall-clock hours
    assert day[pd.Timestamp("2025-10-26 02:00")] == 2
    assert day.drop(pd.Timestamp("2025-10-26 02:00")).eq(1).all()
    assert counts.index.is_unique


def test_csv_with_tz_applies_the_policy(tmp_path: Path) -> None:
    """UTC hourly counts read with tz=Europe/Paris: autumn repeated hour summed, not a duplicate."""
    path = write(
        tmp_path,
        "utc,count\n2025-10-26 00:00,3\n2025-10-26 01:00,4\n2025-10-26 02:00,5\n",
    )
    series = load_series_csv(path, "utc", "count", tz="Europe/Paris")
    assert series.to_dict() == {
        pd.Timestamp("2025-10-26 02:00"): 7.0,
        pd.Timestamp("2025-10-26 03:00"): 5.0,
    }


def test_naive_instants_are_refused() -> None:
    """Instants without a time zone cannot be placed on the wall clock."""
    with pytest.raises(ForecastError, match="time-zone aware"):
        wall_clock_hourly_counts(pd.DatetimeIndex(["2025-01-01 00:00"]), "Europe/Paris")


def test_validate_series_refuses_zoned_or_negative() -> None:
    """The store-facing check refuses tz-aware indexes and negative counts."""
    index = pd.date_range("2025-01-01", periods=3, freq="h")
    with pytest.raises(ForecastError, match="wall-clock"):
        validate_series(pd.Series([1.0, 2.0, 3.0], index=index.tz_localize("UTC")))
    with pytest.raises(ForecastError, match="negative"):
        validate_series(pd.Series([1.0, -2.0, 3.0], index=index))


def test_uihc_file_loads(uihc_csv: Path) -> None:
    """The real UIHC file reads as 41,640 consecutive hours without error."""
    series = load_series_csv(uihc_csv, "Date", "Arrivals", hour_column="Hour")
    assert len(series) == 41_640
    assert len(to_hourly_grid(series)) == 41_640
    assert series.mean() == pytest.approx(6.63, abs=0.01)
