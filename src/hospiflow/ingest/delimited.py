"""Delimited text and Excel workbooks with a mapping file -> visits; visits -> canonical CSV.

A hospital's own extract is a CSV (``,``), a ``;``-separated file (French
exports), a tab-separated file or an ``.xlsx`` workbook whose columns are
named by the site. A **mapping file** (TOML, documented key by key in
``mapping_reference.toml``, printed by ``hospiflow import mapping show``)
says where each ``VisitRecord`` field is, how times are written and how the
site's codes translate. ``load_mapping`` validates it strictly.

**Reading.** Text files are read with the standard ``csv`` module (RFC 4180
quoting, fields with embedded newlines) one physical line at a time, each
line decoded on its own so that a line that does not decode is quarantined
(``bad_encoding``) instead of failing the file. Workbooks are read with
openpyxl in read-only mode (cells may already be datetimes or numbers).
``read`` with no mapping reads the canonical CSV that ``write`` writes
(``DEFAULT_MAPPING``).

**Rejections.** Location ``name.csv:LINE`` (the physical line where the row
starts, the header being line 1) or ``name.xlsx:Sheet!ROW``; reasons
``bad_encoding``, ``bad_row`` (wrong number of fields), ``missing_field``
(no arrival), ``bad_time``, ``bad_value`` (disposition, sex, acuity, age,
diagnosis system), ``departure_before_arrival``, ``seen_before_arrival`` and
``seen_after_departure`` (first seen after the departure). ``raw`` is the
row with every column not mapped to a non-identifying field redacted:
patient_id, visit_id, doctor_id, birth_date, postcode and unmapped columns
(names, addresses, free text). Messages never echo those columns' values.

**Times.** Naive local times get the zone (``[time] timezone``, else
``options.timezone``) with zoneinfo's ``fold=0`` semantics: a nonexistent
or repeated local time takes the offset in force before the change. Times
with an offset are converted to that zone.

**Speed.** Per file, one parser is built per mapped column and a row is
one comprehension over them; time columns try the format that matched last
first and read the fixed formats ``%d/%m/%Y %H:%M[:%S]`` and
``%Y-%m-%d %H:%M[:%S]`` by slicing, with each distinct day and clock time
parsed once, instead of ``strptime`` (about 15 us a call); code lookups
(disposition, sex, acuity, age...) are memoised per distinct value.
Measured (CPU time, one core): about 100,000 rows/s for a 15-column
``;``-separated latin-1 extract, 150,000 rows/s for 3 columns (hillmaker);
building the frozen ``VisitRecord`` itself is about a third of a row.

**Hillmaker preset.** ``read_hillmaker`` reads the input of occupancy tools
such as hillmaker (https://github.com/misken/hillmaker): one row per stay
with an in time, an out time and a category.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hospiflow.ingest.formats import IngestError, Item, ReadOptions, WriteOptions
from hospiflow.records import (
    DISPOSITION_LABELS,
    ICD9,
    ICD10,
    Disposition,
    Rejection,
    VisitRecord,
    redact,
)

# --- the mapping ---------------------------------------------------------------------

TIME_FIELDS = ("arrival", "first_seen", "departure")
# Mapping field -> VisitRecord attribute (only age is named differently).
FIELDS: dict[str, str] = {
    "arrival": "arrival",
    "first_seen": "first_seen",
    "departure": "departure",
    "acuity": "acuity",
    "disposition": "disposition",
    "diagnosis": "diagnosis",
    "diagnosis_system": "diagnosis_system",
    "age": "age_years",
    "birth_date": "birth_date",
    "sex": "sex",
    "patient_id": "patient_id",
    "visit_id": "visit_id",
    "doctor_id": "doctor_id",
    "specialty": "specialty",
    "postcode": "postcode",
}
# Fields whose values may be shown in quarantine and messages; every other
# column (mapped to an identifier or not mapped at all) is redacted.
NON_IDENTIFYING = frozenset(
    (
        "arrival",
        "first_seen",
        "departure",
        "acuity",
        "disposition",
        "diagnosis",
        "diagnosis_system",
        "age",
        "sex",
        "specialty",
    )
)
DELIMITERS = (",", ";", "\t", "|", "auto")
ENCODINGS = ("utf-8", "latin-1", "cp1252")
DEFAULT_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M%z", "%Y-%m-%dT%H:%M:%S%z")
SEXES = ("F", "M", "U")
_SEX_SPELLINGS = {
    "f": "F",
    "m": "M",
    "u": "U",
    "female": "F",
    "male": "M",
    "unknown": "U",
    "femme": "F",
    "homme": "M",
    "inconnu": "U",
}
_SYSTEM_SPELLINGS = {
    **dict.fromkeys(("icd10", "icd-10", "i10", "i10c", "icd10cm", "icd-10-cm", "cim10"), ICD10),
    **dict.fromkeys(("cim-10",), ICD10),
    **dict.fromkeys(("icd9", "icd-9", "i9", "i9c", "icd9cm", "icd-9-cm", "cim9", "cim-9"), ICD9),
}
_VALUE_TABLES = ("disposition", "sex", "acuity", "specialty")
_SOURCE_KEYS = ("delimiter", "encoding", "decimal", "header", "skip_rows", "sheet")
_TIME_KEYS = ("formats", "birth_date_format", "timezone")
_TOP_KEYS = ("source", "time", "columns", "values")


@dataclass(frozen=True)
class Mapping:
    """A validated mapping file: how one site's extract is read (see mapping_reference.toml)."""

    columns: dict[str, str | int]  # field -> header name, or 1-based number without header
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    header: bool = True
    skip_rows: int = 0
    sheet: str | None = None
    formats: tuple[str, ...] = DEFAULT_FORMATS
    birth_date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    timezone: str | None = None
    dispositions: dict[str, Disposition] = field(default_factory=dict)  # casefolded keys
    sexes: dict[str, str] = field(default_factory=dict)
    acuities: dict[str, int] = field(default_factory=dict)
    specialties: dict[str, str] = field(default_factory=dict)
    name: str = "<default>"  # the file it came from, for messages


