"""Records into a site: pseudonymise, check, deduplicate, quarantine, commit at once.

``import_items`` is the one way observed visits reach the store. It takes
what a reader yields (``VisitRecord``, ``Rejection``, ``HourlyCount``) and
writes, **in one transaction** on the writer connection:

* new visits into the site's observed run, with keyed pseudonyms instead of
  identifiers, an age instead of a birth date, a département instead of a
  postcode, numbered from the run's counter, locked first thing in the
  transaction (``store.patient_numbers``: a feed writing meanwhile waits);
* corrections: a visit already stored (same visit key) whose content changed
  is updated; one that did not is counted as a duplicate and left alone, so
  re-importing a file adds nothing and an overlapping later extract adds only
  what is new;
* every rejection (the reader's and the checks' below) into ``quarantine``
  with where and why;
* the run's rollups, span and counts, the import's batch row and an audit entry.

A failure anywhere rolls everything back (a killed process too: SQLite's
journal or PostgreSQL's WAL undo the open transaction), so a site is either
as it was before an import or has all of it; the failed attempt is then
recorded as a ``failed`` batch with its error.

Readers that parse blocks of rows at once (``rpu.read_batches``) hand over
``VisitBatch``es: ``_Visits.columns`` turns them into the same rows as
``_Visits.row`` does records, column by column. A run's first import keeps
its rows in memory and writes them at the end in one bulk insert (``_Pending``);
a batch whose keys are all new there is kept whole, its rows made once with
their patient numbers and its counts (span, Data quality totals, rollups) taken
from its NumPy columns rather than from a million tuples at the end.

Checks applied to every visit, whatever its source: arrival not in the
future (over a day ahead) unless ``allow_future`` (MIMIC-IV shifts dates
into 2110-2210), departure not before arrival, first contact within the
stay, stays of at most ``MAX_STAY_HOURS``.
"""

from __future__ import annotations

import gc
import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.ingest.batch import VisitBatch
from hospiflow.ingest.diagnoses import BY_CHAPTER, BY_CODE, DiagnosisMap, load_diagnosis_map
from hospiflow.ingest.formats import IngestError, Item
from hospiflow.ingest.pseudonym import Pseudonymiser, age_at, area_of, load_key
from hospiflow.records import ICD9, ICD10, HourlyCount, Rejection, VisitRecord
from hospiflow.store import patient_numbers, rollups, schema, sites
from hospiflow.store.quality import run_totals
from hospiflow.store.timeconv import now_ms
from hospiflow.store.writer import insert_columns, insert_rows

MAX_STAY_HOURS = 72
CHUNK = 5_000  # records looked up and written together
MS_PER_MIN = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000

VISIT_COLUMNS = (
    "run_id",
    "patient_no",
    "pseudonym",
    "pathology_idx",
    "icd10",
    "specialty_idx",
    "acuity",
    "arrival_ms",
    "arrival_local_ms",
    "departure_ms",
    "wait_min",
    "los_min",
    "disposition",
    "visit_key",
    "diagnosis_system",
    "age_years",
    "sex",
    "area",
    "doctor_key",
)
_KEY = VISIT_COLUMNS.index("visit_key")
_CONTENT = slice(2, len(VISIT_COLUMNS))  # what a correction may change (not run, number)
QUARANTINE_COLUMNS = (
    "site_id",
    "batch_id",
    "location",
    "field",
    "reason",
    "message",
    "raw",
    "day_local_ms",
)


