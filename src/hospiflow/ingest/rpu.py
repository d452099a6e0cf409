"""The French RPU extract (Résumé de Passage aux Urgences) -> visits, and visits -> RPU.

The RPU is the record every French emergency department sends for each visit
(arrêté du 24 juillet 2013, article 3; content from the national format
"RPU national V2006" and the InVS/Santé publique France OSCOUR® specification,
coding rules from the FEDORU recommendations). Its 18 items, as the columns
of the delimited extract hospitals hand out:

| column | meaning | read as |
| --- | --- | --- |
| FINESS | the site's FINESS number | not kept |
| CP, COMMUNE | postcode and town of residence | ``postcode`` = CP; COMMUNE not kept |
| NAISSANCE | birth date, dd/mm/yyyy | ``birth_date`` |
| SEXE | M, F, I (indéterminé) | ``sex`` M, F, U (any other value: U) |
| ENTREE | arrival, dd/mm/yyyy hh:mm (**required**) | ``arrival`` |
| MODE_ENTREE, PROVENANCE, TRANSPORT, TRANSPORT_PEC | how the patient came | not kept |
| MOTIF | reason (SFMU thesaurus / CIM-10, sometimes free text) | not kept |
| GRAVITE | CCMU 1-5, P (psychiatric), D (dead on arrival) | ``acuity`` 1-5; P, D: None |
| DP | main diagnosis, CIM-10 | ``diagnosis`` dotted ("J189" -> "J18.9"), ICD-10 |
| DA, ACTE | associated diagnoses, CCAM acts | not kept |
| MODE_SORTIE | 6 mutation, 7 transfert, 8 domicile, 9 décès | ``disposition`` |
| DESTINATION | 1 MCO, 2 SSR, 3 SLD, 4 PSY, 6 HAD, 7 médico-social | not kept |
| ORIENTATION | PSA, SCAM, FUGUE, UHCD, REA, MED, CHIR, HDT, REO, ... | see dispositions |
| SORTIE | departure, dd/mm/yyyy hh:mm | ``departure`` |

**Dispositions.** GRAVITE D -> DIED; else ORIENTATION PSA (partie sans
attendre: left without being seen) or FUGUE (ran away) ->
LEFT_WITHOUT_BEING_SEEN; else MODE_SORTIE 6 -> ADMITTED (a ward of the same
hospital), 7 -> TRANSFERRED (another hospital), 8 -> DISCHARGED (home; SCAM,
left against medical advice after being seen, is DISCHARGED too), 9 -> DIED,
empty -> None; any other MODE_SORTIE or GRAVITE rejects the row.

**Diagnoses.** DP is upper-cased, spaces, dots, dashes, daggers and asterisks
(dual-classification marks, "G01*") and ATIH "+" extension marks removed,
then dotted after the category: "J189" and "J18.9" -> "J18.9", "R0600" ->
"R06.00" (French extensions stay after the dot; the diagnosis map matches by
prefix), "I10" and "R05" unchanged. A DP that is not a letter, two digits and
up to five letters/digits rejects the row (``bad_value``).

**Columns.** Names are matched in any order and case, accents, spaces and
dashes ignored ("Mode Sortie" = MODE_SORTIE; ORIENT, LISTE_DA, LISTE_ACTES,
DATE_ENTREE, DATE_SORTIE, CODE_POSTAL, CCMU are accepted aliases). Only ENTREE
is required; extra columns are tolerated; a missing optional column reads as
empty. Settings (``ReadOptions.settings``): ``visit_id_column`` (default: the
first of ID_PASSAGE, NUM_PASSAGE, NUMERO_PASSAGE, NO_PASSAGE, ID_RPU,
NUM_RPU present), ``patient_id_column`` (default IPP, ID_PATIENT,
NUM_PATIENT, NUMERO_PATIENT), ``first_seen_column`` (default DATE_PEC, PEC,
DATE_PEC_MED, PEC_MED: the RPU has no "first seen by a doctor" time in its
core items, so it is read only from such a column), ``encoding`` and
``delimiter`` (forced instead of detected). A named column missing from the
header is an ``IngestError``. Without a visit id the pipeline derives a
content key.

**Files.** ``;``-separated with a header row (``\\t``, ``|`` or ``,`` are
detected from the header when it has no ``;``). Encoding: the whole file is
checked as UTF-8 first (a BOM is tolerated); if it does not decode it is read
as CP1252 (Windows Latin-1, what French hospital software usually writes); a
file neither can decode is an ``IngestError``. Blank lines are skipped;
trailing empty fields (a ``;`` ending every line) are tolerated.

**Times.** "dd/mm/yyyy hh:mm" (":ss" and ISO "yyyy-mm-dd hh:mm" also read),
local to ``options.timezone``, yielded as UTC-aware datetimes. Each local
wall-clock hour's UTC offset is computed once (zoneinfo) and cached. DST: a
time in the repeated autumn hour is ambiguous and taken as its first
occurrence (``fold=0``), so a visit written in the second occurrence comes
back one hour early, except a SORTIE (DATE_PEC) that would then be before
ENTREE: it is taken as the second occurrence (``fold=1``) when that puts it
after. A time inside the spring gap does not exist and is read with the
offset before the change (``fold=0``), i.e. shifted one hour forward, as
zoneinfo does.

**Rejections.** Location ``file.csv:LINE`` (header = line 1), field = the RPU
column, reason ``bad_row`` (more or fewer fields than the header),
``missing_field`` (ENTREE empty), ``bad_time`` (ENTREE, SORTIE, DATE_PEC,
NAISSANCE unreadable), ``bad_value`` (GRAVITE, MODE_SORTIE, DP) or
``departure_before_arrival``. Messages never repeat an identifying value;
``raw`` redacts NAISSANCE, CP, COMMUNE, MOTIF, the visit and patient id
columns and every column this module does not know (it may hold a name); a
``bad_row`` has every cell redacted (out of line with the header, any cell
may be an identifier).

**Writing.** ``write`` gives an extract with FINESS (``options.site_code``
or "000000000"), CP (the postcode's first two characters + "000", the
département as the store keeps it), COMMUNE (empty), NAISSANCE (the birth
date if known, else **1 January of (arrival year - age)**, so the age at
arrival reads back exactly), SEXE (U -> I), ENTREE, MODE_ENTREE 8,
PROVENANCE, TRANSPORT, TRANSPORT_PEC, MOTIF (empty), GRAVITE, DP (dotted;
ICD-9 codes are not CIM-10 and are left out), DA (empty), MODE_SORTIE,
DESTINATION (empty), ORIENTATION (PSA for left without being seen), SORTIE,
and three extra columns so a round trip keeps identity and waits:
ID_PASSAGE (visit_id), IPP (patient_id), DATE_PEC (first_seen). UTF-8,
``;``, "\\n" line ends, times truncated to the minute in ``options.timezone``.

**Speed.** Rows are parsed a block at a time (``BLOCK``): pandas' C parser
cuts a block of lines without quotes into the columns a visit is made of
(the others are never turned into strings; the csv module reads any line of
another width than the header, and every line from the first quote on), the time
columns are read by NumPy (``stamps_ms``, one zoneinfo call per distinct
local hour) and codes through dicts; a row in any other
form goes through the row-by-row loop (``_records``), which defines the
behaviour (``read_rows``; a test checks both paths give the same items).
``read_batches`` hands the blocks to the import pipeline as ``VisitBatch``es;
``read`` turns them back into records. ``write``: about 140,000 rows/s.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from hospiflow.ingest.batch import VisitBatch
from hospiflow.ingest.formats import IngestError, Item, ReadOptions, WriteOptions
from hospiflow.records import ICD9, ICD10, Disposition, Rejection, VisitRecord, redact

# --- the RPU vocabulary ---------------------------------------------------------------

# The order write() uses: the national items, then identity and first-seen columns.
COLUMNS = (
    "FINESS",
    "CP",
    "COMMUNE",
    "NAISSANCE",
    "SEXE",
    "ENTREE",
    "MODE_ENTREE",
    "PROVENANCE",
    "TRANSPORT",
    "TRANSPORT_PEC",
    "MOTIF",
    "GRAVITE",
    "DP",
    "DA",
    "ACTE",
    "MODE_SORTIE",
    "DESTINATION",
    "ORIENTATION",
    "SORTIE",
    "ID_PASSAGE",
    "IPP",
    "DATE_PEC",
)
_ALIASES = {
    "ORIENT": "ORIENTATION",
    "LISTE_DA": "DA",
    "LISTE_ACTES": "ACTE",
    "ACTES": "ACTE",
    "DATE_ENTREE": "ENTREE",
    "DATE_SORTIE": "SORTIE",
    "DATE_NAISSANCE": "NAISSANCE",
    "CODE_POSTAL": "CP",
    "CCMU": "GRAVITE",
    "MODE_TRANSPORT": "TRANSPORT",
}
VISIT_ID_NAMES = ("ID_PASSAGE", "NUM_PASSAGE", "NUMERO_PASSAGE", "NO_PASSAGE", "ID_RPU", "NUM_RPU")
PATIENT_ID_NAMES = ("IPP", "ID_PATIENT", "NUM_PATIENT", "NUMERO_PATIENT")
FIRST_SEEN_NAMES = ("DATE_PEC", "PEC", "DATE_PEC_MED", "PEC_MED")
# Coded columns that identify nobody: shown as they are in a Rejection's raw text.
_CODED = frozenset(
    {
        "FINESS",
        "SEXE",
        "ENTREE",
        "MODE_ENTREE",
        "PROVENANCE",
        "TRANSPORT",
        "TRANSPORT_PEC",
        "GRAVITE",
        "DP",
        "DA",
        "ACTE",
        "MODE_SORTIE",
        "DESTINATION",
        "ORIENTATION",
        "SORTIE",
        *FIRST_SEEN_NAMES,
    }
)

_D = Disposition
_MODE_SORTIE: dict[str, Disposition | None] = {
    "6": _D.ADMITTED,
    "7": _D.TRANSFERRED,
    "8": _D.DISCHARGED,
    "9": _D.DIED,
    "": None,
}
_LEFT = frozenset({"PSA", "FUGUE"})
# GRAVITE -> (acuity, died on arrival)
_GRAVITE: dict[str, tuple[int | None, bool]] = {
    **{str(level): (level, False) for level in range(1, 6)},
    "P": (None, False),
    "D": (None, True),
    "": (None, False),
}
_SEX = {"M": "M", "F": "F", "I": "U", "": None}
_WRITE_SEX = {"M": "M", "F": "F", "U": "I"}
_WRITE_MODE = {
    _D.ADMITTED: "6",
    _D.TRANSFERRED: "7",
    _D.DISCHARGED: "8",
    _D.LEFT_WITHOUT_BEING_SEEN: "8",
    _D.DIED: "9",
}
_DELIMITERS = (";", "\t", "|", ",")
_UNSEEN: Any = object()  # a dict miss, where None is a value
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))

# --- codes --------------------------------------------------------------------------

_ICD10 = re.compile(r"[A-Z][0-9]{2}[0-9A-Z]{0,5}")
_CODE_NOISE = str.maketrans("", "", " .-+*\u2020")  # \u2020: the dagger of dual coding


def dotted_icd10(text: str) -> str | None:
    """A CIM-10 code as written in an RPU, dotted after its category; ``None`` if not one.

    "J189" and "j18.9" -> "J18.9"; "R0600" -> "R06.00" (French extensions
    kept after the dot); "I10+0" -> "I10.0"; "G01*" -> "G01"; "R05" stays.
    """
    bare = text.upper().translate(_CODE_NOISE)
    if not _ICD10.fullmatch(bare):
        return None
    return f"{bare[:3]}.{bare[3:]}" if len(bare) > 3 else bare


def _canonical(name: str) -> str:
    """A header name compared without case, accents, spaces or dashes."""
    plain = unicodedata.normalize("NFKD", name.strip().lstrip("\ufeff"))
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    plain = re.sub(r"[\s\-]+", "_", plain.upper())
    return _ALIASES.get(plain, plain)


# --- times ------------------------------------------------------------------------------

_STAMP = re.compile(
    r"(?:(\d{1,2})/(\d{1,2})/(\d{4})|(\d{4})-(\d{2})-(\d{2}))[ T](\d{1,2}):(\d{2})(?::(\d{2}))?"
)
_DAY = re.compile(r"(?:(\d{1,2})/(\d{1,2})/(\d{4})|(\d{4})-(\d{2})-(\d{2}))(?:[ T]00:00(?::00)?)?")
# What follows "dd/mm/yyyy hh" in a canonical stamp -> the time past the hour.
_TAILS = {f":{m:02d}": timedelta(minutes=m) for m in range(60)} | {
    f":{m:02d}:{s:02d}": timedelta(minutes=m, seconds=s) for m in range(60) for s in range(60)
}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise IngestError(f"unknown time zone {name!r}", where="timezone") from error


class LocalClock:
    """Parses local "dd/mm/yyyy hh:mm" stamps into UTC-aware datetimes (``None``: bad).

    Why a cache: a million rows hold a few thousand distinct local hours. The
    first stamp of each hour is parsed in full (``slow``) and the hour's UTC
    start is kept in ``hours`` under its first 13 characters ("dd/mm/yyyy
    hh"); later stamps of that hour cost two dict lookups and one addition
    (the reader's loop inlines this). An hour whose offset changes within it (a
    zone with a half-hour transition) is never cached. DST follows zoneinfo
    ``fold=0`` (module docstring).
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.hours: dict[str, datetime] = {}

    def __call__(self, text: str) -> datetime | None:
        base = self.hours.get(text[:13])
        if base is not None:
            step = _TAILS.get(text[13:])
            if step is not None:
                return base + step
        return self.slow(text)

    def slow(self, text: str) -> datetime | None:
        """Parse ``text`` in full (and cache its hour when it is in a canonical form)."""
        text = text.strip()
        match = _STAMP.fullmatch(text)
        if match is None:
            return None
        dd, mo, yy, iy, im, idd, hh, mi, ss = match.groups()
        day, month, year = (int(dd), int(mo), int(yy)) if dd else (int(idd), int(im), int(iy))
        hour, minute, second = int(hh), int(mi), int(ss or 0)
        if minute > 59 or second > 59:
            return None
        try:
            start = datetime(year, month, day, hour, tzinfo=self.zone)
        except ValueError:
            return None
        offset = start.utcoffset()
        if offset is None or offset != start.replace(minute=59).utcoffset():
            moment = datetime(year, month, day, hour, minute, second, tzinfo=self.zone)
            return moment.astimezone(UTC)
        base = (start.replace(tzinfo=None) - offset).replace(tzinfo=UTC)
        if len(hh) == 2 and (iy or (len(dd) == 2 and len(mo) == 2)):
            self.hours[text[:13]] = base
        return base + timedelta(minutes=minute, seconds=second)


def second_occurrence(clock: LocalClock, text: str) -> datetime | None:
    """The later reading (``fold=1``) of a stamp in the repeated autumn hour; else ``None``.

    Why: a departure written in the second occurrence of that hour reads, with
    ``fold=0``, as before an arrival in the first; the reader then tries this.
    """
    moment = clock.slow(text)
    if moment is None:
        return None
    local = moment.astimezone(clock.zone).replace(tzinfo=None)
    later = local.replace(tzinfo=clock.zone, fold=1).astimezone(UTC)
    return later if later > moment else None


def parse_day(text: str) -> date | None:
    """A "dd/mm/yyyy" (or ISO "yyyy-mm-dd") date; ``None`` when it is not one."""
    match = _DAY.fullmatch(text.strip())
    if match is None:
        return None
    dd, mo, yy, iy, im, idd = match.groups()
    try:
        return date(int(yy), int(mo), int(dd)) if dd else date(int(iy), int(im), int(idd))
    except ValueError:
        return None


# --- files ------------------------------------------------------------------------------


def detect_encoding(path: Path, forced: str | None = None) -> str:
    """The file's encoding: UTF-8 ("utf-8-sig", BOM tolerated) if it all decodes, else CP1252.

    Why scan the whole file first: a file is one encoding, and deciding on its
    first lines would mis-decode a French name far down an otherwise ASCII file.
    """
    if forced:
        try:
            codecs.lookup(forced)
        except LookupError as error:
            raise IngestError(f"unknown encoding {forced!r}", where="encoding") from error
        return forced
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                if not chunk.isascii():
                    decoder.decode(chunk)
                elif decoder.getstate()[0]:
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    except OSError as error:
        raise IngestError(f"cannot read: {error.strerror}", where=str(path)) from error
    return "utf-8-sig"


def sniff_delimiter(header: str, forced: str | None = None) -> str:
    """The field separator: ``forced``, else the first of ; tab | , found in the header."""
    if forced:
        return "\t" if forced in ("\\t", "tab") else forced
    for candidate in _DELIMITERS:
        if candidate in header:
            return candidate
    return ";"


@dataclass(frozen=True)
class _Layout:
    """Where each RPU column is in a file's rows; a missing one points past the row's end,
    at the empty cell ``_records`` appends when ``padded``."""

    names: list[str]
    width: int
    index: dict[str, int]
    identifying: tuple[str, ...]
    visit: int
    patient: int
    first_seen: int
    padded: bool

    def at(self, column: str) -> int:
        return self.index.get(column, self.width)

    @property
    def read(self) -> list[int]:
        """Positions of the columns a visit is made of (the block path splits only these)."""
        wanted = {self.at(name) for name in _READ} | {self.visit, self.patient, self.first_seen}
        return sorted(at for at in wanted if at < self.width)


def _named(
    canonical: list[str], settings: dict[str, Any], key: str, defaults: Sequence[str], where: str
) -> int | None:
    wanted = settings.get(key)
    if wanted:
        name = _canonical(str(wanted))
        if name not in canonical:
            raise IngestError(f"setting {key}: no column {wanted!r} in the header", where=where)
        return canonical.index(name)
    for name in defaults:
        if name in canonical:
            return canonical.index(name)
    return None


def _layout(header: list[str], settings: dict[str, Any], where: str) -> _Layout:
    while header and not header[-1].strip():
        header = header[:-1]  # a ";" ending the header line
    canonical = [_canonical(name) for name in header]
    if "ENTREE" not in canonical:
        raise IngestError("no ENTREE column (arrival date and time) in the header", where=where)
    index: dict[str, int] = {}
    for position, name in enumerate(canonical):
        index.setdefault(name, position)
    visit = _named(canonical, settings, "visit_id_column", VISIT_ID_NAMES, where)
    patient = _named(canonical, settings, "patient_id_column", PATIENT_ID_NAMES, where)
    seen = _named(canonical, settings, "first_seen_column", FIRST_SEEN_NAMES, where)
    width = len(header)
    identifying = tuple(
        name
        for position, (name, plain) in enumerate(zip(header, canonical, strict=True))
        if plain not in _CODED or position in (visit, patient)
    )
    used = ("SORTIE", "GRAVITE", "DP", "MODE_SORTIE", "ORIENTATION", "SEXE", "CP", "NAISSANCE")
    padded = any(name not in index for name in used) or None in (visit, patient, seen)
    return _Layout(
        names=header,
        width=width,
        index=index,
        identifying=identifying,
        visit=width if visit is None else visit,
        patient=width if patient is None else patient,
        first_seen=width if seen is None else seen,
        padded=padded,
    )


# The columns ``_block`` reads (with the visit, patient and first-seen ones).
_READ = (
    "ENTREE",
    "SORTIE",
    "GRAVITE",
    "DP",
    "MODE_SORTIE",
    "ORIENTATION",
    "SEXE",
    "CP",
    "NAISSANCE",
)


class _Bad(Exception):
    """A row that cannot be a visit: field, reason, sentence."""

    def __init__(self, field: str | None, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


def _time_problem(column: str) -> _Bad:
    return _Bad(column, "bad_time", f"{column} is not a date and time dd/mm/yyyy hh:mm")


def _reject(
    where: str, bad: _Bad, names: list[str], row: list[str], hidden: Sequence[str]
) -> Rejection:
    return Rejection(
        location=where,
        reason=bad.reason,
        message=str(bad),
        field=bad.field,
        raw=redact(dict(zip(names, row, strict=False)), hidden),
    )


@dataclass
class _File:
    """One open extract: its layout and the caches its rows share."""

    path: Path
    layout: _Layout
    clock: LocalClock
    births: dict[str, date | None] = field(default_factory=dict)  # tens of thousands
    codes: dict[str, str | None] = field(default_factory=dict)
    delimiter: str = ";"
    offsets: HourOffsets = field(init=False)

    def __post_init__(self) -> None:
        self.offsets = HourOffsets(self.clock.zone)

    @property
    def prefix(self) -> str:
        return f"{self.path.name}:"

    @property
    def seen_column(self) -> str:
        layout = self.layout
        if layout.first_seen < layout.width:
            return _canonical(layout.names[layout.first_seen])
        return "DATE_PEC"


def _start(path: Path, handle: IO[str], options: ReadOptions, zone: tzinfo) -> tuple[_File, Any]:
    """Read the header of an open extract: the file's state and a ``csv.reader`` of its rows."""
    settings = options.settings
    first = handle.readline()
    if not first.strip():
        raise IngestError("empty file (no header)", where=str(path))
    delimiter = sniff_delimiter(first.rstrip("\r\n"), settings.get("delimiter"))
    header = next(csv.reader([first.lstrip("\ufeff")], delimiter=delimiter))
    layout = _layout(header, settings, str(path))
    file = _File(path, layout, LocalClock(zone), delimiter=delimiter)
    return file, csv.reader(handle, delimiter=delimiter)


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, header = 1; the row's cells)."""
    end = 1
    for row in reader:
        line, end = end + 1, reader.line_num + 1
        yield line, row


def _records(file: _File, rows: Iterable[tuple[int, list[str]]]) -> Iterator[Item]:
    """The visits and rejections of numbered rows, one at a time (the row-by-row path:
    every row ``_batches`` does not take, and any row of a file read that way).

    The hot loop: the clock's cached-hour path is inlined for ENTREE, SORTIE
    and DATE_PEC, codes go through dicts, and a missing optional column points
    at an empty cell appended to the row, so a row costs no per-column test.
    """
    layout = file.layout
    width, names, identifying = layout.width, layout.names, layout.identifying
    i_in, i_out = layout.at("ENTREE"), layout.at("SORTIE")
    i_grav, i_dp, i_mode = layout.at("GRAVITE"), layout.at("DP"), layout.at("MODE_SORTIE")
    i_orient, i_sex, i_cp = layout.at("ORIENTATION"), layout.at("SEXE"), layout.at("CP")
    i_birth = layout.at("NAISSANCE")
    i_visit, i_patient, i_seen = layout.visit, layout.patient, layout.first_seen
    seen_column = file.seen_column
    padded = layout.padded
    clock = file.clock
    hours, slow, tails = clock.hours.get, clock.slow, _TAILS.get
    births = file.births
    gravites, modes, sexes, left = _GRAVITE, _MODE_SORTIE, _SEX, _LEFT
    codes = file.codes
    prefix = file.prefix
    died, lwbs = _D.DIED, _D.LEFT_WITHOUT_BEING_SEEN
    for line, row in rows:
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) < width or any(cell.strip() for cell in row[width:]):
                bad = _Bad(None, "bad_row", f"{len(row)} fields where the header has {width}")
                # cells out of line with the header could put an identifier under any name
                yield _reject(f"{prefix}{line}", bad, names, row, names)
                continue
        if padded:
            row.append("")
        try:
            text = row[i_in]
            base = hours(text[:13])
            if base is None or (step := tails(text[13:])) is None:
                arrival = slow(text)
                if arrival is None:
                    if text.strip():
                        raise _time_problem("ENTREE")
                    raise _Bad("ENTREE", "missing_field", "ENTREE (arrival) is empty")
            else:
                arrival = base + step
            text = row[i_out]
            if text:
                base = hours(text[:13])
                if base is None or (step := tails(text[13:])) is None:
                    departure = slow(text)
                    if departure is None and text.strip():
                        raise _time_problem("SORTIE")
                else:
                    departure = base + step
                if departure is not None and departure < arrival:
                    departure = second_occurrence(clock, text)
                    if departure is None or departure < arrival:
                        raise _Bad("SORTIE", "departure_before_arrival", "SORTIE is before ENTREE")
            else:
                departure = None
            text = row[i_seen]
            if text:
                base = hours(text[:13])
                if base is None or (step := tails(text[13:])) is None:
                    first_seen = slow(text)
                    if first_seen is None and text.strip():
                        raise _time_problem(seen_column)
                else:
                    first_seen = base + step
                if first_seen is not None and first_seen < arrival:
                    first_seen = second_occurrence(clock, text) or first_seen
            else:
                first_seen = None
            text = row[i_grav]
            level = gravites.get(text) or gravites.get(text.strip().upper())
            if level is None:
                raise _Bad("GRAVITE", "bad_value", f"GRAVITE {text[:10]!r} is not CCMU 1-5, P or D")
            acuity = level[0]
            text = row[i_mode]
            disposition = modes.get(text, _UNSEEN)
            if disposition is _UNSEEN:
                disposition = modes.get(text.strip(), _UNSEEN)
            if disposition is _UNSEEN:
                raise _Bad("MODE_SORTIE", "bad_value", f"MODE_SORTIE {text[:10]!r} is not 6-9")
            if level[1]:
                disposition = died
            else:
                text = row[i_orient]
                if text and (text in left or text.strip().upper() in left):
                    disposition = lwbs
            text = row[i_dp]
            if text:
                diagnosis = codes.get(text, _UNSEEN)
                if diagnosis is _UNSEEN:
                    diagnosis = codes[text] = dotted_icd10(text) if text.strip() else ""
                if diagnosis is None:
                    raise _Bad("DP", "bad_value", "DP is not a CIM-10 code")
            else:
                diagnosis = ""
            text = row[i_birth]
            if text:
                birth = births.get(text, _UNSEEN)
                if birth is _UNSEEN:
                    birth = parse_day(text)
                    if len(births) < 500_000:
                        births[text] = birth
                if birth is None and text.strip():
                    raise _Bad("NAISSANCE", "bad_time", "NAISSANCE is not a date dd/mm/yyyy")
            else:
                birth = None
        except _Bad as bad:
            yield _reject(f"{prefix}{line}", bad, names, row, identifying)
            continue
        text = row[i_sex]
        sex = sexes.get(text, _UNSEEN)
        if sex is _UNSEEN:
            sex = sexes.get(text.strip().upper(), "U")
        yield VisitRecord(
            arrival,
            f"{prefix}{line}",
            row[i_visit].strip() or None,
            row[i_patient].strip() or None,
            first_seen,
            departure,
            acuity,
            disposition,
            diagnosis or None,
            ICD10 if diagnosis else None,
            None,
            None,
            birth,
            None,
            sex,
            row[i_cp].strip() or None,
        )


# --- the block path -------------------------------------------------------------------

BLOCK = 50_000  # rows parsed together by ``_batches``
_DIGITS = np.array([0, 1, 3, 4, 6, 7, 8, 9, 11, 12, 14, 15])
_MARKS = {2: ord("/"), 5: ord("/"), 10: ord(" "), 13: ord(":")}


class HourOffsets:
    """A zone's UTC offset (ms, ``fold=0``) at each local hour, and whether it holds for
    the whole hour; computed once per distinct hour (hours since 1970, local)."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.known: dict[int, tuple[int, bool]] = {}

    def __call__(self, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known, zone = self.known, self.zone
        offsets = np.empty(len(hours), dtype=np.int64)
        steady = np.empty(len(hours), dtype=bool)
        for k, value in enumerate(hours.tolist()):
            found = known.get(value)
            if found is None:
                start = _LOCAL_EPOCH + timedelta(hours=value)
                try:
                    offset = start.replace(tzinfo=zone).utcoffset()
                    same = offset == start.replace(minute=59, tzinfo=zone).utcoffset()
                except (OverflowError, ValueError):
                    offset, same = None, False
                if offset is None:
                    found = (0, False)
                else:
                    found = (offset // timedelta(milliseconds=1), same)
                known[value] = found
            offsets[k], steady[k] = found
        return offsets, steady


_LOCAL_EPOCH = datetime(1970, 1, 1)


def stamps_ms(
    texts: Sequence[str], offsets_of: HourOffsets
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTC epoch ms of "dd/mm/yyyy hh:mm" local stamps, all at once (NumPy).

    Returns (ms, understood, empty). A stamp is understood only in that exact
    form (16 characters, a real date and time) and in a local hour whose UTC
    offset is the same at its start and end; the rest (other spellings, seconds,
    ISO dates, odd zones, garbage) is left to ``LocalClock``, so both paths agree.
    Offsets are zoneinfo's ``fold=0`` ones, computed once per distinct local hour.
    """
    n = len(texts)
    cells = np.array(texts, dtype="U17").view(np.uint32).reshape(n, 17)
    empty = cells[:, 0] == 0
    digits = cells[:, _DIGITS].astype(np.int64) - 48
    ok = (cells[:, 16] == 0) & (cells[:, 15] != 0) & np.all((digits >= 0) & (digits <= 9), axis=1)
    for position, mark in _MARKS.items():
        ok &= cells[:, position] == mark
    d = np.where(ok[:, None], digits, 0)
    day, month = d[:, 0] * 10 + d[:, 1], d[:, 2] * 10 + d[:, 3]
    year = d[:, 4] * 1000 + d[:, 5] * 100 + d[:, 6] * 10 + d[:, 7]
    hour, minute = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11]
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (year >= 1) & (hour <= 23) & (minute <= 59)
    months = (np.where(ok, year, 1970) - 1970) * 12 + np.where(ok, month, 1) - 1
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    following = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ok &= day <= following - first
    local_hour = np.where(ok, (first + day - 1) * 24 + hour, 0)
    hours, inverse = np.unique(local_hour, return_inverse=True)
    offsets, steady = offsets_of(hours)
    ok &= steady[inverse]
    ms = local_hour * 3_600_000 + minute * 60_000 - offsets[inverse]
    return ms, ok, empty