CANONICAL_HEADER = (
    "visit_id",
    "patient_id",
    "arrival",
    "first_seen",
    "departure",
    "acuity",
    "disposition",
    "diagnosis",
    "diagnosis_system",
    "age",
    "sex",
    "specialty",
)
DEFAULT_MAPPING = Mapping(columns={name: name for name in CANONICAL_HEADER})


def mapping_documentation() -> str:
    """The reference mapping file, every key commented (``hospiflow import mapping show``)."""
    return (
        resources.files("hospiflow.ingest")
        .joinpath("mapping_reference.toml")
        .read_text(encoding="utf-8")
    )


def _line_of(text: str, table: str, key: str | None) -> int | None:
    """The line where ``key`` of ``[table]`` (or the table header itself) is written."""
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            current = re.sub(r"[\s\"']", "", stripped.split("#", 1)[0].strip().strip("[]"))
            if current == (table if key is None else f"{table}.{key}"):
                return number  # the table itself, or a sub-table named like the key
            continue
        if key is not None and current == table and "=" in stripped:
            name = stripped.split("=", 1)[0].strip().strip("\"'")
            if name == key:
                return number
    return None


class _Checker:
    """Raises ``IngestError`` naming the mapping file, the line and the key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, table: str, key: str | None, problem: str) -> IngestError:
        line = _line_of(self.text, table, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        subject = f"[{table}] {key}" if key is not None else f"[{table}]"
        return IngestError(f"{subject}: {problem}", where=where, key=key, table=table)

    def table(self, data: dict[str, Any], name: str, known: Sequence[str]) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, None, "must be a table")
        for key in value:
            if key not in known:
                raise self.fail(name, key, f"unknown key (known: {', '.join(known)})")
        return value

    def choice(self, table: str, values: dict[str, Any], key: str, allowed: Sequence[str]) -> Any:
        value = values[key]
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise self.fail(table, key, f"{value!r} is not one of {shown}")
        return value

    def typed(self, table: str, values: dict[str, Any], key: str, kind: type) -> Any:
        value = values[key]
        # bool is an int in Python; TOML keeps them apart, so do we.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(table, key, f"must be {_KIND_NAMES[kind]}, not {value!r}")
        return value

    def formats(self, table: str, values: dict[str, Any], key: str) -> tuple[str, ...]:
        value = values[key]
        items = [value] if isinstance(value, str) and key == "birth_date_format" else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(item, str) and "%" in item for item in items)
        ):
            raise self.fail(table, key, "must be a non-empty list of strptime formats")
        return tuple(items)


_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def _ambiguous(formats: Sequence[str]) -> tuple[str, str] | None:
    """Two formats reading the same text differently (day-first and month-first)."""
    for first in formats:
        swapped = first.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
        if swapped != first and swapped in formats:
            return first, swapped
    return None


def load_mapping(path: Path) -> Mapping:
    """Read and strictly validate a mapping file (the keys of mapping_reference.toml).

    Raises ``IngestError`` naming the file, the line when it can be found and
    the key at fault: unknown key, wrong type, missing arrival column, a value
    table naming an unknown disposition label, sex or a non-integer acuity.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise IngestError(f"cannot read the mapping file ({error})", where=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise IngestError(f"not valid TOML: {error}", where=str(path)) from None
    check = _Checker(Path(path), text)
    for key in data:
        if key not in _TOP_KEYS:
            raise check.fail(key, None, f"unknown table (known: {', '.join(_TOP_KEYS)})")
    options: dict[str, Any] = {"name": str(path)}
    options.update(_source_options(check, check.table(data, "source", _SOURCE_KEYS)))
    options.update(_time_options(check, check.table(data, "time", _TIME_KEYS)))
    header = options.get("header", True)
    options["columns"] = _columns(check, check.table(data, "columns", tuple(FIELDS)), header)
    options.update(_value_tables(check, data, options["columns"]))
    return Mapping(**options)


def _source_options(check: _Checker, source: dict[str, Any]) -> dict[str, Any]:
    """The [source] table: delimiter, encoding, decimal, header, skip_rows, sheet."""
    options: dict[str, Any] = {}
    if "delimiter" in source:
        options["delimiter"] = check.choice("source", source, "delimiter", DELIMITERS)
    if "encoding" in source:
        encoding = check.typed("source", source, "encoding", str).lower()
        options["encoding"] = check.choice("source", {"encoding": encoding}, "encoding", ENCODINGS)
    if "decimal" in source:
        options["decimal"] = check.choice("source", source, "decimal", (".", ","))
    if "header" in source:
        options["header"] = check.typed("source", source, "header", bool)
    if "skip_rows" in source:
        options["skip_rows"] = check.typed("source", source, "skip_rows", int)
        if options["skip_rows"] < 0:
            raise check.fail("source", "skip_rows", "must be 0 or more")
    if "sheet" in source:
        options["sheet"] = check.typed("source", source, "sheet", str)
    return options


def _time_options(check: _Checker, time: dict[str, Any]) -> dict[str, Any]:
    """The [time] table: formats, birth_date_format, timezone."""
    options: dict[str, Any] = {}
    if "formats" in time:
        options["formats"] = check.formats("time", time, "formats")
        pair = _ambiguous(options["formats"])
        if pair:
            raise check.fail("time", "formats", f"{pair[0]!r} and {pair[1]!r} are ambiguous")
    if "birth_date_format" in time:
        options["birth_date_formats"] = check.formats("time", time, "birth_date_format")
    if "timezone" in time:
        zone = check.typed("time", time, "timezone", str)
        try:
            _zone(zone)
        except IngestError:
            raise check.fail("time", "timezone", f"unknown time zone {zone!r}") from None
        options["timezone"] = zone
    return options


def _columns(check: _Checker, columns: dict[str, Any], header: bool) -> dict[str, str | int]:
    kind = str if header else int
    for key in columns:
        value = check.typed("columns", columns, key, kind)
        if header and not value.strip():
            raise check.fail("columns", key, "is an empty column name")
        if not header and value < 1:
            raise check.fail("columns", key, "column numbers start at 1")
    if "arrival" not in columns:
        raise check.fail("columns", None, "the arrival column is required (arrival = ...)")
    return {key: value.strip() if header else value for key, value in columns.items()}


_TABLE_ATTRIBUTES = {
    "disposition": "dispositions",
    "sex": "sexes",
    "acuity": "acuities",
    "specialty": "specialties",
}


def _table_value(check: _Checker, where: str, name: str, table: dict, key: str) -> Any:
    """One value of a [values.*] table, checked and converted."""
    value = table[key]
    if name == "disposition":
        label = value.lower() if isinstance(value, str) else None
        if label not in DISPOSITION_LABELS:
            known = ", ".join(d.name.lower() for d in Disposition)
            raise check.fail(where, key, f"{value!r} is not a disposition ({known})")
        return DISPOSITION_LABELS[label]
    if name == "sex":
        if not isinstance(value, str) or value.upper() not in SEXES:
            raise check.fail(where, key, f"{value!r} is not F, M or U")
        return value.upper()
    if name == "acuity":
        return check.typed(where, table, key, int)
    return check.typed(where, table, key, str)


def _value_tables(
    check: _Checker, data: dict[str, Any], columns: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The [values.*] tables, keyed by casefolded source value."""
    tables: dict[str, dict[str, Any]] = {}
    for name, table in check.table(data, "values", _VALUE_TABLES).items():
        where = f"values.{name}"
        if not isinstance(table, dict):
            raise check.fail(where, None, "must be a table")
        if name not in columns:
            raise check.fail(where, None, f"the {name} column is not mapped in [columns]")
        tables[_TABLE_ATTRIBUTES[name]] = {
            key.strip().casefold(): _table_value(check, where, name, table, key) for key in table
        }
    return tables


# --- values ------------------------------------------------------------------------------


class _Bad(Exception):
    """One cell that cannot be read: the reason and what is wrong with it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise IngestError(f"unknown time zone {name!r}", where="timezone") from None


_MEMO_LIMIT = 100_000  # distinct dates or clock times remembered per column


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _dmy(part: str) -> tuple[int, int, int] | None:
    """``DD/MM/YYYY`` -> (year, month, day), or None for another shape."""
    if part[2] != "/" or part[5] != "/" or not _digits(part[:2] + part[3:5] + part[6:]):
        return None
    ymd = int(part[6:]), int(part[3:5]), int(part[:2])
    date(*ymd)  # ValueError for 31/02
    return ymd


def _ymd(part: str) -> tuple[int, int, int] | None:
    """``YYYY-MM-DD`` -> (year, month, day), or None for another shape."""
    if part[4] != "-" or part[7] != "-" or not _digits(part[:4] + part[5:7] + part[8:]):
        return None
    ymd = int(part[:4]), int(part[5:7]), int(part[8:])
    date(*ymd)
    return ymd


def _clock(part: str) -> tuple[int, int, int] | None:
    """``HH:MM`` or ``HH:MM:SS`` -> (hour, minute, second), or None."""
    if part[2] != ":" or (len(part) == 8 and part[5] != ":") or not _digits(part.replace(":", "")):
        return None
    hms = int(part[:2]), int(part[3:5]), int(part[6:] or 0)
    if hms[0] > 23 or hms[1] > 59 or hms[2] > 59:
        return None
    return hms


class _Fixed:
    """One fixed-width format read by slicing; the date and clock parts are memoised.

    Dates of an extract repeat (a few thousand days) and so do clock times
    (1,440 minutes): each distinct part is parsed and validated once, and a
    time is the midnight of its day plus its clock time (wall-clock
    arithmetic, the same as building it field by field).
    """

    def __init__(
        self, date_of: Callable[[str], tuple[int, int, int] | None], length: int, zone: tzinfo
    ) -> None:
        self.length = length
        self.date_of = date_of
        self.zone = zone
        self.days: dict[str, datetime] = {}
        self.clocks: dict[str, timedelta] = {}

    def parse(self, text: str) -> datetime | None:
        try:
            # The day key keeps the separator: "2024-03-01T10:00" is not this format.
            return self.days[text[:11]] + self.clocks[text[11:]]
        except KeyError:
            return self._learn(text)

    def _learn(self, text: str) -> datetime | None:
        """Parse and remember a day or a clock time not seen yet (None: another shape)."""
        if len(text) != self.length or text[10] != " ":
            return None
        day, clock = text[:11], text[11:]
        if day not in self.days:
            try:
                ymd = self.date_of(day[:10])
            except ValueError:
                return None
            if ymd is None:
                return None
            if len(self.days) > _MEMO_LIMIT:
                self.days.clear()
            self.days[day] = datetime(ymd[0], ymd[1], ymd[2], tzinfo=self.zone)
        if clock not in self.clocks:
            hms = _clock(clock)
            if hms is None:
                return None
            if len(self.clocks) > _MEMO_LIMIT:
                self.clocks.clear()
            self.clocks[clock] = timedelta(hours=hms[0], minutes=hms[1], seconds=hms[2])
        return self.days[day] + self.clocks[clock]


# Fixed formats read by slicing (date reader, length); another shape falls back to strptime.
_FIXED: dict[str, tuple[Callable[[str], tuple[int, int, int] | None], int]] = {
    "%d/%m/%Y %H:%M": (_dmy, 16),
    "%d/%m/%Y %H:%M:%S": (_dmy, 19),
    "%Y-%m-%d %H:%M": (_ymd, 16),
    "%Y-%m-%d %H:%M:%S": (_ymd, 19),
}


class _TimeParser:
    """Text or an Excel cell -> an aware datetime in the zone; the last format that worked first.

    ``parse`` is the parser (a bound method: cheaper to call than ``__call__``).
    """

    def __init__(self, formats: Sequence[str], zone: tzinfo) -> None:
        self.formats = list(formats)
        self.zone = zone
        self.fixed = {
            fmt: _Fixed(*_FIXED[fmt], zone).parse for fmt in self.formats if fmt in _FIXED
        }
        self.first = self.fixed.get(self.formats[0])

    def parse(self, value: Any) -> datetime | None:
        first = self.first
        if first is not None and value.__class__ is str:
            moment = first(value)
            if moment is not None:
                return moment
        if value.__class__ is not str:
            return self._cell(value)
        text = value.strip()
        if not text:
            return None
        return self._any(text)

    def _any(self, text: str) -> datetime:
        formats = self.formats
        for index, fmt in enumerate(formats):
            moment = self._one(fmt, text)
            if moment is not None:
                if index:
                    formats.insert(0, formats.pop(index))
                    self.first = self.fixed.get(fmt)
                return moment
        raise _Bad("bad_time", f"{text[:40]!r} matches none of the time formats")

    def _one(self, fmt: str, text: str) -> datetime | None:
        fixed = self.fixed.get(fmt)
        if fixed is not None:
            moment = fixed(text)
            if moment is not None:
                return moment
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.zone)
        return moment.astimezone(self.zone)

    def _cell(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=self.zone)
            return value.astimezone(self.zone)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=self.zone)
        if isinstance(value, int | float) and not isinstance(value, bool):
            from openpyxl.utils.datetime import from_excel

            try:
                moment = from_excel(value)
            except (ValueError, OverflowError):
                moment = None
            if isinstance(moment, datetime):
                return moment.replace(tzinfo=self.zone)
        raise _Bad("bad_time", f"{str(value)[:40]!r} is not a date-time")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if value.__class__ is str:
        text = value.strip()
        return text or None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an Excel number cell holding an identifier
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip() or None


