"""MIMIC-IV-ED (PhysioNet's emergency-department module) -> visits, and visits -> MIMIC-IV-ED.

Follows the MIMIC-IV-ED v2.2 documentation (mimic.mit.edu/docs/iv/modules/ed):
``edstays`` (subject_id, hadm_id, stay_id, intime, outtime, gender, race,
arrival_transport, disposition) is the tracking table, one row per stay;
``triage`` (subject_id, stay_id, vital signs, pain, acuity, chiefcomplaint)
and ``diagnosis`` (subject_id, stay_id, seq_num, icd_code, icd_version,
icd_title) join to it on ``stay_id``. Age comes from the hosp module's
``patients`` table (subject_id, gender, anchor_age, anchor_year,
anchor_year_group, dod): age at a stay = anchor_age + (year of intime -
anchor_year), as the MIMIC-IV documentation defines it. Every table may be
plain ``.csv`` or gzip-compressed ``.csv.gz`` (as PhysioNet ships them).

**Files.** ``read`` takes ``edstays.csv(.gz)`` or a folder holding it (or
holding an ``ed/`` folder that does, the PhysioNet layout). A file whose name
is not ``triage``, ``diagnosis`` or ``patients`` is taken as the edstays
table. Companion tables named explicitly apply to every edstays file; those
not named are looked for beside the edstays file (same compression first),
and ``patients`` also in a sibling ``hosp/`` folder. A missing companion is
fine: its fields stay ``None``.

**Fields.** visit_id = stay_id, patient_id = subject_id, arrival = intime,
departure = outtime (empty: still in the department), sex from gender (F, M;
any other value "U"), acuity = triage.acuity (ESI 1-5; "3" and "3.0" both
read), diagnosis = the diagnosis row with the lowest seq_num of the stay
(seq_num 1, the first listed). ``icd_version`` 10 -> ``records.ICD10`` and the
code dotted as ICD-10-CM writes it ("R079" -> "R07.9", "S52521A" ->
"S52.521A"); 9 -> ``records.ICD9`` and the code kept exactly as given (an
ICD-9 "4019" is never read as an ICD-10 code). Dispositions: HOME ->
DISCHARGED; ADMITTED; TRANSFER -> TRANSFERRED; LEFT WITHOUT BEING SEEN and
ELOPED -> LEFT_WITHOUT_BEING_SEEN; LEFT AGAINST MEDICAL ADVICE -> DISCHARGED
(the patient was seen and left: hospiflow has no separate outcome for it);
EXPIRED -> DIED; OTHER and empty -> ``None``; anything else rejects the row.

**Times.** "YYYY-MM-DD HH:MM:SS" local to the hospital (Boston:
America/New_York for the real data; ``options.timezone`` is what is used). A
nonexistent or ambiguous local time (DST change) follows zoneinfo's
``fold=0``: the offset in force before the change; so a visit written in the
repeated autumn hour comes back one hour early. **MIMIC shifts every date
into the future** (years 2110-2210, per patient, for deidentification): they
are read as they are, and the import pipeline accepts them only with
``allow_future`` (``hospiflow import --allow-future-dates``).

**Memory.** ``triage``, ``diagnosis`` and ``patients`` are indexed first in
dicts holding only what is used (an int acuity per stay, the first diagnosis
per stay, the anchor per subject); then ``edstays`` is streamed. Free text
(chiefcomplaint) and race are never kept.

**Rejections.** Location ``edstays.csv:LINE`` (the file's real name, header
= line 1), field the column, reason ``missing_field`` (stay_id, intime),
``bad_time``, ``bad_value`` (disposition, column count) or
``departure_before_arrival``. A bad row of a companion table (triage acuity
not 1-5, diagnosis icd_version not 9/10 or seq_num not an integer, patients
anchor not an integer) yields a Rejection located in that file (field
``triage.acuity``, ``diagnosis.icd_version``, ...) **and the visit is still
read** with that field ``None``: a secondary table's error never drops a
visit. Companion rows of stays (subjects) absent from edstays are ignored,
errors included. ``raw`` has subject_id, hadm_id, stay_id, chiefcomplaint,
race and dod redacted.

**Writing.** ``write`` streams ``edstays.csv`` to ``out``; when ``out`` is a
file named ``edstays.csv`` it also writes ``triage.csv``, ``diagnosis.csv``
and ``patients.csv`` beside it (what ``hospiflow export --format mimic-ed
--out DIR/edstays.csv`` gives), else ``write_folder`` writes all four into
a folder. triage holds the acuity only; diagnosis one row, seq_num 1, the
ICD-10 code without its dot (ICD-9 codes as given), icd_title empty;
patients anchor_age = the age at the subject's first visit with an age and
anchor_year = that visit's year, so that visit's age comes back exactly
(later visits of the same subject get the anchor arithmetic, like MIMIC).
MIMIC ids are integers: an integer visit (patient) id is written as it is; any
other id gets a running number (1, 2, ...; skipping numbers taken), the same
number for the same id within one write. **Identity is then that running
number**: two exports of different runs written this way share numbers and
must not be imported into the same site.

**Speed.** About 60,000 stays/s read (plain CSV) and 50,000 (gzip) on a
generated folder of 100,000 stays, 100,000 triage rows, 250,000 diagnosis
rows and 50,000 patients, on a shared 2-core machine.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hospiflow.ingest.formats import IngestError, Item, ReadOptions, WriteOptions
from hospiflow.records import ICD9, ICD10, Disposition, Rejection, VisitRecord, redact

# --- the MIMIC-IV-ED vocabulary ------------------------------------------------------

EDSTAYS_COLUMNS = (
    "subject_id",
    "hadm_id",
    "stay_id",
    "intime",
    "outtime",
    "gender",
    "race",
    "arrival_transport",
    "disposition",
)
TRIAGE_COLUMNS = (
    "subject_id",
    "stay_id",
    "temperature",
    "heartrate",
    "resprate",
    "o2sat",
    "sbp",
    "dbp",
    "pain",
    "acuity",
    "chiefcomplaint",
)
DIAGNOSIS_COLUMNS = ("subject_id", "stay_id", "seq_num", "icd_code", "icd_version", "icd_title")
PATIENTS_COLUMNS = ("subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod")

# Identifiers, free text and the (shifted) date of death: never shown in a Rejection.
IDENTIFYING = ("subject_id", "hadm_id", "stay_id", "chiefcomplaint", "race", "dod")

_D = Disposition
_DISPOSITIONS: dict[str, Disposition | None] = {
    "HOME": _D.DISCHARGED,
    "ADMITTED": _D.ADMITTED,
    "TRANSFER": _D.TRANSFERRED,
    "LEFT WITHOUT BEING SEEN": _D.LEFT_WITHOUT_BEING_SEEN,
    "ELOPED": _D.LEFT_WITHOUT_BEING_SEEN,
    "LEFT AGAINST MEDICAL ADVICE": _D.DISCHARGED,  # seen, then left (module docstring)
    "EXPIRED": _D.DIED,
    "OTHER": None,
    "": None,
}
_WRITE_DISPOSITIONS: dict[Disposition, str] = {
    _D.DISCHARGED: "HOME",
    _D.ADMITTED: "ADMITTED",
    _D.TRANSFERRED: "TRANSFER",
    _D.LEFT_WITHOUT_BEING_SEEN: "LEFT WITHOUT BEING SEEN",
    _D.DIED: "EXPIRED",
}
_ACUITY = {text: level for level in range(1, 6) for text in (str(level), f"{level}.0")}
_VERSIONS = {"9": ICD9, "9.0": ICD9, "10": ICD10, "10.0": ICD10}
_SEX = {"F": "F", "M": "M", "": None}
_TABLES = ("edstays", "triage", "diagnosis", "patients")

# --- files ------------------------------------------------------------------------------


def _table_name(path: Path) -> str:
    """'triage' for triage.csv / triage.csv.gz / TRIAGE.CSV; '' for any other name."""
    name = path.name.lower().removesuffix(".gz").removesuffix(".csv")
    return name if name in _TABLES else ""


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of each CSV record of a plain or gzip file, header included.

    A file that cannot be opened, decompressed or decoded as UTF-8 raises ``IngestError``.
    """
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            end = 0
            for row in reader:
                start, end = end + 1, reader.line_num
                if row:
                    yield start, row
    except UnicodeDecodeError as error:
        raise IngestError(f"not UTF-8 text (byte {error.start})", where=str(path)) from error
    except (OSError, EOFError, csv.Error) as error:
        what = getattr(error, "strerror", None) or type(error).__name__
        raise IngestError(f"cannot read: {what}", where=str(path)) from error