_BREAK = re.compile(r"\r\n|\r|\n")  # what ends a line of a file opened with newline=""


def _batches(file: _File, handle: IO[str]) -> Iterator[Item | VisitBatch]:
    """The items of an open extract's rows (after its header), ``BLOCK`` rows at a time,
    in file order.

    A block of lines without a quote (or NUL) has one row a line, cut at every
    delimiter: the pandas C parser splits it (about twice as fast as the csv
    module, measured); a line with another number of fields than the header
    goes through ``csv`` alone and on to ``_records``. From the first quote on,
    the csv module reads the rest of the file (a quoted cell may hold a
    delimiter or span lines): both give the very same cells.
    """
    line = 2  # the header is line 1
    while lines := list(itertools.islice(handle, BLOCK)):
        text = "".join(lines)
        if '"' in text or "\0" in text:
            reader = csv.reader(itertools.chain(lines, handle), delimiter=file.delimiter)
            yield from _csv_batches(file, reader, line)
            return
        numbers = np.arange(line, line + len(lines), dtype=np.int64)
        yield from _block(file, *_split(file, lines, text), numbers)
        line += len(lines)


def _split(
    file: _File, lines: list[str], text: str
) -> tuple[list[Sequence[str]], np.ndarray, Callable[[int], list[str]]]:
    """Columns of unquoted lines (pandas; ``text``: the lines joined), which lines have
    the header's width, and the cells of line ``j`` as ``csv`` reads it (for the rows
    that go through ``_records``). Only the columns ``_block`` reads are split out (the
    others are left empty): turning a cell into a Python string is most of the cost."""
    width, delimiter = file.layout.width, file.delimiter
    shaped = np.array([line.count(delimiter) for line in lines]) == width - 1
    good = lines if shaped.all() else list(itertools.compress(lines, shaped.tolist()))
    wanted = file.layout.read
    columns: list[Sequence[str]] = [()] * width
    if good:
        import pandas as pd  # here: the CLI's start-up need not load it

        frame = pd.read_csv(
            io.StringIO(text if len(good) == len(lines) else "".join(good)),
            sep=delimiter,
            header=None,
            names=range(width),
            usecols=wanted,
            index_col=False,
            dtype=object,  # plain str cells: pandas' own string array costs more
            na_filter=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            engine="c",
        )
        for at in wanted:
            columns[at] = frame[at].tolist()
    else:
        for at in wanted:
            columns[at] = []
    if len(good) < len(lines):
        where = np.flatnonzero(shaped)
        for at in wanted:
            full = np.full(len(lines), "", dtype=object)
            full[where] = columns[at]
            columns[at] = full.tolist()

    def cells(j: int) -> list[str]:
        return next(csv.reader([lines[j]], delimiter=delimiter), [])

    return columns, shaped, cells


