"""Hourly arrival counts only -> ``HourlyCount``s: a forecast-only site.

Some sites give no visits, only how many patients arrived each hour (the
University of Iowa Hospitals & Clinics series that the fastTS R package ships,
``uihc_ed_arrivals``: columns Year, Quarter, Month, Day, Hour, Arrivals, Date,
Weekday, temp and holiday flags; one row per local hour). ``read`` turns such
a delimited file into one ``HourlyCount(hour_start, arrivals, source)`` per row.

**Columns** (matched without case; settings in ``ReadOptions.settings``):

* the hour, either ``time_column`` (one timestamp: "YYYY-MM-DD HH:MM[:SS]",
  "YYYY-MM-DDTHH:MM", "dd/mm/yyyy hh:mm", or ISO with an offset), or a date
  and an hour of day: ``date_column`` (default "Date"; "YYYY-MM-DD" or
  "dd/mm/yyyy") and ``hour_column`` (default "Hour", 0-23);
* the count, ``count_column`` (default: the first of "Arrivals", "count",
  "counts" present).

Without ``time_column``, the date + hour layout is used when both columns
exist (the UIHC file is recognised this way), else the first column named
hour_start, timestamp, datetime, time or ds is taken as the timestamp; a file
matching neither, or a named column not in the header, is an ``IngestError``.
The separator (``,``, ``;``, tab or ``|``) is the one the header line holds
most of; the encoding is detected as for RPU extracts (UTF-8, BOM tolerated,
else CP1252).

**Time.** The hours are local to ``options.timezone`` (the UIHC file is US
Central time: "America/Chicago"); the README of that copy says daylight
saving is already normalised to 24 rows a day. Each row is given to its
local hour's **first occurrence** (zoneinfo ``fold=0``) and no row is skipped:
in autumn the repeated hour's row is its first (daylight-time) occurrence
and the second occurrence has no row; in spring the row of the hour that
does not exist (02:00) takes the offset before the change, i.e. the instant
of 03:00 daylight time, which the following row also has: the import adds
the two up, so every arrival is kept. A timestamp with an explicit offset is
that instant. ``hour_start`` is an aware datetime in the site's zone.

**Rejections.** Location ``file.csv:LINE`` (header = line 1), field the
column: ``bad_time`` (date, hour or timestamp unreadable, hour not 0-23, a
timestamp not on the hour), ``missing_field`` (count empty), ``bad_value``
(a count negative or not a whole number), ``duplicate`` (a local hour already
given earlier in the files: the first is kept), ``bad_row`` (fields out of
line with the header). Counts hold no identifiers: ``raw`` is the row as read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hospiflow.ingest.formats import IngestError, Item, ReadOptions
from hospiflow.ingest.rpu import detect_encoding, parse_day
from hospiflow.records import HourlyCount, Rejection, redact

COUNT_NAMES = ("arrivals", "count", "counts")
TIME_NAMES = ("hour_start", "timestamp", "datetime", "time", "ds")
_DELIMITERS = (",", ";", "\t", "|")
Key = tuple[datetime, int]  # a local wall-clock hour (naive) and its fold


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise IngestError(f"unknown time zone {name!r}", where="timezone") from error


def _delimiter(header: str) -> str:
    """The separator the header line holds most of (``,`` when it holds none)."""
    return max(_DELIMITERS, key=header.count) if any(d in header for d in _DELIMITERS) else ","


class _Bad(Exception):
    """A row that cannot be a count: field, reason, sentence."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class _Columns:
    """Which columns hold the hour and the count, from the header and the settings."""

    def __init__(self, header: list[str], settings: dict[str, Any], where: str) -> None:
        self.header = header
        self.lower = [name.strip().lower() for name in header]
        self.where = where
        self.time: int | None = None
        self.date: int | None = None
        self.hour: int | None = None
        if settings.get("time_column"):
            self.time = self._named(settings, "time_column", ())
        else:
            self.date = self._find(str(settings.get("date_column") or "Date"))
            self.hour = self._find(str(settings.get("hour_column") or "Hour"))
            explicit = settings.get("date_column") or settings.get("hour_column")
            if self.date is None or self.hour is None:
                if explicit:
                    raise IngestError(
                        "date_column / hour_column not found in the header", where=where
                    )
                self.date = self.hour = None
                found = [self._find(name) for name in TIME_NAMES]
                self.time = next((index for index in found if index is not None), None)
                if self.time is None:
                    raise IngestError(
                        "no hour column: set time_column, or date_column and hour_column",
                        where=where,
                    )
        self.count = self._named(settings, "count_column", COUNT_NAMES)

    def _find(self, name: str) -> int | None:
        wanted = name.strip().lower()
        return self.lower.index(wanted) if wanted in self.lower else None

    def _named(self, settings: dict[str, Any], key: str, defaults: Sequence[str]) -> int:
        wanted = settings.get(key)
        for name in [wanted] if wanted else defaults:
            found = self._find(str(name))
            if found is not None:
                return found
        what = f"column {wanted!r}" if wanted else f"any of {', '.join(defaults)}"
        raise IngestError(f"{key}: no {what} in the header", where=self.where)

    def name(self, index: int | None) -> str:
        return self.header[index] if index is not None else ""


