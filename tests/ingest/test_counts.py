"""Hourly arrival counts reader, on generated files and the real UIHC series."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hospiflow.ingest.formats import IngestError, ReadOptions, reader
from hospiflow.records import HourlyCount, Rejection

CHICAGO = ZoneInfo("America/Chicago")
OPTIONS = ReadOptions(timezone="America/Chicago")
UIHC = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "ed-data"
    / "uihc-iowa"
    / "uihc_ed_arrivals.csv"
)
UIHC_HEADER = "Year,Quarter,Month,Day,Hour,Arrivals,Date,Weekday,temp"


def items(
    *paths: Path, options: ReadOptions = OPTIONS
) -> tuple[list[HourlyCount], list[Rejection]]:
    """Read with the registry's reader; split counts and rejections."""
    got = list(reader("counts")(list(paths), options))
    counts = [item for item in got if isinstance(item, HourlyCount)]
    rejections = [item for item in got if isinstance(item, Rejection)]
    assert len(counts) + len(rejections) == len(got)
    return counts, rejections


def uihc_line(day: str, hour: int | str, arrivals: int | str) -> str:
    """One row in the UIHC layout (the date columns besides Date are not used)."""
    return f"2013,Q1,7,1,{hour},{arrivals},{day},Mon,57.0"


def write(path: Path, header: str, lines: list[str]) -> Path:
    """A generated counts file."""
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_the_uihc_layout_is_recognised_and_every_bad_row_rejected(tmp_path):
    """Date + Hour + Arrivals are found without settings; bad dates, hours and counts and a
    repeated hour are rejected with line, column and reason; good rows are all kept."""
    lines = [
        uihc_line("2013-07-01", 0, 5),  # 2
        uihc_line("2013-07-01", 1, "7.0"),  # 3
        uihc_line("2013-07-32", 2, 4),  # 4 bad date
        uihc_line("2013-07-01", 24, 4),  # 5 bad hour
        uihc_line("2013-07-01", "x", 4),  # 6 bad hour
        uihc_line("2013-07-01", 3, -1),  # 7 negative
        uihc_line("2013-07-01", 4, "2.5"),  # 8 not whole
        uihc_line("2013-07-01", 5, "many"),  # 9 not a number
        uihc_line("2013-07-01", 6, ""),  # 10 empty
        uihc_line("2013-07-01", 1, 9),  # 11 duplicate of line 3
        "2013,Q1,7,1",  # 12 too few fields
        "",  # 13 blank
        uihc_line("01/07/2013", 7, 0),  # 14 dd/mm/yyyy, zero arrivals
    ]
    counts, rejections = items(write(tmp_path / "arrivals.csv", UIHC_HEADER, lines))
    assert [(c.hour_start, c.arrivals, c.source) for c in counts] == [
        (datetime(2013, 7, 1, 0, tzinfo=CHICAGO), 5, "arrivals.csv:2"),
        (datetime(2013, 7, 1, 1, tzinfo=CHICAGO), 7, "arrivals.csv:3"),
        (datetime(2013, 7, 1, 7, tzinfo=CHICAGO), 0, "arrivals.csv:14"),
    ]
    assert counts[0].hour_start == datetime(2013, 7, 1, 5, tzinfo=UTC)  # CDT is UTC-5
    assert [(r.location, r.field, r.reason) for r in rejections] == [
        ("arrivals.csv:4", "Date", "bad_time"),
        ("arrivals.csv:5", "Hour", "bad_time"),
        ("arrivals.csv:6", "Hour", "bad_time"),
        ("arrivals.csv:7", "Arrivals", "bad_value"),
        ("arrivals.csv:8", "Arrivals", "bad_value"),
        ("arrivals.csv:9", "Arrivals", "bad_value"),
        ("arrivals.csv:10", "Arrivals", "missing_field"),
        ("arrivals.csv:11", "Hour", "duplicate"),
        ("arrivals.csv:12", None, "bad_row"),
    ]
    assert "Hour=24" in rejections[1].raw