def _csv_batches(file: _File, reader: Any, line: int) -> Iterator[Item | VisitBatch]:
    """The items of a ``csv.reader``'s rows starting at ``line``, ``BLOCK`` rows at a time."""
    width = file.layout.width
    blank = [""] * width
    while True:
        before = reader.line_num
        block = list(itertools.islice(reader, BLOCK))
        if not block:
            return
        columns: list[Sequence[str]] = list(
            zip(*[row if len(row) == width else blank for row in block], strict=True)
        )
        shaped = np.array([len(row) == width for row in block], dtype=bool)
        numbers = _lines(block, line + before, line + reader.line_num)
        yield from _block(file, columns, shaped, block.__getitem__, numbers)


def _lines(block: list[list[str]], first: int, after: int) -> np.ndarray:
    """The line where each row of a block starts, as ``_numbered`` gives it (``first``:
    the first row's, ``after``: the line after the block's last row).

    Why not ``_numbered``: a generator step per row cost a third of the csv
    module's own time. A block whose rows took one line each numbers its rows
    in one step; otherwise a row's quoted cells hold the line breaks it spans
    (``csv`` keeps them as read).
    """
    if after - first == len(block):
        return np.arange(first, first + len(block), dtype=np.int64)
    spans = [1 + sum(len(_BREAK.findall(cell)) for cell in row) for row in block[:-1]]
    return np.cumsum([first, *spans], dtype=np.int64)