def _hour_of_day(text: str) -> int | None:
    text = text.strip()
    if text.isascii() and text.isdigit():
        hour = int(text)
    else:
        try:
            number = float(text)
        except ValueError:
            return None
        if not number.is_integer():
            return None
        hour = int(number)
    return hour if 0 <= hour <= 23 else None


def _count(text: str, column: str) -> int:
    text = text.strip()
    if not text:
        raise _Bad(column, "missing_field", f"{column} is empty")
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        number = float(text)
    except ValueError:
        raise _Bad(column, "bad_value", f"{column} {text[:20]!r} is not a number") from None
    if number < 0 or not number.is_integer():
        raise _Bad(column, "bad_value", f"{column} {text[:20]!r} is not a count (0, 1, 2, ...)")
    return int(number)


def _timestamp(text: str) -> datetime | None:
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    day = parse_day(text[:10])
    if day is None or len(text) < 13:
        return None
    try:
        hour, _, rest = text[10:].strip().partition(":")
        minute, _, second = rest.partition(":")
        return datetime(day.year, day.month, day.day, int(hour), int(minute), int(second or 0))
    except ValueError:
        return None


def _hour_start(row: list[str], columns: _Columns, zone: tzinfo) -> tuple[datetime, Key]:
    """The aware hour start and its duplicate key: the local wall-clock hour and its fold
    (1 only for an instant given with an offset in the repeated autumn hour)."""
    if columns.time is not None:
        column = columns.name(columns.time)
        moment = _timestamp(row[columns.time])
        if moment is None:
            raise _Bad(column, "bad_time", f"{column} is not a date and time")
        if moment.minute or moment.second or moment.microsecond:
            raise _Bad(column, "bad_time", f"{column} is not on the hour")
        if moment.tzinfo is not None:
            local = moment.astimezone(zone)
            return local, (local.replace(tzinfo=None, fold=0), local.fold)
        return moment.replace(tzinfo=zone).astimezone(UTC).astimezone(zone), (moment, 0)
    # the header check found a time column, or both a date and an hour column
    assert columns.date is not None and columns.hour is not None
    day = parse_day(row[columns.date])
    if day is None:
        column = columns.name(columns.date)
        raise _Bad(column, "bad_time", f"{column} is not a date (YYYY-MM-DD or dd/mm/yyyy)")
    hour = _hour_of_day(row[columns.hour])
    if hour is None:
        column = columns.name(columns.hour)
        raise _Bad(column, "bad_time", f"{column} is not an hour of day 0-23")
    wall = datetime(day.year, day.month, day.day, hour)
    return wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone), (wall, 0)


def _rows(
    path: Path, handle: IO[str], options: ReadOptions, zone: tzinfo, seen: set[Key]
) -> Iterator[Item]:
    first = handle.readline().lstrip("\ufeff")
    if not first.strip():
        raise IngestError("empty file (no header)", where=str(path))
    delimiter = options.settings.get("delimiter") or _delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter))
    columns = _Columns(header, options.settings, str(path))
    width, count_column = len(header), columns.name(columns.count)
    reader = csv.reader(handle, delimiter=delimiter)
    end = 1
    for row in reader:
        line, end = end + 1, reader.line_num + 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        where = f"{path.name}:{line}"
        try:
            if len(row) != width:
                raise _Bad("", "bad_row", f"{len(row)} fields where the header has {width}")
            hour_start, key = _hour_start(row, columns, zone)
            arrivals = _count(row[columns.count], count_column)
            if key in seen:
                column = columns.name(columns.time if columns.time is not None else columns.hour)
                raise _Bad(column, "duplicate", "this hour was already given (first one kept)")
        except _Bad as bad:
            yield Rejection(
                location=where,
                reason=bad.reason,
                message=str(bad),
                field=bad.field or None,
                raw=redact(dict(zip(header, row, strict=False)), ()),
            )
            continue
        seen.add(key)
        yield HourlyCount(hour_start=hour_start, arrivals=arrivals, source=where)


def read(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """Hourly arrival counts of delimited files, one ``Rejection`` per unreadable row.

    The columns, settings, DST treatment (each local hour's first occurrence,
    no row skipped) and rejection reasons are in the module docstring; an hour
    given twice, in one file or across files, is a ``duplicate``.
    """
    zone = _zone(options.timezone)
    seen: set[Key] = set()
    for path in paths:
        if not path.is_file():
            raise IngestError("no such file", where=str(path))
        encoding = detect_encoding(path, options.settings.get("encoding"))
        try:
            with path.open(encoding=encoding, newline="") as handle:
                yield from _rows(path, handle, options, zone, seen)
        except UnicodeDecodeError as error:
            raise IngestError(f"not {encoding} text", where=str(path)) from error
        except csv.Error as error:
            raise IngestError(f"malformed delimited text: {error}", where=str(path)) from error
        except OSError as error:
            raise IngestError(f"cannot read: {error.strerror}", where=str(path)) from error