def _header(
    path: Path, lines: Iterator[tuple[int, list[str]]], needed: Sequence[str]
) -> tuple[list[str], list[int]]:
    """The header's column names (lowercase) and the index of each needed column."""
    first = next(lines, None)
    if first is None:
        raise IngestError("empty file (no header)", where=str(path))
    names = [name.strip().lower() for name in first[1]]
    missing = [name for name in needed if name not in names]
    if missing:
        raise IngestError(f"missing column(s): {', '.join(missing)}", where=str(path))
    return names, [names.index(name) for name in needed]


def _beside(edstays: Path, table: str) -> Path | None:
    """The companion table next to an edstays file, same compression first."""
    folders = [edstays.parent]
    if table == "patients":
        folders.append(edstays.parent.parent / "hosp")
    suffixes = (".csv.gz", ".csv") if edstays.name.lower().endswith(".gz") else (".csv", ".csv.gz")
    for folder in folders:
        for suffix in suffixes:
            candidate = folder / f"{table}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _in_folder(folder: Path) -> Path:
    for where in (folder, folder / "ed"):
        for name in ("edstays.csv.gz", "edstays.csv"):
            if (where / name).is_file():
                return where / name
    raise IngestError("no edstays.csv or edstays.csv.gz in this folder", where=str(folder))