def _integer(value: Any, decimal: str) -> int | None:
    """An integer from text ("42", "42,0" with a decimal comma) or a number cell."""
    if value.__class__ is str:
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text.replace(decimal, ".") if decimal != "." else text)
        except ValueError:
            raise _Bad("bad_value", f"{text[:20]!r} is not a number") from None
    elif value is None:
        return None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    else:
        raise _Bad("bad_value", f"{str(value)[:20]!r} is not a number")
    if isinstance(number, int):
        return number
    if not number.is_integer():
        raise _Bad("bad_value", f"{number!r} is not a whole number")
    return int(number)


def _age_lookup(decimal: str) -> Callable[[str], int | None]:
    def lookup(text: str) -> int | None:
        age = _integer(text, decimal)
        if age is not None and not 0 <= age <= 130:
            raise _Bad("bad_value", f"{age} is not an age in years")
        return age

    return lookup


def _coded(lookup: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A parser translating codes, memoised per distinct raw value (codes are few)."""
    memo: dict[Any, Any] = {}

    def parse(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            pass
        except TypeError:  # an unhashable cell value: never the case for csv or openpyxl
            return lookup(_text(value) or "")
        text = _text(value)
        result = None if text is None else lookup(text)
        memo[value] = result
        return result

    return parse


def _spelling_lookup(
    table: dict[str, Any], builtin: dict[str, Any], what: str, width: int
) -> Callable[[str], Any]:
    """The site's own value table, then the built-in spellings; else a ``bad_value``."""

    def lookup(text: str) -> Any:
        key = text.casefold()
        found = table.get(key) or builtin.get(key)
        if found is None:
            raise _Bad("bad_value", f"{text[:width]!r} is not {what}")
        return found

    return lookup


def _acuity_lookup(table: dict[str, int], decimal: str) -> Callable[[str], int | None]:
    def lookup(text: str) -> int | None:
        found = table.get(text.casefold())
        if found is not None:
            return found
        try:
            return _integer(text, decimal)
        except _Bad:
            raise _Bad("bad_value", f"{text[:20]!r} is not an acuity level") from None

    return lookup


def _system_lookup(text: str) -> str:
    found = _SYSTEM_SPELLINGS.get(text.casefold().replace(" ", ""))
    if found is None:
        raise _Bad("bad_value", f"{text[:20]!r} is not icd10 or icd9")
    return found


def _specialty_lookup(table: dict[str, str]) -> Callable[[str], str]:
    return lambda text: table.get(text.casefold(), text)


def _birth_parser(formats: Sequence[str]) -> Callable[[Any], date | None]:
    memo: dict[str, date] = {}

    def parse(value: Any) -> date | None:
        if value.__class__ is str and value in memo:
            return memo[value]
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = _text(value)
        if text is None:
            return None
        for fmt in formats:
            try:
                born = datetime.strptime(text, fmt).date()
            except ValueError:
                continue
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            memo[value] = born
            return born
        # The value is a birth date: never shown.
        raise _Bad("bad_time", f"is not a date written {' or '.join(formats)}")

    return parse


def _parser(name: str, mapping: Mapping, zone: tzinfo) -> Callable[[Any], Any]:
    """The parser of one mapped field, built once per file."""
    if name in TIME_FIELDS:
        return _TimeParser(mapping.formats, zone).parse
    if name == "age":
        return _coded(_age_lookup(mapping.decimal))
    if name == "acuity":
        return _coded(_acuity_lookup(mapping.acuities, mapping.decimal))
    if name == "disposition":
        return _coded(
            _spelling_lookup(mapping.dispositions, DISPOSITION_LABELS, "a known disposition", 30)
        )
    if name == "sex":
        return _coded(
            _spelling_lookup(mapping.sexes, _SEX_SPELLINGS, "a sex (add it to [values.sex])", 20)
        )
    if name == "diagnosis_system":
        return _coded(_system_lookup)
    if name == "specialty":
        return _coded(_specialty_lookup(mapping.specialties))
    if name == "birth_date":
        return _birth_parser(mapping.birth_date_formats)
    return _text


# --- rows -> visits ------------------------------------------------------------------------

_SLOTS = {name: index for index, name in enumerate(VisitRecord._fields)}
_WIDTH = len(_SLOTS)
_ARRIVAL, _SOURCE = _SLOTS["arrival"], _SLOTS["source"]
_SEEN, _DEPARTURE = _SLOTS["first_seen"], _SLOTS["departure"]


@dataclass
class _Plan:
    """Per file: where each mapped field is, its parser, and what may be shown.

    A row is read with two C-level ``itemgetter`` calls around one
    comprehension: ``cells`` picks the mapped cells, ``parsers`` reads them,
    and ``spread`` places the values (plus None for unmapped fields and the
    location, appended last) in VisitRecord's positional order.
    """

    header: list[str]
    steps: list[tuple[int, int, Callable[[Any], Any], str, str]]  # slot, index, parse, field, col
    identifying: frozenset[str]
    cells: Callable[[Sequence[Any]], tuple[Any, ...]] = field(init=False)
    parsers: tuple[Callable[[Any], Any], ...] = field(init=False)
    spread: Callable[[list[Any]], tuple[Any, ...]] = field(init=False)

    def __post_init__(self) -> None:
        count = len(self.steps)
        indexes = [index for _slot, index, _parse, _name, _column in self.steps]
        # itemgetter of one index returns the item itself, not a 1-tuple.
        self.cells = itemgetter(*indexes) if count > 1 else lambda row: (row[indexes[0]],)
        self.parsers = tuple(parse for _slot, _index, parse, _name, _column in self.steps)
        where = dict.fromkeys(range(_WIDTH), count)  # the None appended after the values
        where.update({slot: position for position, (slot, *_rest) in enumerate(self.steps)})
        where[_SOURCE] = count + 1  # the location, appended last
        self.spread = itemgetter(*(where[slot] for slot in range(_WIDTH)))

    def raw(self, row: Sequence[Any]) -> str:
        values: dict[str, Any] = {}
        for index, value in enumerate(row):
            name = self.header[index] if index < len(self.header) else f"extra_{index + 1}"
            values.setdefault(name, value)
        return redact(values, self.identifying | {k for k in values if k.startswith("extra_")})


def _plan(header: list[str], mapping: Mapping, zone: tzinfo, where: str) -> _Plan:
    """Find each mapped column in the header; a missing one is a mapping error."""
    if not mapping.header:
        header = [str(number) for number in range(1, len(header) + 1)]
    folded = {}
    for index, name in reversed(list(enumerate(header))):
        folded[name.casefold()] = index
    exact = {}
    for index, name in reversed(list(enumerate(header))):
        exact[name] = index
    steps = []
    shown: set[str] = set()
    for name, column in mapping.columns.items():
        key = str(column)
        found = exact.get(key, folded.get(key.casefold()))
        if found is None:
            if mapping.header:
                listed = ", ".join(repr(h) for h in header[:40])
                problem = f"column {key!r} ({name}) is not in the header (columns: {listed})"
            else:
                problem = f"column {key} ({name}) is past the last column ({len(header)})"
            raise IngestError(problem, where=where, column=key)
        steps.append((_SLOTS[FIELDS[name]], found, _parser(name, mapping, zone), name, key))
        if name in NON_IDENTIFYING:
            shown.add(header[found])
    identifying = frozenset(h for h in header if h not in shown)
    return _Plan(header, steps, identifying)


def _rejection(
    location: str, reason: str, message: str, name: str | None, plan: _Plan, row: Sequence[Any]
) -> Rejection:
    return Rejection(location, reason, message, name, plan.raw(row))


def _bad_cell(plan: _Plan, row: Sequence[Any], location: str) -> Rejection:
    """The rejection of a row's first unreadable cell (the rare path: cells parsed again)."""
    for _slot, index, parse, name, column in plan.steps:
        try:
            parse(row[index])
        except _Bad as bad:
            shown = name in NON_IDENTIFYING
            detail = bad.detail if shown or bad.reason != "bad_value" else "is not valid"
            message = f"column {column!r} ({name}) {detail}"
            return _rejection(location, bad.reason, message, name, plan, row)
    raise AssertionError("a cell failed once and then parsed")  # parsers are deterministic


def _visit(plan: _Plan, row: Sequence[Any], location: str) -> Item:
    """One row -> a visit, or the rejection of its first bad cell or inconsistent times."""
    try:
        values = [parse(cell) for parse, cell in zip(plan.parsers, plan.cells(row), strict=True)]
    except _Bad:
        return _bad_cell(plan, row, location)
    values.append(None)
    values.append(location)
    args = plan.spread(values)
    arrival, first_seen, departure = args[_ARRIVAL], args[_SEEN], args[_DEPARTURE]
    if arrival is None:
        return _rejection(
            location, "missing_field", "the arrival time is empty", "arrival", plan, row
        )
    if (
        departure is not None
        and departure < arrival
        and departure.timestamp() < arrival.timestamp()
    ):
        return _rejection(
            location, "departure_before_arrival", "departure is before arrival", "departure",
            plan, row,
        )  # fmt: skip
    if first_seen is not None:
        if first_seen < arrival and first_seen.timestamp() < arrival.timestamp():
            return _rejection(
                location, "seen_before_arrival", "first seen before arrival", "first_seen",
                plan, row,
            )  # fmt: skip
        if (
            departure is not None
            and first_seen > departure
            and first_seen.timestamp() > departure.timestamp()
        ):
            return _rejection(
                location, "seen_after_departure", "first seen after departure", "first_seen",
                plan, row,
            )  # fmt: skip
    return VisitRecord(*args)


def _blank(row: Sequence[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in row)


# --- text files --------------------------------------------------------------------------


class _Lines:
    """A binary file's physical lines, each decoded on its own.

    A line that does not decode becomes a pending ``bad_encoding`` rejection
    and is skipped; ``start`` is the number of the first line handed out
    after ``mark`` was set, i.e. where the csv row being read starts.
    """

    def __init__(self, handle: IO[bytes], encoding: str, name: str) -> None:
        self.handle = handle
        self.encoding = encoding
        self.name = name
        self.number = 0
        self.start = 0
        self.mark = True
        self.pending: list[Rejection] = []

    def skip(self, count: int) -> None:
        for _ in range(count):
            if not self.handle.readline():
                break
            self.number += 1

    def __iter__(self) -> Iterator[str]:
        encoding = self.encoding
        number = self.number
        for raw in self.handle:
            number += 1
            if number == 1 and raw.startswith(b"\xef\xbb\xbf") and encoding == "utf-8":
                raw = raw[3:]
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as error:
                self.number = number
                self.pending.append(
                    Rejection(
                        f"{self.name}:{number}",
                        "bad_encoding",
                        f"byte {error.start + 1} of the line is not valid {encoding}",
                    )
                )
                continue
            if self.mark:
                self.start = number
                self.mark = False
            self.number = number
            yield text


def _sniff(path: Path, encoding: str) -> str:
    """The delimiter guessed by csv.Sniffer on the first 64 KB."""
    with path.open("rb") as handle:
        sample = handle.read(65536).decode(encoding, errors="replace")
    if "\n" in sample.rstrip("\r\n"):
        sample = sample[: sample.rstrip("\r\n").rfind("\n")]  # drop a cut last line
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        raise IngestError(
            "cannot guess the delimiter: set [source] delimiter in the mapping", where=str(path)
        ) from None


def _read_text(path: Path, mapping: Mapping, zone: tzinfo) -> Iterator[Item]:
    delimiter = mapping.delimiter
    if delimiter == "auto":
        delimiter = _sniff(path, mapping.encoding)
    name = path.name
    with path.open("rb") as handle:
        lines = _Lines(handle, mapping.encoding, name)
        lines.skip(mapping.skip_rows)
        rows = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
        plan: _Plan | None = None
        if mapping.header:
            try:
                header = next(rows)
            except StopIteration:
                return
            except csv.Error as error:
                raise IngestError(f"header unreadable: {error}", where=str(path)) from None
            if lines.pending:
                raise IngestError(
                    f"the header is not valid {mapping.encoding} (set [source] encoding)",
                    where=f"{path}:{lines.pending[0].location.rsplit(':', 1)[1]}",
                )
            plan = _plan([h.strip() for h in header], mapping, zone, str(path))
        pending = lines.pending
        width = len(plan.header) if plan else 0
        while True:
            lines.mark = True
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as error:
                yield from pending
                pending.clear()
                yield Rejection(f"{name}:{lines.start}", "bad_row", f"unreadable row: {error}")
                continue
            if pending:
                yield from pending
                pending.clear()
            if plan is None:  # no header: the first row gives the width
                plan = _plan([str(i) for i in range(1, len(row) + 1)], mapping, zone, str(path))
                width = len(row)
            if len(row) != width:
                if _blank(row):
                    continue
                yield _rejection(
                    f"{name}:{lines.start}", "bad_row",
                    f"{len(row)} fields where the header has {width}", None, plan, row,
                )  # fmt: skip
                continue
            item = _visit(plan, row, f"{name}:{lines.start}")
            if item.__class__ is Rejection and item.reason == "missing_field" and _blank(row):
                continue
            yield item
        yield from pending


# --- workbooks ----------------------------------------------------------------------------


def _read_workbook(path: Path, mapping: Mapping, zone: tzinfo) -> Iterator[Item]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise IngestError(
            f"not a readable workbook ({error.__class__.__name__})", where=str(path)
        ) from None
    try:
        if mapping.sheet is not None:
            if mapping.sheet not in book.sheetnames:
                sheets = ", ".join(repr(s) for s in book.sheetnames)
                raise IngestError(f"no sheet {mapping.sheet!r} (sheets: {sheets})", where=str(path))
            tables = {table.title: table for table in book.worksheets}
            if mapping.sheet not in tables:
                raise IngestError(
                    f"sheet {mapping.sheet!r} is a chart, not a table of rows", where=str(path)
                )
            sheet = tables[mapping.sheet]
        else:
            sheet = book.worksheets[0]
        yield from _sheet_rows(path, sheet, mapping, zone)
    finally:
        book.close()


def _sheet_rows(path: Path, sheet: Any, mapping: Mapping, zone: tzinfo) -> Iterator[Item]:
    prefix = f"{path.name}:{sheet.title}!"
    plan: _Plan | None = None
    width = 0
    first = mapping.skip_rows + 1
    for number, cells in enumerate(sheet.iter_rows(min_row=first, values_only=True), first):
        row = list(cells)
        if plan is None:
            if mapping.header:
                header = [_text(cell) or "" for cell in row]
                while header and not header[-1]:
                    header.pop()
                plan = _plan(header, mapping, zone, str(path))
                width = len(header)
                continue
            width = len(row)
            plan = _plan([str(i) for i in range(1, width + 1)], mapping, zone, str(path))
        if _blank(row):
            continue
        if len(row) < width:
            row.extend([None] * (width - len(row)))
        elif len(row) > width:
            if not _blank(row[width:]):
                yield _rejection(
                    f"{prefix}{number}", "bad_row",
                    f"cells past the last of the header's {width} columns", None, plan, row,
                )  # fmt: skip
                continue
            del row[width:]
        yield _visit(plan, row, f"{prefix}{number}")


# --- reading entry points -------------------------------------------------------------------


def _read_files(paths: Sequence[Path], mapping: Mapping, options: ReadOptions) -> Iterator[Item]:
    zone = _zone(mapping.timezone or options.timezone)
    for path in map(Path, paths):
        if not path.is_file():
            raise IngestError("no such file", where=str(path))
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            yield from _read_workbook(path, mapping, zone)
        elif suffix == ".xls":
            raise IngestError("old .xls workbooks are not read: save as .xlsx", where=str(path))
        else:
            yield from _read_text(path, mapping, zone)


def read(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """Visits of delimited text files or workbooks, read as ``options.mapping`` says.

    Without a mapping the canonical CSV of ``write`` is read. See the module
    docstring for locations, rejections and times.
    """
    mapping = DEFAULT_MAPPING if options.mapping is None else load_mapping(options.mapping)
    return _read_files(paths, mapping, options)


HILLMAKER_FORMATS = (*DEFAULT_FORMATS, "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")


def read_hillmaker(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """Stays of an occupancy-analysis input (hillmaker's): in time, out time, category.

    Columns default to hillmaker's example names ``InRoomTS``, ``OutRoomTS``
    and ``PatType``; ``options.settings`` ``in_column``, ``out_column``,
    ``category_column`` and ``delimiter`` (default ``,``) override them. The
    in time is the arrival, the out time the departure, the category the
    specialty. Times are ISO (``2024-01-31 14:05[:00]``) or US month-first
    (``1/31/2024 14:05``). There are no ids: the pipeline derives a content key.
    """
    settings = options.settings
    delimiter = str(settings.get("delimiter", ","))
    if delimiter not in DELIMITERS:
        raise IngestError(f"delimiter {delimiter!r} is not one of {DELIMITERS}", where="delimiter")
    columns: dict[str, str | int] = {
        "arrival": str(settings.get("in_column", "InRoomTS")),
        "departure": str(settings.get("out_column", "OutRoomTS")),
        "specialty": str(settings.get("category_column", "PatType")),
    }
    mapping = Mapping(
        columns=columns, delimiter=delimiter, formats=HILLMAKER_FORMATS, name="hillmaker"
    )
    return _read_files(paths, mapping, options)


# --- the canonical CSV ----------------------------------------------------------------------


def _local(moment: datetime | None, zone: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM`` local time; the offset is added only for the repeated hour.

    Reading applies fold=0, so the second occurrence of a repeated local time
    (daylight saving ends) needs its offset to come back as the same instant.
    """
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"
    if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
        offset = local.strftime("%z")
        text += f"{offset[:3]}:{offset[3:]}"
    return text


def _age(record: VisitRecord) -> int | None:
    if record.age_years is not None or record.birth_date is None:
        return record.age_years
    born, day = record.birth_date, record.arrival.date()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def write(records: Iterable[VisitRecord], out: IO[str], options: WriteOptions) -> int:
    """Write the canonical CSV (``CANONICAL_HEADER``), which ``read`` reads with no mapping.

    Times are local ``YYYY-MM-DD HH:MM`` in ``options.timezone`` (seconds
    dropped; the repeated hour of a daylight-saving change carries its
    offset), dispositions are labels (``discharged``...), an empty cell is
    None. The age is written (from the birth date when only that is known).
    """
    zone = _zone(options.timezone)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CANONICAL_HEADER)
    count = 0
    for record in records:
        disposition = record.disposition
        writer.writerow(
            (
                record.visit_id or "",
                record.patient_id or "",
                _local(record.arrival, zone),
                _local(record.first_seen, zone),
                _local(record.departure, zone),
                "" if record.acuity is None else record.acuity,
                "" if disposition is None else disposition.name.lower(),
                record.diagnosis or "",
                record.diagnosis_system or "",
                _age(record),
                record.sex or "",
                record.specialty or "",
            )
        )
        count += 1
    return count


__all__ = [
    "DEFAULT_MAPPING",
    "Mapping",
    "load_mapping",
    "mapping_documentation",
    "read",
    "read_hillmaker",
    "write",
]