def _block(
    file: _File,
    columns: list[Sequence[str]],
    shaped: np.ndarray,
    cells: Callable[[int], list[str]],
    lines: np.ndarray,
) -> Iterator[Item | VisitBatch]:
    """One block, given as columns (blank cells in a row of another width than the
    header's: ``shaped`` False) and the line numbers of its rows: the rows understood
    as a ``VisitBatch`` (cut around the others), every other row (``cells(j)``) through
    ``_records`` (bad rows, blank lines, unusual spellings, rejections, a departure in
    the repeated autumn hour...), exactly as the row-by-row path reads them."""
    layout = file.layout
    size = len(lines)
    columns = [*columns, ("",) * size]  # a missing column's index points here

    def column(at: int) -> Sequence[str]:
        return columns[at]

    offsets = file.offsets
    arrival, ok, _ = stamps_ms(column(layout.at("ENTREE")), offsets)
    departure, good, has_departure = stamps_ms(column(layout.at("SORTIE")), offsets)
    ok &= good | has_departure
    has_departure = ~has_departure
    seen, good, has_seen = stamps_ms(column(layout.first_seen), offsets)
    ok &= good | has_seen
    has_seen = ~has_seen
    ok &= ~has_departure | (departure >= arrival)  # else: the autumn hour's second reading?
    ok &= ~has_seen | (seen >= arrival)
    levels = [_GRAVITE.get(text) for text in column(layout.at("GRAVITE"))]
    modes = [_MODE_SORTIE.get(text, _UNSEEN) for text in column(layout.at("MODE_SORTIE"))]
    codes = file.codes
    diagnoses = []
    for text in column(layout.at("DP")):
        code = codes.get(text, _UNSEEN)
        if code is _UNSEEN:
            code = codes[text] = dotted_icd10(text) if text.strip() else ""
        diagnoses.append(code)
    births = file.births
    birth_dates = []
    for text in column(layout.at("NAISSANCE")):
        born = births.get(text, _UNSEEN)
        if born is _UNSEEN:
            born = parse_day(text) if text else None
            if len(births) < 500_000:
                births[text] = born
        birth_dates.append(born if born is not None or not text.strip() else _UNSEEN)
    plain = [
        level is not None and mode is not _UNSEEN and code is not None and born is not _UNSEEN
        for level, mode, code, born in zip(levels, modes, diagnoses, birth_dates, strict=True)
    ]
    ok &= np.array(plain, dtype=bool)
    ok &= shaped
    died, lwbs = _D.DIED, _D.LEFT_WITHOUT_BEING_SEEN
    dispositions = [
        None
        if level is None
        else died
        if level[1]
        else lwbs
        if orientation and (orientation in _LEFT or orientation.strip().upper() in _LEFT)
        else mode
        for level, mode, orientation in zip(
            levels, modes, column(layout.at("ORIENTATION")), strict=True
        )
    ]
    sexes = [
        _SEX.get(text) or _SEX.get(text.strip().upper(), "U") if text else None
        for text in column(layout.at("SEXE"))
    ]
    batch = VisitBatch(
        prefix=file.prefix,
        lines=lines,
        arrival_ms=arrival,
        departure_ms=departure,
        has_departure=has_departure,
        first_seen_ms=seen,
        has_first_seen=has_seen,
        visit_id=[text.strip() or None for text in column(layout.visit)],
        patient_id=[text.strip() or None for text in column(layout.patient)],
        acuity=[level[0] if level is not None else None for level in levels],
        disposition=dispositions,
        diagnosis=[code or None for code in diagnoses],
        diagnosis_system=[ICD10 if code else None for code in diagnoses],
        birth_date=birth_dates,
        sex=sexes,
        postcode=[text.strip() or None for text in column(layout.at("CP"))],
    )
    start = 0
    for j in np.flatnonzero(~ok).tolist():
        if j > start:
            yield batch.slice(start, j)
        yield from _records(file, [(int(lines[j]), cells(j))])
        start = j + 1
    if start < size:
        yield batch.slice(start, size) if start else batch