def _sort_paths(paths: Sequence[Path]) -> tuple[list[Path], dict[str, Path]]:
    """(edstays files, companion tables named explicitly)."""
    stays: list[Path] = []
    named: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            stays.append(_in_folder(path))
            continue
        if not path.is_file():
            raise IngestError("no such file", where=str(path))
        table = _table_name(path)
        if table in ("", "edstays"):
            stays.append(path)
        elif table in named:
            raise IngestError(f"two {table} tables given", where=str(path))
        else:
            named[table] = path
    if not stays:
        raise IngestError("edstays.csv (or .csv.gz) is required", where="paths")
    return stays, named


# --- the companion tables, indexed ---------------------------------------------------


@dataclass
class _Companions:
    """What the stays need from triage, diagnosis and patients, and their bad rows."""

    acuity: dict[str, int] = field(default_factory=dict)
    # stay -> (seq_num, code, system); code None when that row was bad.
    diagnosis: dict[str, tuple[int, str | None, str | None]] = field(default_factory=dict)
    anchor: dict[str, tuple[int, int]] = field(default_factory=dict)  # subject -> (age, year)
    stay_errors: dict[str, list[Rejection]] = field(default_factory=dict)
    subject_errors: dict[str, list[Rejection]] = field(default_factory=dict)


def _secondary(
    errors: dict[str, list[Rejection]],
    key: str,
    where: str,
    column: str,
    names: list[str],
    row: list[str],
    message: str,
) -> None:
    """Keep a companion row's Rejection until the visit it belongs to is read."""
    rejection = Rejection(
        location=where,
        reason="bad_value",
        message=message,
        field=column,
        raw=redact(dict(zip(names, row, strict=False)), IDENTIFYING),
    )
    errors.setdefault(key, []).append(rejection)


def _index_triage(path: Path, into: _Companions) -> None:
    lines = _lines(path)
    names, (i_stay, i_acuity) = _header(path, lines, ("stay_id", "acuity"))
    width = max(i_stay, i_acuity) + 1
    acuity, levels = into.acuity, _ACUITY
    for line, row in lines:
        if len(row) < width:
            continue  # a truncated row names no stay it could be joined to
        stay = row[i_stay].strip()
        if not stay or stay in acuity:
            continue
        text = row[i_acuity].strip()
        level = levels.get(text)
        if level is not None:
            acuity[stay] = level
        elif text:
            _secondary(
                into.stay_errors,
                stay,
                f"{path.name}:{line}",
                "triage.acuity",
                names,
                row,
                f"triage acuity {text[:20]!r} is not an ESI level 1-5; visit kept without it",
            )