def test_a_timestamp_column_and_named_columns(tmp_path):
    """time_column and count_column name the columns; ISO, dd/mm/yyyy and offset timestamps
    read; a time off the hour is bad_time."""
    lines = [
        "2024-01-15 10:00;3",
        "15/01/2024 11:00;4",
        "2024-01-15T14:00:00-06:00;5",
        "2024-01-15T17:00:00+00:00;9",  # 11:00 Chicago: line 3's hour again
        "2024-01-15 13:30;6",
        "soon;1",
    ]
    path = write(tmp_path / "hours.csv", "quand;patients", lines)
    settings = {"time_column": "QUAND", "count_column": "patients"}
    counts, rejections = items(path, options=ReadOptions("America/Chicago", settings=settings))
    assert [(c.hour_start, c.arrivals) for c in counts] == [
        (datetime(2024, 1, 15, 10, tzinfo=CHICAGO), 3),
        (datetime(2024, 1, 15, 11, tzinfo=CHICAGO), 4),
        (datetime(2024, 1, 15, 20, tzinfo=UTC), 5),
    ]
    assert [(r.location, r.field, r.reason) for r in rejections] == [
        ("hours.csv:5", "quand", "duplicate"),
        ("hours.csv:6", "quand", "bad_time"),
        ("hours.csv:7", "quand", "bad_time"),
    ]


def test_a_timestamp_column_is_found_by_its_usual_names(tmp_path):
    """Without settings, a hour_start + count file is read."""
    path = write(tmp_path / "c.csv", "hour_start,count", ["2024-01-15 10:00,3"])
    counts, rejections = items(path)
    assert ([(c.hour_start, c.arrivals) for c in counts], rejections) == (
        [(datetime(2024, 1, 15, 10, tzinfo=CHICAGO), 3)],
        [],
    )


def test_files_without_usable_columns_are_ingest_errors(tmp_path):
    """No hour column, no count column, a named column absent, an empty or missing file:
    IngestError."""
    cases = [
        ("a,b", {}, "no hour column"),
        ("Date,Hour,Patients", {}, "count_column"),
        ("Date,Hour,Arrivals", {"count_column": "n"}, "count_column"),
        ("Date,Hour,Arrivals", {"date_column": "Jour"}, "date_column"),
        ("Date,Hour,Arrivals", {"time_column": "stamp"}, "time_column"),
    ]
    for number, (header, settings, message) in enumerate(cases):
        path = write(tmp_path / f"f{number}.csv", header, ["1,2,3"])
        with pytest.raises(IngestError, match=message):
            items(path, options=ReadOptions("America/Chicago", settings=settings))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(IngestError, match="empty"):
        items(empty)
    with pytest.raises(IngestError, match="no such file"):
        items(tmp_path / "absent.csv")


def test_daylight_saving_days_keep_every_row(tmp_path):
    """Spring's nonexistent 02:00 takes 03:00's instant (both rows kept, no duplicate); autumn's
    repeated 01:00 is its first (daylight-time) occurrence."""
    spring = [uihc_line("2014-03-09", hour, 10 + hour) for hour in range(24)]
    autumn = [uihc_line("2014-11-02", hour, 1) for hour in range(24)]
    counts, rejections = items(write(tmp_path / "dst.csv", UIHC_HEADER, spring + autumn))
    assert rejections == []
    assert len(counts) == 48
    assert counts[2].hour_start == counts[3].hour_start == datetime(2014, 3, 9, 8, tzinfo=UTC)
    assert (counts[2].arrivals, counts[3].arrivals) == (12, 13)
    # (an aware time in the repeated hour never equals one of another zone: PEP 495)
    assert counts[24 + 1].hour_start.astimezone(UTC) == datetime(2014, 11, 2, 6, tzinfo=UTC)
    assert counts[24 + 2].hour_start.astimezone(UTC) == datetime(2014, 11, 2, 8, tzinfo=UTC)


def test_a_repeated_hour_across_files_is_a_duplicate(tmp_path):
    """The second file's copy of an hour is rejected; the first is kept."""
    first = write(tmp_path / "a.csv", UIHC_HEADER, [uihc_line("2013-07-01", 0, 5)])
    second = write(tmp_path / "b.csv", UIHC_HEADER, [uihc_line("2013-07-01", 0, 6)])
    counts, rejections = items(first, second)
    assert [c.arrivals for c in counts] == [5]
    assert [(r.location, r.reason) for r in rejections] == [("b.csv:2", "duplicate")]


def test_the_real_uihc_series_reads_whole():
    """The University of Iowa file gives 41,640 hours, no rejection, 6.63 arrivals an hour."""
    if not UIHC.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the UIHC series is missing: {UIHC}")
        pytest.skip(f"the UIHC series is not here: {UIHC}")
    counts, rejections = items(UIHC)
    assert rejections == []
    assert len(counts) == 41_640
    assert round(sum(c.arrivals for c in counts) / len(counts), 2) == 6.63
    assert counts[0].hour_start == datetime(2013, 7, 1, 0, tzinfo=CHICAGO)
    assert counts[-1].hour_start == datetime(2018, 3, 31, 23, tzinfo=CHICAGO)