@dataclass
class ImportSummary:
    """What an import did: read, new, corrected, duplicates, quarantined by reason."""

    site: str
    format: str
    files: list[str]
    actor: str = "cli"
    batch_id: int | None = None
    run_id: int | None = None
    status: str = "complete"
    read: int = 0
    imported: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    hours: int = 0  # hourly counts (forecast-only sites)
    by_reason: dict[str, int] = field(default_factory=dict)
    unmapped_codes: dict[str, int] = field(default_factory=dict)
    mapped_by: dict[str, int] = field(default_factory=dict)  # code / chapter / unmapped
    first_arrival: str | None = None
    last_arrival: str | None = None
    seconds: float = 0.0
    error: str | None = None
    # the whole site after this import: visits, completeness, unmapped codes
    site_totals: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the batch row's summary, the API's answer)."""
        return asdict(self)


class _Quarantine:
    """Rejections waiting to be written, counted by reason."""

    def __init__(self, site_id: int) -> None:
        self.site_id = site_id
        self.rows: list[tuple[Any, ...]] = []
        self.by_reason: Counter[str] = Counter()

    def add(self, rejection: Rejection, day_local_ms: int | None = None) -> None:
        self.by_reason[rejection.reason] += 1
        self.rows.append(
            (
                self.site_id,
                None,  # the batch id, known at the end
                rejection.location[:500],
                rejection.field,
                rejection.reason,
                rejection.message[:1000],
                rejection.raw[:4000],
                day_local_ms,
            )
        )


@dataclass
class _Columns:
    """A batch's visit rows as columns (``VISIT_COLUMNS`` order; run and patient number
    left out), the NumPy columns a first import counts from (``_Pending``), and the
    rows the checks refused but ``_Visits.row`` took (``late``: not expected)."""

    run_id: int
    values: list[Sequence[Any]]
    arrays: dict[str, np.ndarray]
    late: list[tuple[Any, ...]]
    unmapped: Counter[tuple[str, str | None]]  # (code, system) -> rows, as ``totals`` counts

    def __len__(self) -> int:
        """Rows in ``values`` (``late`` not counted)."""
        return len(self.values[_KEY]) if self.values else 0

    @property
    def keys(self) -> Sequence[str]:
        return self.values[_KEY] if self.values else ()

    def rows(self, numbers: Iterable[int] | None = None) -> list[tuple[Any, ...]]:
        """The rows, numbered from ``numbers`` (patient number 0 without), then ``late``."""
        if not self.values:
            return list(self.late)
        made = list(
            zip(
                itertools.repeat(self.run_id),
                itertools.repeat(0) if numbers is None else numbers,
                *self.values[2:],
            )
        )
        return made + self.late if self.late else made


class _Visits:
    """Turns ``VisitRecord``s into visit rows of one observed run."""

    def __init__(
        self,
        connection: Connection,
        run_id: int,
        timezone: str,
        pseudonymiser: Pseudonymiser,
        diagnoses: DiagnosisMap,
        allow_future: bool,
    ) -> None:
        self.connection = connection
        self.run_id = run_id
        self.zone = ZoneInfo(timezone)
        self.pseudo = pseudonymiser
        self.diagnoses = diagnoses
        self.latest_ms = now_ms() + 24 * MS_PER_HOUR if not allow_future else None
        self.specialty_idx = _index(connection, schema.specialties, run_id)
        self.pathologies = {
            code: (idx, specialty)
            for code, idx, specialty in connection.execute(
                sa.select(
                    schema.pathologies.c.code,
                    schema.pathologies.c.idx,
                    schema.pathologies.c.specialty_idx,
                ).where(schema.pathologies.c.run_id == run_id)
            )
        }
        self.unknown = self.specialty_idx[sites.UNKNOWN_SPECIALTY]
        self.rejected_day_ms: int | None = None  # local day of the last visit refused
        self._patients: dict[str, str] = {}  # raw id -> pseudonym, this import only (memory)
        self._offsets: dict[int, int] = {}
        self._classified: dict[
            tuple, tuple
        ] = {}  # (code, system, specialty) -> result  # quarter hour (UTC) -> the zone's offset, ms
        self.unmapped: Counter[str] = Counter()
        self.mapped_by: Counter[str] = Counter()

    def row(self, record: VisitRecord) -> tuple[Any, ...] | Rejection:
        """The visit row (patient number 0, set on insert), or why it cannot be one."""
        # ``timestamp()`` reads a wall-clock time inside a spring DST gap with the
        # offset before the change (fold=0): the instant is real, the local time
        # stored beside it is that instant's own wall clock
        if record.arrival.tzinfo is None:  # a reader's bug: its time would be the server's
            raise IngestError("a visit time has no time zone", where=record.source)
        arrival_ms = round(record.arrival.timestamp() * 1000)
        local_ms = arrival_ms + self._offset_ms(arrival_ms)
        departure = record.departure
        departure_ms = round(departure.timestamp() * 1000) if departure is not None else None
        seen = record.first_seen
        seen_ms = round(seen.timestamp() * 1000) if seen is not None else None
        problem = self._check(arrival_ms, departure_ms, seen_ms)
        if problem is not None:
            reason, field_name, message = problem
            self.rejected_day_ms = local_ms - local_ms % MS_PER_DAY
            return Rejection(record.source, reason, message, field_name, _describe(record))
        pathology_idx, specialty_idx, code, system = self._classify(record)
        pseudonym = self.pseudo.pseudonym
        if record.visit_id:
            key = pseudonym("visit", record.visit_id)
        else:
            content = (
                f"{record.patient_id}|{arrival_ms}"
                if record.patient_id
                else f"|{arrival_ms}|{departure_ms}|{record.diagnosis}|{record.specialty}"
            )
            key = pseudonym("content", content)
        patient_id = record.patient_id
        if patient_id:
            patient = self._patients.get(patient_id)
            if patient is None:
                patient = pseudonym("patient", patient_id)
                if len(self._patients) < 1_000_000:
                    self._patients[patient_id] = patient
        else:
            patient = key
        age = record.age_years
        if record.birth_date is not None:
            age = age_at(record.birth_date, _EPOCH_DATE + timedelta(days=local_ms // MS_PER_DAY))
        if age is not None and not 0 <= age <= 130:
            age = None
        return (
            self.run_id,
            0,
            patient,
            pathology_idx,
            code,
            specialty_idx,
            record.acuity,
            arrival_ms,
            local_ms,
            departure_ms,
            (seen_ms - arrival_ms) / MS_PER_MIN if seen_ms is not None else None,
            (departure_ms - arrival_ms) / MS_PER_MIN if departure_ms is not None else None,
            int(record.disposition) if record.disposition is not None else None,
            key,
            system,
            age,
            record.sex[:1].upper() if record.sex else None,
            area_of(record.postcode) if record.postcode else None,
            pseudonym("doctor", record.doctor_id) if record.doctor_id else None,
        )

    def rows(self, batch: VisitBatch, quarantine: _Quarantine) -> list[tuple[Any, ...]]:
        """``row`` for every visit of a batch (patient number 0, set on insert)."""
        return self.columns(batch, quarantine).rows()

    def columns(self, batch: VisitBatch, quarantine: _Quarantine) -> _Columns:
        """``row`` for every visit of a batch, column by column (NumPy for times and
        checks; one lookup per distinct code, patient, postcode). A visit the checks
        refuse goes through ``row`` itself, so its rejection is the same."""
        arrival, departure, seen = batch.arrival_ms, batch.departure_ms, batch.first_seen_ms
        has_departure, has_seen = batch.has_departure, batch.has_first_seen
        refused = has_departure & (
            (departure < arrival) | (departure - arrival > MAX_STAY_HOURS * MS_PER_HOUR)
        )
        refused |= has_seen & ((seen < arrival) | (has_departure & (seen > departure)))
        if self.latest_ms is not None:
            refused |= arrival > self.latest_ms
        kept = np.flatnonzero(~refused)
        late: list[tuple[Any, ...]] = []
        for i in np.flatnonzero(refused).tolist():
            row = self.row(batch.record(i))
            if isinstance(row, Rejection):
                quarantine.add(row, self.rejected_day_ms)
            else:  # not expected: the checks above are ``_check``'s
                late.append(row)
        if len(kept) == 0:
            return _Columns(self.run_id, [], {}, late, Counter())
        every = len(kept) == len(batch)

        def pick(values: list[Any] | None) -> list[Any]:
            if values is None:
                return [None] * len(kept)
            return values if every else [values[i] for i in kept.tolist()]

        arrival_ms = arrival[kept]
        quarters, where = np.unique(arrival_ms // _QUARTER_MS, return_inverse=True)
        offsets = np.array([self._offset_ms(q * _QUARTER_MS) for q in quarters.tolist()])
        local_ms = arrival_ms + offsets[where]
        has_departure, has_seen = has_departure[kept], has_seen[kept]
        departure_kept = departure[kept]
        waits = np.where(has_seen, (seen[kept] - arrival_ms) / MS_PER_MIN, np.nan)
        stays = np.where(has_departure, (departure_kept - arrival_ms) / MS_PER_MIN, np.nan)
        diagnosis, specialty = pick(batch.diagnosis), pick(batch.specialty)
        keys = list(zip(diagnosis, pick(batch.diagnosis_system), specialty, strict=True))
        counted = Counter(keys)
        classes = {key: self._classify_key(key, n) for key, n in counted.items()}
        pathologies, specialties, codes, systems = zip(*map(classes.__getitem__, keys), strict=True)
        unmapped: Counter[tuple[str, str | None]] = Counter()  # for a first import's totals
        for key, n in counted.items():
            _, specialty_idx, code, system = classes[key]
            if specialty_idx == self.unknown and code is not None:
                unmapped[code, system] += n
        visit_keys, pseudonyms = self._keys(
            pick(batch.visit_id),
            pick(batch.patient_id),
            arrival_ms.tolist(),
            _or_none(departure_kept, has_departure),
            diagnosis,
            specialty,
        )
        ages = _ages(pick(batch.age_years), pick(batch.birth_date), local_ms)
        pseudonym = self.pseudo.pseudonym
        sexes = _each(pick(batch.sex), lambda sex: sex[:1].upper() if sex else None)
        areas = _each(pick(batch.postcode), lambda code: area_of(code) if code else None)
        doctors = _each(
            pick(batch.doctor_id), lambda doctor: pseudonym("doctor", doctor) if doctor else None
        )
        dispositions = _each(pick(batch.disposition), lambda d: None if d is None else int(d))
        arrays = {
            "arrival_ms": arrival_ms,
            "arrival_local_ms": local_ms,
            "departure_ms": np.where(has_departure, departure_kept, np.iinfo(np.int64).min),
            "specialty_idx": np.array(specialties, dtype=np.int64),
            "pathology_idx": _int_array(pathologies),
            "wait_min": waits,
            "los_min": stays,
            "disposition": _int_array(dispositions),
        }
        values: list[Sequence[Any]] = [
            (),  # run_id and patient_no: given when the rows are made (``_Columns.rows``)
            (),
            pseudonyms,
            pathologies,
            codes,
            specialties,
            pick(batch.acuity),
            arrays["arrival_ms"].tolist(),
            local_ms.tolist(),
            _or_none(departure_kept, has_departure),
            _or_none(waits, has_seen),
            _or_none(stays, has_departure),
            dispositions,
            visit_keys,
            systems,
            ages,
            sexes,
            areas,
            doctors,
        ]
        return _Columns(self.run_id, values, arrays, late, unmapped)

    def _keys(
        self,
        visit_ids: list[str | None],
        patient_ids: list[str | None],
        arrivals: list[int],
        departures: list[int | None],
        diagnoses: list[str | None],
        specialties: list[str | None],
    ) -> tuple[list[str], list[str]]:
        """Visit keys and patient pseudonyms of a batch's rows, as ``row`` makes them.

        Why a loop of its own: one keyed hash per visit is most of a batch's cost;
        a visit id of every row (the usual extract) goes through
        ``Pseudonymiser.pseudonyms`` in one call, a patient once per distinct id.
        """
        pseudonym = self.pseudo.pseudonym
        if all(visit_ids):
            keys = self.pseudo.pseudonyms("visit", visit_ids)  # type: ignore[arg-type]  # all set
        else:
            keys = []
            for visit_id, patient_id, arrived, departed, code, named in zip(
                visit_ids, patient_ids, arrivals, departures, diagnoses, specialties, strict=True
            ):
                if visit_id:
                    keys.append(pseudonym("visit", visit_id))
                elif patient_id:
                    keys.append(pseudonym("content", f"{patient_id}|{arrived}"))
                else:
                    keys.append(pseudonym("content", f"|{arrived}|{departed}|{code}|{named}"))
        patients = self._patients
        unknown = [p for p in dict.fromkeys(patient_ids) if p and p not in patients]
        found = dict(zip(unknown, self.pseudo.pseudonyms("patient", unknown), strict=True))
        if len(patients) < 1_000_000:
            patients.update(found)
        found_get, patients_get = found.get, patients.get
        pseudonyms = [
            (found_get(p) or patients_get(p)) if p else key
            for p, key in zip(patient_ids, keys, strict=True)
        ]
        return keys, pseudonyms  # type: ignore[return-value]  # a patient id always has one

    def _offset_ms(self, utc_ms: int) -> int:
        """The zone's UTC offset at an instant, cached per quarter hour (when zones change)."""
        slot = utc_ms // _QUARTER_MS
        offset = self._offsets.get(slot)
        if offset is None:
            moment = datetime.fromtimestamp(slot * _QUARTER_MS / 1000, self.zone)
            offset = int(moment.utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]  # aware: never None
            self._offsets[slot] = offset
        return offset

    def _check(
        self, arrival_ms: int, departure_ms: int | None, seen_ms: int | None
    ) -> tuple[str, str, str] | None:
        if self.latest_ms is not None and arrival_ms > self.latest_ms:
            return "future_date", "arrival", "arrival is in the future"
        if departure_ms is not None:
            if departure_ms < arrival_ms:
                return "departure_before_arrival", "departure", "departure is before arrival"
            if departure_ms - arrival_ms > MAX_STAY_HOURS * MS_PER_HOUR:
                hours = (departure_ms - arrival_ms) / MS_PER_HOUR
                return (
                    "implausible_stay",
                    "departure",
                    f"a stay of {hours:.0f} h (over {MAX_STAY_HOURS} h)",
                )
        if seen_ms is not None and (
            seen_ms < arrival_ms or (departure_ms is not None and seen_ms > departure_ms)
        ):
            return "seen_outside_stay", "first_seen", "first seen outside the stay"
        return None

    def _classify(self, record: VisitRecord) -> tuple[int | None, int, str | None, str | None]:
        """Pathology index, specialty index, stored code and its system (memoised per
        distinct code and specialty: an extract repeats a few hundred of them)."""
        return self._classify_key((record.diagnosis, record.diagnosis_system, record.specialty))

    def _classify_key(
        self, key: tuple[str | None, str | None, str | None], visits: int = 1
    ) -> tuple[int | None, int, str | None, str | None]:
        """``_classify`` of (diagnosis, system, specialty), counted ``visits`` times."""
        known = self._classified.get(key)
        if known is None:
            known = self._classify_new(*key)
            if len(self._classified) < 100_000:  # bounded: a file of random codes
                self._classified[key] = known
        result, how, unmapped = known
        if how is not None:
            self.mapped_by[how] += visits
        if unmapped is not None:
            self.unmapped[unmapped] += visits
        return result

    def _classify_new(
        self, diagnosis: str | None, diagnosis_system: str | None, specialty: str | None
    ) -> tuple[tuple[int | None, int, str | None, str | None], str | None, str | None]:
        pathology_idx: int | None = None
        specialty_idx: int | None = None
        code = system = how = unmapped = None
        if diagnosis:
            system = diagnosis_system or ICD10
            match = self.diagnoses.lookup(diagnosis, system)
            code, how = match.code, match.how
            if match.how == BY_CODE and match.pathology in self.pathologies:
                pathology_idx, specialty_idx = self.pathologies[match.pathology]
            elif match.how == BY_CHAPTER and match.specialty in self.specialty_idx:
                specialty_idx = self.specialty_idx[match.specialty]
            else:
                unmapped = f"{'ICD-9 ' if system == ICD9 else ''}{code}"
        if specialty:
            named = specialty.strip()[:64]
            if named not in self.specialty_idx:
                self.specialty_idx[named] = sites.add_specialty(self.connection, self.run_id, named)
            specialty_idx = self.specialty_idx[named]
        if specialty_idx is None:
            specialty_idx = self.unknown
        return (pathology_idx, specialty_idx, code, system), how, unmapped