def _index_diagnosis(path: Path, into: _Companions) -> None:
    lines = _lines(path)
    needed = ("stay_id", "seq_num", "icd_code", "icd_version")
    names, (i_stay, i_seq, i_code, i_version) = _header(path, lines, needed)
    width = max(i_stay, i_seq, i_code, i_version) + 1
    first, name = into.diagnosis, path.name
    for line, row in lines:
        if len(row) < width:
            continue
        stay = row[i_stay].strip()
        if not stay:
            continue
        try:
            seq = int(row[i_seq])
        except ValueError:
            where = f"{name}:{line}"
            message = "diagnosis seq_num is not an integer; the row is not used"
            _secondary(into.stay_errors, stay, where, "diagnosis.seq_num", names, row, message)
            continue
        known = first.get(stay)
        if known is not None and known[0] <= seq:
            continue
        version = row[i_version].strip()
        system = _VERSIONS.get(version)
        code = row[i_code].strip()
        if system is None or not code:
            column = "diagnosis.icd_version" if system is None else "diagnosis.icd_code"
            message = (
                f"icd_version {version[:10]!r} is neither 9 nor 10"
                if system is None
                else "icd_code is empty"
            ) + "; the visit is kept without a diagnosis"
            where = f"{name}:{line}"
            _secondary(into.stay_errors, stay, where, column, names, row, message)
            first[stay] = (seq, None, None)
            continue
        first[stay] = (seq, dotted_icd10(code.upper()) if system == ICD10 else code, system)


def _index_patients(path: Path, into: _Companions) -> None:
    lines = _lines(path)
    needed = ("subject_id", "anchor_age", "anchor_year")
    names, (i_subject, i_age, i_year) = _header(path, lines, needed)
    width = max(i_subject, i_age, i_year) + 1
    anchor = into.anchor
    for line, row in lines:
        if len(row) < width:
            continue
        subject = row[i_subject].strip()
        if not subject or subject in anchor:
            continue
        try:
            anchor[subject] = (int(row[i_age]), int(row[i_year]))
        except ValueError:
            _secondary(
                into.subject_errors,
                subject,
                f"{path.name}:{line}",
                "patients.anchor_age",
                names,
                row,
                "anchor_age or anchor_year is not an integer; the visits are kept without age",
            )


def _companions(stays: Path, named: dict[str, Path]) -> _Companions:
    """Index the triage, diagnosis and patients tables that go with one edstays file."""
    into = _Companions()
    for table, index in (
        ("triage", _index_triage),
        ("diagnosis", _index_diagnosis),
        ("patients", _index_patients),
    ):
        path = named.get(table) or _beside(stays, table)
        if path is not None:
            index(path, into)
    return into


# --- codes and times -------------------------------------------------------------------


def dotted_icd10(code: str) -> str:
    """An ICD-10(-CM) code with its dot after the category: "R079" -> "R07.9".

    MIMIC writes codes without the dot; ICD-10-CM puts it after the third
    character. Codes of three characters or already dotted stay as they are.
    """
    if len(code) <= 3 or "." in code:
        return code
    return f"{code[:3]}.{code[3:]}"