def _files(
    paths: Sequence[Path], options: ReadOptions, by_block: bool
) -> Iterator[Item | VisitBatch]:
    zone = _zone(options.timezone)
    for path in paths:
        if not path.is_file():
            raise IngestError("no such file", where=str(path))
        encoding = detect_encoding(path, options.settings.get("encoding"))
        try:
            with path.open(encoding=encoding, newline="") as handle:
                file, rows = _start(path, handle, options, zone)
                yield from _batches(file, handle) if by_block else _records(file, _numbered(rows))
        except UnicodeDecodeError as error:
            raise IngestError(
                f"neither UTF-8 nor {encoding} text (byte {error.start} of a block)",
                where=str(path),
            ) from error
        except csv.Error as error:
            raise IngestError(f"malformed delimited text: {error}", where=str(path)) from error
        except OSError as error:
            raise IngestError(f"cannot read: {error.strerror}", where=str(path)) from error


def read_batches(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item | VisitBatch]:
    """``read``, with the rows parsed a block at a time given as ``VisitBatch``es (for the
    import pipeline); every other item in file order, as ``read`` gives it."""
    return _files(paths, options, by_block=True)


def read(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """Visits of RPU extracts (delimited text), one ``Rejection`` per unreadable row.

    Follows the national RPU items (arrêté du 24 juillet 2013; OSCOUR®
    format); the module docstring gives the columns, dispositions, diagnosis
    normalisation, encodings, DST handling and settings (and the measured speed).
    The rows are parsed a block at a time (``read_batches``), then given one by one.
    """
    for item in _files(paths, options, by_block=True):
        if isinstance(item, VisitBatch):
            yield from item.records()
        else:
            yield item


def read_rows(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """``read`` row by row, without the block path (what the block path must agree with)."""
    # without blocks ``_files`` yields no VisitBatch, only visits and rejections
    return _files(paths, options, by_block=False)  # type: ignore[return-value]


# --- writing ----------------------------------------------------------------------------


def _stamp(moment: datetime | None, zone: tzinfo | None) -> str:
    """ "dd/mm/yyyy hh:mm" local to ``zone`` (seconds truncated); "" for ``None``.

    ``zone`` None: ``moment`` is already local."""
    if moment is None:
        return ""
    local = moment.astimezone(zone) if zone is not None and moment.tzinfo is not None else moment
    two = _TWO_DIGITS  # format specs cost more than indexing, a million times over
    return f"{two[local.day]}/{two[local.month]}/{local.year} {two[local.hour]}:{two[local.minute]}"


def _birth_text(record: VisitRecord, arrival_year: int) -> str:
    """The birth date, else 1 January of (arrival year - age): the age reads back exactly."""
    if record.birth_date is not None:
        born = record.birth_date
        return f"{born.day:02d}/{born.month:02d}/{born.year:04d}"
    if record.age_years is not None and 0 <= record.age_years < arrival_year:
        return f"01/01/{arrival_year - record.age_years:04d}"
    return ""


def _row(record: VisitRecord, zone: tzinfo, finess: str, codes: dict[str, str]) -> tuple[str, ...]:
    arrival = record.arrival.astimezone(zone) if record.arrival.tzinfo else record.arrival
    disposition = record.disposition
    code = ""
    if record.diagnosis and record.diagnosis_system != ICD9:
        code = codes.get(record.diagnosis, "")
        if not code:
            code = codes[record.diagnosis] = dotted_icd10(record.diagnosis) or record.diagnosis
    postcode = record.postcode.strip() if record.postcode else ""
    return (
        finess,
        f"{postcode[:2]}000" if postcode else "",
        "",
        _birth_text(record, arrival.year),
        _WRITE_SEX.get(record.sex or "", ""),
        _stamp(arrival, None),
        "8",
        "",
        "",
        "",
        "",
        "" if record.acuity is None else str(record.acuity),
        code,
        "",
        "",
        _WRITE_MODE.get(disposition, "") if disposition is not None else "",
        "",
        "PSA" if disposition == _D.LEFT_WITHOUT_BEING_SEEN else "",
        _stamp(record.departure, zone),
        record.visit_id or "",
        record.patient_id or "",
        _stamp(record.first_seen, zone),
    )


def write(records: Iterable[VisitRecord], out: IO[str], options: WriteOptions) -> int:
    """Write visits as an RPU extract (``;``, UTF-8, header row) to ``out``; how many.

    Columns and choices (birth date from age, PSA, ID_PASSAGE / IPP /
    DATE_PEC) are in the module docstring; a write -> read round trip keeps
    times to the minute, diagnosis, disposition, acuity, age and sex.
    """
    zone = _zone(options.timezone)
    finess = options.site_code or "000000000"
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    codes: dict[str, str] = {}
    for record in records:
        writer.writerow(_row(record, zone, finess, codes))
        written += 1
    return written