def import_items(
    engine: Engine,
    site: str | int,
    items: Iterable[Item],
    *,
    format: str,
    files: Sequence[str] = (),
    actor: str = "cli",
    diagnosis_map: DiagnosisMap | None = None,
    allow_future: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import ``items`` into ``site``'s observed run, atomically; return what happened."""
    started = time.perf_counter()
    with engine.connect() as connection:
        site_row = sites.get_site(connection, site)
    key = load_key(site_row["name"])
    summary = ImportSummary(site=site_row["name"], format=format, files=[*files], actor=actor)
    started_ms = now_ms()
    try:
        with _no_cycle_collection(), engine.begin() as connection:
            _run_import(
                connection,
                site_row,
                items,
                summary,
                Pseudonymiser(key),
                diagnosis_map or load_diagnosis_map(),
                allow_future,
                progress,
                started_ms,
            )
    except BaseException as error:
        summary.status = "failed"
        summary.error = f"{type(error).__name__}: {error}"[:500]
        summary.seconds = round(time.perf_counter() - started, 3)
        if isinstance(error, Exception):
            _record_failure(engine, site_row["id"], summary, actor, started_ms)
        raise
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector during an import.

    Why: an import keeps up to millions of rows alive (a block being read, a
    first import's rows), and each full collection walks them all; measured on
    a 450k-row RPU extract, reading took twice the CPU time with the collector
    on. An import makes no reference cycles worth collecting meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_import(
    connection: Connection,
    site: dict[str, Any],
    items: Iterable[Item],
    summary: ImportSummary,
    pseudonymiser: Pseudonymiser,
    diagnoses: DiagnosisMap,
    allow_future: bool,
    progress: Callable[[int], None] | None,
    started_ms: int,
) -> None:
    run_id = sites.observed_run(connection, site)
    summary.run_id = run_id
    # first, before any visit row: the run's counter, locked until commit (the lock order
    # of every writer of the run; ``store.patient_numbers`` says why)
    next_patient = patient_numbers.lock_next(connection, run_id)
    visits = _Visits(connection, run_id, site["timezone"], pseudonymiser, diagnoses, allow_future)
    quarantine = _Quarantine(site["id"])
    counts: dict[int, int] = {}
    # a run's first import keeps its rows until the end (``_Pending``); later ones look up
    pending = _Pending(visits.unknown) if next_patient == 1 else None
    written: set[str] | None = None
    if pending is None and connection.dialect.name == "postgresql":
        # fresh statistics, so the visit-key look-ups use ix_visits_key rather than
        # scanning the run (inside the transaction, as the import's own rows)
        connection.exec_driver_sql("ANALYZE visits")
    chunk: list[tuple[Any, ...]] = []
    first = last = None
    for item in items:
        if isinstance(item, VisitRecord | VisitBatch):
            taken = False  # a first import's batch kept whole (``_Pending.extend``)
            if isinstance(item, VisitRecord):
                summary.read += 1
                row = visits.row(item)
                if isinstance(row, Rejection):
                    quarantine.add(row, visits.rejected_day_ms)  # its arrival's local day
                    continue
                chunk.append(row)
                low = high = row[7]
            else:
                summary.read += len(item)
                batch = visits.columns(item, quarantine)
                taken = pending is not None and len(batch) > 0 and pending.takes(batch)
                if taken:
                    if chunk:  # first, in file order: the rows before the batch
                        next_patient = _write_chunk(
                            connection, run_id, chunk, summary, next_patient, written, pending
                        )
                    next_patient = pending.extend(batch, summary, next_patient)
                    chunk = [*batch.late]
                else:
                    chunk += batch.rows()
                times = [row[7] for row in batch.late]
                if len(batch):
                    arrivals = batch.arrays["arrival_ms"]
                    times += [int(arrivals.min()), int(arrivals.max())]
                if not times:
                    continue
                low, high = min(times), max(times)
            first = low if first is None or low < first else first
            last = high if last is None or high > last else last
            if len(chunk) >= CHUNK or taken:
                if chunk:
                    next_patient = _write_chunk(
                        connection, run_id, chunk, summary, next_patient, written, pending
                    )
                    chunk = []
                if pending is not None and len(pending) >= PENDING_MAX:
                    written = pending.flush(connection)  # memory bound: look up from now on
                    pending = None
                if progress is not None:
                    progress(summary.read)
        elif isinstance(item, Rejection):
            summary.read += 1
            quarantine.add(item)
        elif isinstance(item, HourlyCount):
            summary.read += 1
            hour_ms = _ms(item.hour_start)
            counts[hour_ms] = counts.get(hour_ms, 0) + item.arrivals
    if chunk:
        next_patient = _write_chunk(
            connection, run_id, chunk, summary, next_patient, written, pending
        )
    span: tuple[Any, ...] | None = None
    totals: dict[str, Any] | None = None
    measures: dict[str, np.ndarray] | None = None
    if pending is not None:  # the run holds this import's rows only: count them here
        span, totals = pending.span(), pending.totals()
        measures = pending.measures()
        pending.flush(connection)
    if progress is not None:
        progress(summary.read)
    if counts:
        _write_counts(connection, run_id, site["timezone"], counts)
        summary.hours = len(counts)
    summary.quarantined = len(quarantine.rows)
    summary.by_reason = dict(quarantine.by_reason.most_common())
    summary.unmapped_codes = dict(visits.unmapped.most_common(50))
    summary.mapped_by = dict(visits.mapped_by)
    tz = site["timezone"]
    if first is not None and last is not None:
        summary.first_arrival = datetime.fromtimestamp(first / 1000, ZoneInfo(tz)).isoformat()
        summary.last_arrival = datetime.fromtimestamp(last / 1000, ZoneInfo(tz)).isoformat()
    if measures is not None:
        rollups.from_rows(connection, run_id, measures)
    else:
        rollups.from_visits(connection, run_id)
    if counts or _has_counts(connection, run_id):
        _rollups_from_counts(connection, run_id)
    _update_run(connection, run_id, next_patient, span)
    # for the Data quality page
    summary.site_totals = totals if totals is not None else run_totals(connection, run_id)
    batch_id = _insert_batch(connection, site["id"], summary, "complete", started_ms)
    summary.batch_id = batch_id
    quarantine.rows = [(r[0], batch_id, *r[2:]) for r in quarantine.rows]
    insert_rows(connection, "quarantine", QUARANTINE_COLUMNS, quarantine.rows)
    sites.audit(
        connection,
        summary.actor,
        "import",
        f"site:{site['name']}",
        summary.imported + summary.updated,
        {"batch_id": batch_id, "format": summary.format, "quarantined": summary.quarantined},
    )


def _write_chunk(
    connection: Connection,
    run_id: int,
    rows: list[tuple[Any, ...]],
    summary: ImportSummary,
    next_patient: int,
    written: set[str] | None,
    pending: _Pending | None = None,
) -> int:
    """Insert new visits, update changed ones, count identical ones; return the next number.

    ``pending`` is given on a run's first import: new rows are kept there (and
    a repeated key is compared with the kept row) until the import ends.
    ``written`` is given after such an import had to flush its rows early:
    only those keys can exist, the others need no look-up.
    """
    latest: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        if row[_KEY] in latest:
            summary.duplicates += 1  # twice in one extract: the later row wins
        latest[row[_KEY]] = row
    if pending is not None:
        return pending.add(latest, summary, next_patient)
    v = schema.visits
    existing: dict[str, tuple[Any, ...]] = {}
    keys = list(latest) if written is None else [k for k in latest if k in written]
    for start in range(0, len(keys), 900):
        part = keys[start : start + 900]
        result = connection.execute(
            sa.select(v.c.id, *[v.c[name] for name in VISIT_COLUMNS[2:]]).where(
                v.c.run_id == run_id, v.c.visit_key.in_(part)
            )
        )
        for found in result:
            existing[found[_KEY - 1]] = tuple(found)
    new: list[tuple[Any, ...]] = []
    changed: list[dict[str, Any]] = []
    for key, row in latest.items():
        stored = existing.get(key)
        if stored is None:
            new.append((row[0], next_patient, *row[2:]))
            next_patient += 1
        elif tuple(stored[1:]) == row[_CONTENT]:
            summary.duplicates += 1
        else:
            changed.append(
                {"b_id": stored[0], **dict(zip(VISIT_COLUMNS[2:], row[_CONTENT], strict=True))}
            )
    insert_rows(connection, "visits", VISIT_COLUMNS, new)
    if changed:
        connection.execute(
            v.update()
            .where(v.c.id == sa.bindparam("b_id"))
            .values({name: sa.bindparam(name) for name in VISIT_COLUMNS[2:]}),
            changed,
        )
    summary.imported += len(new)
    summary.updated += len(changed)
    return next_patient


class _Pending:
    """The visit rows of a run's first import, written at its end.

    Why: nothing else is in the run, so repeated keys are found here (no
    query), the run's span and the Data quality totals are counted from the
    rows (no scan of what was just written), and the rows go to the table in
    one bulk insert, with the table's indexes rebuilt afterwards on SQLite
    when the import outweighs the table (sorting an index once is several
    times cheaper than a million B-tree insertions at random places).

    Not inserted on a thread of its own while the next rows are parsed: tried,
    and no faster on this shared 2-core machine (1M RPU rows at a load of 3-5:
    the same CPU time, wall times within the noise), so not worth a second
    thread in the transaction.
    """

    def __init__(self, unknown: int) -> None:
        self.unknown = unknown  # the specialty of unmapped codes (Data quality totals)
        self.keys: set[str] = set()  # every kept row's visit key
        # the kept rows in order of arrival: whole batches (``extend``) as their columns,
        # rows added one by one (``add``, or a batch a correction turned into rows) as tuples
        self.segments: list[_Kept | list[tuple[Any, ...]]] = []
        self._where: dict[str, tuple[int, int]] | None = None  # key -> (segment, position)

    def __len__(self) -> int:
        return len(self.keys)

    def takes(self, batch: _Columns) -> bool:
        """Whether every row of ``batch`` is new: no key twice in it, none kept already."""
        keys = batch.keys
        distinct = set(keys)
        return len(distinct) == len(keys) and distinct.isdisjoint(self.keys)

    def extend(self, batch: _Columns, summary: ImportSummary, next_patient: int) -> int:
        """Keep the rows of a batch that ``takes`` as they are (numbered from
        ``next_patient``); the next patient number. ``batch.late`` is not kept here."""
        n = len(batch)
        self.keys.update(batch.keys)
        if self._where is not None:
            at = len(self.segments)
            self._where.update((key, (at, i)) for i, key in enumerate(batch.keys))
        self.segments.append(_Kept(batch, next_patient))
        summary.imported += n
        return next_patient + n

    def add(
        self, latest: dict[str, tuple[Any, ...]], summary: ImportSummary, next_patient: int
    ) -> int:
        """``_write_chunk`` against the kept rows; the next patient number."""
        imported = 0
        for key, row in latest.items():
            if key not in self.keys:
                tail = self.segments[-1] if self.segments else None
                if not isinstance(tail, list):
                    tail = []
                    self.segments.append(tail)
                if self._where is not None:
                    self._where[key] = (len(self.segments) - 1, len(tail))
                tail.append((row[0], next_patient, *row[2:]))
                self.keys.add(key)
                next_patient += 1
                imported += 1
                continue
            segment, position = self.where()[key]
            rows = self._rows_of(segment)
            stored = rows[position]
            if stored[_CONTENT] == row[_CONTENT]:
                summary.duplicates += 1
            else:  # a correction of a row kept earlier: same number, new content
                rows[position] = (*stored[:2], *row[_CONTENT])
                summary.updated += 1
        summary.imported += imported
        return next_patient

    def where(self) -> dict[str, tuple[int, int]]:
        """Key -> (segment, position) of every kept row (made on the first repeated key)."""
        if self._where is None:
            self._where = {}
            for at, segment in enumerate(self.segments):
                keys = segment.batch.keys if isinstance(segment, _Kept) else _keys_of(segment)
                self._where.update((key, (at, i)) for i, key in enumerate(keys))
        return self._where

    def _rows_of(self, at: int) -> list[tuple[Any, ...]]:
        """Segment ``at`` as tuples (a batch is made into rows, to be corrected)."""
        segment = self.segments[at]
        if isinstance(segment, _Kept):
            segment = self.segments[at] = segment.rows()
        return segment

    def _parts(self) -> list[dict[str, np.ndarray]]:
        """The ``_Columns.arrays`` of every segment (of tuples: made here)."""
        return [
            s.batch.arrays if isinstance(s, _Kept) else _measures(s) for s in self.segments
        ] or [_measures([])]

    def _arrays(self) -> dict[str, np.ndarray]:
        """Every kept row's ``measures`` columns, in order."""
        parts = self._parts()
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def span(self) -> tuple[int | None, int | None, int | None, int]:
        """(first arrival, last arrival, last departure, visits), as ``_update_run`` reads."""
        if not self.keys:
            return None, None, None, 0
        arrays = self._arrays()
        arrivals, departures = arrays["arrival_ms"], arrays["departure_ms"]
        departures = departures[departures != _NO_TIME]
        last = int(departures.max()) if len(departures) else None
        return int(arrivals.min()), int(arrivals.max()), last, len(self.keys)

    def totals(self, limit: int = 50) -> dict[str, Any]:
        """What ``quality.run_totals`` would answer for a run holding these rows only."""
        total = len(self.keys)
        missing: Counter[str] = Counter()
        unmapped: Counter[tuple[str, str | None]] = Counter()
        for segment in self.segments:
            if isinstance(segment, _Kept):
                values = segment.batch.values
                cells = {at: values[at] for at in (4, 6, 15)}
                unmapped.update(segment.batch.unmapped)
            else:
                cells = {at: list(map(itemgetter(at), segment)) for at in (4, 6, 15)}
                unmapped.update(
                    (row[4], row[14])
                    for row in segment
                    if row[5] == self.unknown and row[4] is not None
                )
            for name, at in (("diagnosis", 4), ("acuity", 6), ("age", 15)):
                missing[name] += cells[at].count(None)
        for part in self._parts():
            missing["first_seen"] += int(np.isnan(part["wait_min"]).sum())
            missing["departure"] += int((part["departure_ms"] == _NO_TIME).sum())
            missing["disposition"] += int((part["disposition"] == -1).sum())
        names = ("first_seen", "departure", "acuity", "disposition", "diagnosis", "age")
        return {
            "visits": total,
            "unmapped_codes": [
                {"code": code, "system": system or "icd10", "visits": n}
                for (code, system), n in unmapped.most_common(limit)
            ],
            "completeness": {
                name: (round((total - missing[name]) / total, 4) if total else None)
                for name in names
            },
        }

    def measures(self) -> dict[str, np.ndarray]:
        """The columns ``rollups.from_rows`` groups (None as -1 or NaN)."""
        arrays = self._arrays()
        del arrays["departure_ms"]
        return arrays

    def flush(self, connection: Connection) -> set[str]:
        """Write the kept rows; their keys (for later look-ups)."""
        rebuild = connection.dialect.name == "sqlite" and len(self) >= _largest_id(connection)
        indexes = _drop_indexes(connection, "visits") if rebuild else []
        for segment in self.segments:
            if isinstance(segment, _Kept):
                insert_columns(connection, "visits", VISIT_COLUMNS, segment.columns())
            else:
                insert_rows(connection, "visits", VISIT_COLUMNS, segment)
        if indexes:  # SQLite's sorter may use every core for them
            threads = connection.exec_driver_sql("PRAGMA threads").scalar()
            connection.exec_driver_sql(f"PRAGMA threads = {os.cpu_count() or 1}")
            for sql in indexes:
                connection.exec_driver_sql(sql)
            connection.exec_driver_sql(f"PRAGMA threads = {int(threads or 0)}")
        keys, self.keys, self.segments, self._where = self.keys, set(), [], None
        return keys


@dataclass
class _Kept:
    """A batch a first import keeps whole: its columns and its first patient number."""

    batch: _Columns
    first: int

    def columns(self) -> list[Sequence[Any]]:
        """Every field, ``VISIT_COLUMNS`` order (run and patient number included)."""
        n = len(self.batch)
        return [[self.batch.run_id] * n, range(self.first, self.first + n), *self.batch.values[2:]]

    def rows(self) -> list[tuple[Any, ...]]:
        return self.batch.rows(range(self.first, self.first + len(self.batch)))[: len(self.batch)]


def _keys_of(rows: list[tuple[Any, ...]]) -> list[str]:
    return list(map(itemgetter(_KEY), rows))


_NO_TIME = np.iinfo(np.int64).min  # an absent departure in a NumPy column


def _measures(rows: list[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    """``_Columns.arrays`` of visit rows (None as -1, NaN or ``_NO_TIME``)."""

    def column(at: int, kind: type, missing: Any = None) -> np.ndarray:
        values = list(map(itemgetter(at), rows))
        if missing is None:
            return np.array(values, dtype=kind)
        floats = np.array(values, dtype=np.float64)  # None -> NaN
        return floats if kind is np.float64 else np.nan_to_num(floats, nan=missing).astype(kind)

    if not rows:
        return {name: np.zeros(0, dtype=kind) for name, kind in _MEASURES}
    departures = np.array([_NO_TIME if d is None else d for d in map(itemgetter(9), rows)])
    return {
        "arrival_ms": column(7, np.int64),
        "arrival_local_ms": column(8, np.int64),
        "departure_ms": departures.astype(np.int64),
        "specialty_idx": column(5, np.int64),
        "pathology_idx": column(3, np.int64, -1),
        "wait_min": column(10, np.float64, np.nan),
        "los_min": column(11, np.float64, np.nan),
        "disposition": column(12, np.int64, -1),
    }


_MEASURES = (
    ("arrival_ms", np.int64),
    ("arrival_local_ms", np.int64),
    ("departure_ms", np.int64),
    ("specialty_idx", np.int64),
    ("pathology_idx", np.int64),
    ("wait_min", np.float64),
    ("los_min", np.float64),
    ("disposition", np.int64),
)


PENDING_MAX = 2_000_000  # visit rows a first import keeps in memory (about 1 GB) at most


def _largest_id(connection: Connection) -> int:
    """The visits table's largest row id: how many rows it holds at most, at no cost."""
    return int(connection.execute(sa.select(sa.func.max(schema.visits.c.id))).scalar() or 0)


def _drop_indexes(connection: Connection, table: str) -> list[str]:
    """Drop ``table``'s indexes (SQLite, inside the transaction); the SQL that makes them again.

    Read from the database, not from ``schema``, so exactly what was there comes
    back; a rollback (or a killed process) restores them with everything else.
    """
    found = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    ).all()
    for name, _sql in found:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _name, sql in found]


def _write_counts(connection: Connection, run_id: int, timezone: str, counts: dict[int, int]):
    """Replace the stored hours that this import gives (a corrected extract wins)."""
    zone = ZoneInfo(timezone)
    t = schema.hourly_counts
    hours = sorted(counts)
    for start in range(0, len(hours), 900):
        part = hours[start : start + 900]
        connection.execute(t.delete().where(t.c.run_id == run_id, t.c.hour_ms.in_(part)))
    rows = []
    for hour_ms in hours:
        moment = datetime.fromtimestamp(hour_ms / 1000, zone)
        offset = int(moment.utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]  # aware: never None
        rows.append((run_id, hour_ms, hour_ms + offset, counts[hour_ms]))
    insert_rows(
        connection, "hourly_counts", ("run_id", "hour_ms", "hour_local_ms", "arrivals"), rows
    )


def _has_counts(connection: Connection, run_id: int) -> bool:
    t = schema.hourly_counts
    return (
        connection.execute(sa.select(t.c.run_id).where(t.c.run_id == run_id).limit(1)).first()
        is not None
    )


def _rollups_from_counts(connection: Connection, run_id: int) -> None:
    """A counts-only site's hourly rollup: arrivals per hour, specialty ``unknown``."""
    unknown = _index(connection, schema.specialties, run_id)[sites.UNKNOWN_SPECIALTY]
    t, h = schema.hourly_counts, schema.hourly_specialty
    connection.execute(h.delete().where(h.c.run_id == run_id, h.c.specialty_idx == unknown))
    connection.execute(
        h.insert().from_select(
            [
                "run_id",
                "hour_ms",
                "specialty_idx",
                "hour_local_ms",
                "arrivals",
                "treated",
                "left_without_being_seen",
                "wait_sum_min",
                "los_sum_min",
            ],
            sa.select(
                t.c.run_id,
                t.c.hour_ms,
                sa.literal(unknown),
                t.c.hour_local_ms,
                t.c.arrivals,
                sa.literal(0),
                sa.literal(0),
                sa.literal(0.0),
                sa.literal(0.0),
            ).where(t.c.run_id == run_id),
        )
    )


def _update_run(
    connection: Connection, run_id: int, next_patient: int, span: tuple[Any, ...] | None = None
) -> None:
    """The observed run's span, size and next patient number after the import
    (``span``: counted already)."""
    v, c = schema.visits, schema.hourly_counts
    first, last_arrival, last_departure, n = (
        span
        or connection.execute(
            sa.select(
                sa.func.min(v.c.arrival_ms),
                sa.func.max(v.c.arrival_ms),
                sa.func.max(v.c.departure_ms),
                sa.func.count(),
            ).where(v.c.run_id == run_id)
        ).one()
    )
    count_first, count_last = connection.execute(
        sa.select(sa.func.min(c.c.hour_ms), sa.func.max(c.c.hour_ms)).where(c.c.run_id == run_id)
    ).one()
    starts = [x for x in (first, count_first) if x is not None]
    ends = [x for x in (last_arrival, last_departure) if x is not None]
    if count_last is not None:
        ends.append(count_last + MS_PER_HOUR)
    values: dict[str, Any] = {
        "visits_count": n,
        "finished_at_ms": now_ms(),
        "next_patient_no": next_patient,
    }
    if starts:
        values["start_utc_ms"] = min(starts)
        values["end_utc_ms"] = max(ends) if ends else min(starts)
    connection.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(values))


def _insert_batch(
    connection: Connection, site_id: int, summary: ImportSummary, status: str, started_ms: int
) -> int:
    return int(
        connection.execute(
            schema.import_batches.insert()
            .values(
                site_id=site_id,
                format=summary.format,
                files=summary.files,
                actor=summary.actor,
                started_at_ms=started_ms,
                finished_at_ms=now_ms(),
                status=status,
                summary=summary.as_dict(),
            )
            .returning(schema.import_batches.c.id)
        ).scalar_one()
    )


def _record_failure(
    engine: Engine, site_id: int, summary: ImportSummary, actor: str, started_ms: int
) -> None:
    """Leave a trace of a failed import (its data were rolled back)."""
    try:
        with engine.begin() as connection:
            summary.batch_id = _insert_batch(connection, site_id, summary, "failed", started_ms)
            sites.audit(connection, actor, "import_failed", f"site:{summary.site}", 0)
    except Exception:  # noqa: BLE001 - the original error matters more than this trace
        pass


def _index(connection: Connection, table: sa.Table, run_id: int) -> dict[str, int]:
    rows = connection.execute(sa.select(table.c.code, table.c.idx).where(table.c.run_id == run_id))
    return {code: int(idx) for code, idx in rows}


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch (sources are precise to the minute, at best the ms)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime in a visit record")
    return round(moment.timestamp() * 1000)


_UTC = ZoneInfo("UTC")
_EPOCH_DATE = date(1970, 1, 1)
_QUARTER_MS = 900_000


def _describe(record: VisitRecord) -> str:
    """What the quarantine may keep of a visit: times, codes, never identifiers."""
    parts = {
        "arrival": record.arrival.isoformat(),
        "first_seen": record.first_seen.isoformat() if record.first_seen else "",
        "departure": record.departure.isoformat() if record.departure else "",
        "diagnosis": record.diagnosis or "",
        "disposition": record.disposition.name.lower() if record.disposition else "",
        "acuity": "" if record.acuity is None else str(record.acuity),
    }
    return "; ".join(f"{k}={v}" for k, v in parts.items())


def _each(values: Sequence[Any], convert: Callable[[Any], Any]) -> list[Any]:
    """``convert`` of every value, computed once per distinct value (the rows are then
    mapped through a ``dict`` in C: no Python step per row)."""
    table = {value: convert(value) for value in set(values)}
    return list(map(table.__getitem__, values))


def _or_none(values: np.ndarray, present: np.ndarray) -> list[Any]:
    """``values`` as Python numbers, ``None`` where not ``present``."""
    if present.all():
        return values.tolist()
    out = values.astype(object)
    out[~present] = None
    return out.tolist()


def _int_array(values: Sequence[int | None]) -> np.ndarray:
    """Integers (``None`` as -1), as ``rollups.from_rows`` takes them."""
    return np.fromiter((-1 if v is None else v for v in values), dtype=np.int64, count=len(values))


def _ages(
    given: list[int | None], births: list[date | None], local_ms: np.ndarray
) -> list[int | None]:
    """Each visit's age (``age_at`` of its birth date on its local arrival day, else the
    given age), ``None`` outside 0-130; vectorised as yyyymmdd differences (which
    ``age_at`` equals: whole years, less one before the birthday)."""
    born = np.array(
        _each(births, lambda b: -1 if b is None else b.year * 10_000 + b.month * 100 + b.day),
        dtype=np.int64,
    )
    has = born >= 0
    days = (local_ms // MS_PER_DAY).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    arrived = (
        years * 10_000
        + (months.astype(np.int64) % 12 + 1) * 100
        + (days - months.astype("datetime64[D]")).astype(np.int64)
        + 1
    )
    computed = (arrived - born) // 10_000
    ages = _or_none(computed, has & (computed >= 0) & (computed <= 130))
    if given.count(None) == len(given):  # no source age (the usual case)
        return ages
    return [
        age if b else (g if g is not None and 0 <= g <= 130 else None)
        for age, b, g in zip(ages, has.tolist(), given, strict=True)
    ]