def _local_time(text: str, zone: tzinfo) -> datetime | None:
    """A MIMIC timestamp as an aware datetime in ``zone``; ``None`` when it does not parse."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise IngestError(f"unknown time zone {name!r}", where="timezone") from error


# --- reading edstays ----------------------------------------------------------------------


class _Bad(Exception):
    """An edstays row that cannot be a visit: field, reason, sentence."""

    def __init__(self, field: str | None, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


def _time(row: list[str], index: int, column: str, zone: tzinfo) -> datetime | None:
    text = row[index].strip()
    if not text:
        return None
    moment = _local_time(text, zone)
    if moment is None:
        raise _Bad(column, "bad_time", f"{column} {text[:30]!r} is not YYYY-MM-DD HH:MM:SS")
    return moment


def _read_stays(path: Path, tables: _Companions, zone: tzinfo) -> Iterator[Item]:
    lines = _lines(path)
    names, columns = _header(path, lines, ("stay_id", "intime"))
    i_stay, i_intime = columns
    position = {name: index for index, name in enumerate(names)}
    i_subject = position.get("subject_id")
    i_outtime = position.get("outtime")
    i_gender = position.get("gender")
    i_disposition = position.get("disposition")
    width = len(names)
    name = path.name
    acuity, diagnosis, anchor = tables.acuity, tables.diagnosis, tables.anchor
    stay_errors, subject_errors = tables.stay_errors, tables.subject_errors
    for line, row in lines:
        where = f"{name}:{line}"
        try:
            if len(row) != width:
                raise _Bad(None, "bad_value", f"{len(row)} columns where the header has {width}")
            stay = row[i_stay].strip()
            if not stay:
                raise _Bad("stay_id", "missing_field", "stay_id is empty")
            arrival = _time(row, i_intime, "intime", zone)
            if arrival is None:
                raise _Bad("intime", "missing_field", "intime is empty")
            departure = _time(row, i_outtime, "outtime", zone) if i_outtime is not None else None
            if departure is not None and departure < arrival:
                raise _Bad("outtime", "departure_before_arrival", "outtime is before intime")
            disposition = None
            if i_disposition is not None:
                text = row[i_disposition].strip().upper()
                if text not in _DISPOSITIONS:
                    raise _Bad("disposition", "bad_value", f"unknown disposition {text[:40]!r}")
                disposition = _DISPOSITIONS[text]
        except _Bad as bad:
            yield Rejection(
                location=where,
                reason=bad.reason,
                message=str(bad),
                field=bad.field,
                raw=redact(dict(zip(names, row, strict=False)), IDENTIFYING),
            )
            continue
        subject = row[i_subject].strip() if i_subject is not None else ""
        sex = None
        if i_gender is not None:
            gender = row[i_gender].strip().upper()
            sex = _SEX.get(gender, "U")
        code = system = None
        first = diagnosis.get(stay)
        if first is not None:
            code, system = first[1], first[2]
        age = None
        if subject:
            known = anchor.get(subject)
            if known is not None:
                age = known[0] + arrival.year - known[1]
                if age < 0:
                    age = None
            if subject_errors:
                yield from subject_errors.pop(subject, ())
        if stay_errors:
            yield from stay_errors.pop(stay, ())
        yield VisitRecord(
            arrival=arrival,
            source=where,
            visit_id=stay,
            patient_id=subject or None,
            departure=departure,
            acuity=acuity.get(stay),
            disposition=disposition,
            diagnosis=code,
            diagnosis_system=system,
            age_years=age,
            sex=sex,
        )


def read(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """Visits of MIMIC-IV-ED tables (edstays joined with triage, diagnosis, patients).

    ``paths`` name edstays.csv(.gz) or its folder, and optionally the
    companion tables; see the module docstring for the joins, the
    dispositions, the future dates and how companion-table errors are reported.
    """
    zone = _zone(options.timezone)
    stays, named = _sort_paths(paths)
    for path in stays:
        yield from _read_stays(path, _companions(path, named), zone)


# --- writing ----------------------------------------------------------------------------


class _Numbers:
    """MIMIC integer ids for any ids: integers kept, others numbered 1, 2, ... once each."""

    def __init__(self) -> None:
        self._given: dict[str, int] = {}
        self._taken: set[int] = set()
        self._next = 1

    def of(self, key: str | None) -> int:
        """The integer written for ``key`` (a fresh number each time for ``None``)."""
        if key is not None:
            known = self._given.get(key)
            if known is not None:
                return known
            text = key.strip()
            if text.isascii() and text.isdigit() and int(text) not in self._taken:
                number = int(text)
                self._given[key] = number
                self._taken.add(number)
                return number
        while self._next in self._taken:
            self._next += 1
        number = self._next
        self._taken.add(number)
        if key is not None:
            self._given[key] = number
        return number


def _local_text(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone) if moment.tzinfo is not None else moment
    return local.replace(tzinfo=None).isoformat(" ", "seconds")


class _Writer:
    """Writes edstays rows to one stream and, given a folder, the three other tables."""

    def __init__(self, edstays: IO[str], zone: tzinfo, companions: dict[str, IO[str]]) -> None:
        self.zone = zone
        self.stays = csv.writer(edstays, lineterminator="\n")
        self.stays.writerow(EDSTAYS_COLUMNS)
        self.triage = self.diagnosis = None
        self.patients_out = companions.get("patients")
        if "triage" in companions:
            self.triage = csv.writer(companions["triage"], lineterminator="\n")
            self.triage.writerow(TRIAGE_COLUMNS)
        if "diagnosis" in companions:
            self.diagnosis = csv.writer(companions["diagnosis"], lineterminator="\n")
            self.diagnosis.writerow(DIAGNOSIS_COLUMNS)
        self.visits = _Numbers()
        self.subjects = _Numbers()
        self.anchors: dict[int, tuple[str, int | None, int]] = {}  # subject -> gender, age, year
        self.written = 0

    def visit(self, record: VisitRecord) -> None:
        stay = self.visits.of(record.visit_id)
        subject = self.subjects.of(record.patient_id)
        arrival = record.arrival.astimezone(self.zone)
        gender = record.sex or ""
        self.stays.writerow(
            (
                subject,
                "",
                stay,
                _local_text(arrival, self.zone),
                _local_text(record.departure, self.zone) if record.departure else "",
                gender,
                "",
                "UNKNOWN",
                _WRITE_DISPOSITIONS.get(record.disposition, "") if record.disposition else "",
            )
        )
        if self.triage is not None:
            acuity = "" if record.acuity is None else record.acuity
            self.triage.writerow((subject, stay, "", "", "", "", "", "", "", acuity, ""))
        if self.diagnosis is not None and record.diagnosis:
            if record.diagnosis_system == ICD9:
                code, version = record.diagnosis, 9
            else:
                code, version = record.diagnosis.replace(".", ""), 10
            self.diagnosis.writerow((subject, stay, 1, code, version, ""))
        known = self.anchors.get(subject)
        if known is None or (known[1] is None and record.age_years is not None):
            self.anchors[subject] = (gender, record.age_years, arrival.year)
        self.written += 1

    def finish(self) -> int:
        if self.patients_out is not None:
            patients = csv.writer(self.patients_out, lineterminator="\n")
            patients.writerow(PATIENTS_COLUMNS)
            for subject, (gender, age, year) in self.anchors.items():
                if age is not None:
                    patients.writerow((subject, gender, age, year, "", ""))
        return self.written


def _companion_folder(out: IO[str]) -> Path | None:
    """The folder of ``out`` when it is a real file named edstays.csv, else ``None``."""
    name = getattr(out, "name", None)
    if not isinstance(name, str) or Path(name).name.lower() != "edstays.csv":
        return None
    folder = Path(name).parent
    return folder if folder.is_dir() else None


def _write_all(
    records: Iterable[VisitRecord],
    edstays: IO[str],
    folder: Path | None,
    options: WriteOptions,
    suffix: str = ".csv",
) -> int:
    zone = _zone(options.timezone)
    handles: dict[str, IO[str]] = {}
    try:
        if folder is not None:
            for table in ("triage", "diagnosis", "patients"):
                handles[table] = _create(folder / f"{table}{suffix}")
        writer = _Writer(edstays, zone, handles)
        for record in records:
            writer.visit(record)
        return writer.finish()
    finally:
        for handle in handles.values():
            handle.close()


def _create(path: Path) -> IO[str]:
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "wt", encoding="utf-8", newline="")
        return path.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise IngestError(f"cannot write: {error.strerror}", where=str(path)) from error


def write(records: Iterable[VisitRecord], out: IO[str], options: WriteOptions) -> int:
    """Write visits as MIMIC-IV-ED ``edstays`` rows to ``out``; return how many.

    When ``out`` is a file named ``edstays.csv``, ``triage.csv``,
    ``diagnosis.csv`` and ``patients.csv`` are written beside it so that a
    read gives back acuity, diagnosis and age (module docstring); a stream of
    any other name gets edstays only (use ``write_folder`` for the rest).
    """
    return _write_all(records, out, _companion_folder(out), options)


def write_folder(
    records: Iterable[VisitRecord], folder: Path, options: WriteOptions, *, compress: bool = False
) -> int:
    """Write visits as a MIMIC-IV-ED folder (edstays, triage, diagnosis, patients); how many.

    ``compress`` writes ``.csv.gz`` files, as PhysioNet ships them.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise IngestError(f"cannot create: {error.strerror}", where=str(folder)) from error
    suffix = ".csv.gz" if compress else ".csv"
    with _create(folder / f"edstays{suffix}") as edstays:
        return _write_all(records, edstays, folder, options, suffix)
