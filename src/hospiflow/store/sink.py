"""``StoreSink``: the simulator's records into the store, fast and all-or-nothing per batch.

Each ``write_*`` call is validated as a whole with NumPy (time never goes
back, indices exist) and refused with a ``SinkError`` before anything of it
is buffered. Buffered rows are written in one transaction per batch with
``executemany`` of plain tuples (``COPY`` on PostgreSQL); a batch the
database refuses is rolled back, every earlier batch stays. The run's status
becomes ``complete`` in the same transaction as its last rows and rollups, so
readers never mistake half a run for a finished one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.catalog.models import Catalog
from hospiflow.errors import SinkError
from hospiflow.simulation.events import Disposition, Event, EventKind, RunInfo, Snapshot, Visit
from hospiflow.store import rollups, schema
from hospiflow.store.engine import create_engine_for
from hospiflow.store.migrate import current_revision, ensure_current, init
from hospiflow.store.timeconv import Clock, now_ms, to_ms
from hospiflow.store.writer import insert_rows

EVENT_COLUMNS = (
    "run_id",
    "time_ms",
    "kind",
    "patient_no",
    "pathology_idx",
    "specialty_idx",
    "doctor_idx",
)
SNAPSHOT_COLUMNS = (
    "run_id",
    "time_ms",
    "local_ms",
    "specialty_idx",
    "waiting",
    "in_treatment",
    "doctors_on_duty",
    "doctors_busy",
)
VISIT_COLUMNS = (
    "run_id",
    "patient_no",
    "pseudonym",
    "pathology_idx",
    "icd10",
    "specialty_idx",
    "arrival_ms",
    "arrival_local_ms",
    "departure_ms",
    "wait_min",
    "los_min",
    "disposition",
)
TREATMENT_COLUMNS = (
    "run_id",
    "patient_no",
    "doctor_idx",
    "specialty_idx",
    "pathology_idx",
    "arrival_ms",
    "start_ms",
    "end_ms",
    "wait_min",
    "duration_min",
)
_TABLES = {
    "events": EVENT_COLUMNS,
    "state_snapshots": SNAPSHOT_COLUMNS,
    "visits": VISIT_COLUMNS,
    "treatments": TREATMENT_COLUMNS,
}
_COUNT_COLUMN = {
    "events": "events_count",
    "state_snapshots": "snapshots_count",
    "visits": "visits_count",
    "treatments": "treatments_count",
}
_KINDS = np.array(sorted(int(k) for k in EventKind))
_DISPOSITIONS = np.array(sorted(int(d) for d in Disposition))


def _nullable(values: Sequence[int]) -> list[int | None]:
    """The simulator's ``-1`` ("not applicable") as NULL."""
    return [v if v >= 0 else None for v in values]


def _columns(records: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Records as columns (list comprehensions beat ``zip(*records)`` on big batches)."""
    return [[r[i] for r in records] for i in range(width)]


def pseudonym(run_id: int, patient: int) -> str:
    """The pseudonym of a simulated patient: synthetic, so no secret is needed."""
    return f"sim-{run_id}-{patient}"


class StoreSink:
    """A ``Sink`` that writes one run into the store.

    ``url_or_engine``: a database URL (the sink owns and disposes its engine)
    or an ``Engine`` from ``create_engine_for`` (left open). ``catalog``
    supplies names and ICD-10 codes for the run's pathology codes.
    ``progress`` is called with the number of rows committed so far.
    """

    def __init__(
        self,
        url_or_engine: str | Engine,
        catalog: Catalog,
        batch_size: int = 50_000,
        progress: Callable[[int], None] | None = None,
        *,
        kind: str = "simulation",
        label: str = "",
        wants_events: bool = True,
    ) -> None:
        if batch_size < 1:
            raise SinkError(f"batch_size must be ≥ 1, got {batch_size}", where="StoreSink")
        if kind not in schema.RUN_KINDS:
            raise SinkError(f"kind must be one of {schema.RUN_KINDS}, got {kind!r}", where="kind")
        self._owns_engine = not isinstance(url_or_engine, Engine)
        self.engine: Engine = (
            create_engine_for(url_or_engine) if self._owns_engine else url_or_engine  # type: ignore[arg-type]
        )
        self.catalog = catalog
        self.batch_size = batch_size
        self.progress = progress
        self.kind = kind
        self.label = label
        self.wants_events = wants_events
        self.run_id: int | None = None
        self._connection: Connection | None = None
        self._pending: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _TABLES}
        self._pending_rows = 0
        self._in_flight = 0
        self._committed_rows = 0
        self._last_event_min = -math.inf
        self._last_snapshot_min = -math.inf
        self._closed = False

    # -- Sink protocol -------------------------------------------------------------

    def open(self, run: RunInfo) -> None:
        """Create the run (status ``running``) and its catalog, committed at once."""
        if self._connection is not None:
            raise SinkError("the sink is already open", where="StoreSink.open")
        self._prepare_schema()
        self.run = run
        self._n_specialties = len(run.specialties)
        self._n_pathologies = len(run.pathologies)
        self._n_doctors = len(run.doctors)
        self._icd10 = [self._pathology(code).icd10 for code in run.pathologies]
        self.clock = Clock(run.start_utc, run.timezone, run.days)
        self._connection = self.engine.connect()
        try:
            with self._connection.begin():
                self.run_id = self._insert_run(self._connection, run)
        except BaseException:
            self._connection.close()
            self._connection = None
            raise

    def write_events(self, events: Sequence[Event]) -> None:
        """Validate and buffer a batch of the full trace."""
        if not events:
            return
        self._check_open("write_events")
        t, kind, patient, pathology, specialty, doctor = _columns(events, 6)
        times = np.asarray(t, dtype=np.float64)
        self._check_times(times, self._last_event_min, "write_events")
        self._check_members(np.asarray(kind), _KINDS, "kind", "write_events")
        self._check_range(
            np.asarray(specialty), self._n_specialties, "specialty", "write_events", -1
        )
        self._check_range(
            np.asarray(pathology), self._n_pathologies, "pathology", "write_events", -1
        )
        self._check_range(np.asarray(doctor), self._n_doctors, "doctor", "write_events", -1)
        self._last_event_min = float(times[-1])
        rows = zip(
            repeat(self.run_id),
            self.clock.utc_ms(times).tolist(),
            kind,
            # Warm-up patients have negative numbers; shift events have no patient.
            [p if q >= 0 else None for p, q in zip(patient, pathology, strict=True)],
            _nullable(pathology),
            _nullable(specialty),
            _nullable(doctor),
            strict=False,
        )
        self._buffer("events", list(rows))

    def write_snapshots(self, snapshots: Sequence[Snapshot]) -> None:
        """Validate and buffer a batch of per-specialty state samples."""
        if not snapshots:
            return
        self._check_open("write_snapshots")
        t, specialty, waiting, in_treatment, on_duty, busy = _columns(snapshots, 6)
        times = np.asarray(t, dtype=np.float64)
        self._check_times(times, self._last_snapshot_min, "write_snapshots")
        self._check_range(
            np.asarray(specialty), self._n_specialties, "specialty", "write_snapshots"
        )
        counts = np.asarray([waiting, in_treatment, on_duty, busy])
        if counts.size and counts.min() < 0:
            raise SinkError("a snapshot has a negative count", where="StoreSink.write_snapshots")
        self._last_snapshot_min = float(times[-1])
        utc = self.clock.utc_ms(times)
        rows = zip(
            repeat(self.run_id),
            utc.tolist(),
            self.clock.local_ms(utc).tolist(),
            specialty,
            waiting,
            in_treatment,
            on_duty,
            busy,
            strict=False,
        )
        self._buffer("state_snapshots", list(rows))

    def write_visits(self, visits: Sequence[Visit]) -> None:
        """Validate and buffer finished visits, and the treatments among them."""
        if not visits:
            return
        self._check_open("write_visits")
        (patient, pathology, specialty, doctor, arrival, start, end, departure, disposition) = (
            _columns(visits, 9)
        )
        where = "write_visits"
        a = np.asarray(arrival, dtype=np.float64)
        s = np.asarray(start, dtype=np.float64)
        e = np.asarray(end, dtype=np.float64)
        d = np.asarray(departure, dtype=np.float64)
        doctors = np.asarray(doctor)
        self._check_range(np.asarray(pathology), self._n_pathologies, "pathology", where)
        self._check_range(np.asarray(specialty), self._n_specialties, "specialty", where)
        self._check_range(doctors, self._n_doctors, "doctor", where, -1)
        self._check_members(np.asarray(disposition), _DISPOSITIONS, "disposition", where)
        seen = doctors >= 0
        bad = ~np.isfinite(a) | ~np.isfinite(d) | (d < a)
        bad |= seen & ~((a <= s) & (s <= e) & (e <= d))
        if bad.any():
            i = int(np.argmax(bad))
            raise SinkError(
                f"visit of patient {patient[i]} has impossible times "
                f"(arrival {a[i]}, start {s[i]}, end {e[i]}, departure {d[i]} min)",
                where=f"StoreSink.{where}[{i}]",
            )
        clock = self.clock
        arrival_ms = clock.utc_ms(a)
        wait = s - a
        run_id = self.run_id
        icd10 = self._icd10
        visit_rows = zip(
            repeat(run_id),
            patient,
            [pseudonym(run_id, p) for p in patient],  # type: ignore[arg-type]
            pathology,
            [icd10[p] for p in pathology],
            specialty,
            arrival_ms.tolist(),
            clock.local_ms(arrival_ms).tolist(),
            clock.utc_ms(d).tolist(),
            np.where(seen, wait, np.nan).tolist(),
            (d - a).tolist(),
            disposition,
            strict=False,
        )
        # NaN (not seen) is stored as NULL.
        visit_list = [
            row if row[9] == row[9] else (*row[:9], None, *row[10:]) for row in visit_rows
        ]
        self._buffer("visits", visit_list, flush=False)
        if seen.any():
            idx = np.flatnonzero(seen)
            treat_rows = zip(
                repeat(run_id),
                np.asarray(patient)[idx].tolist(),
                doctors[idx].tolist(),
                np.asarray(specialty)[idx].tolist(),
                np.asarray(pathology)[idx].tolist(),
                arrival_ms[idx].tolist(),
                clock.utc_ms(s[idx]).tolist(),
                clock.utc_ms(e[idx]).tolist(),
                wait[idx].tolist(),
                (e[idx] - s[idx]).tolist(),
                strict=False,
            )
            self._buffer("treatments", list(treat_rows), flush=False)
        if self._pending_rows >= self.batch_size:
            self.flush()

    def close(self, result: Any | None) -> None:
        """Finish the run: ``complete`` with its rollups if ``result`` is given, else ``failed``.

        A ``SimulationResult`` gives the simulator's own aggregates (the
        numbers of its CSV reports); any other non-None result (an importer's
        summary) gives the aggregates SQL derives from the visits.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._connection is None:
                return
            if result is None:
                self._fail("the run did not finish")
            else:
                self._complete(result)
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._owns_engine:
                self.engine.dispose()

    # -- writing --------------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffered rows in one transaction (rolled back whole on error)."""
        self._check_open("flush")
        self._flush()

    def _flush(self) -> None:
        if self._pending_rows:
            assert self._connection is not None
            with self._transaction("flush"):
                self._write_pending(self._connection)

    def _write_pending(self, connection: Connection) -> None:
        # Taken out of the buffer first: a refused batch is dropped, not retried.
        pending, self._pending = self._pending, {name: [] for name in _TABLES}
        self._in_flight, self._pending_rows = self._pending_rows, 0
        counts: dict[str, int] = {}
        for name, rows in pending.items():
            if rows:
                insert_rows(connection, name, _TABLES[name], rows)
                counts[_COUNT_COLUMN[name]] = len(rows)
        if counts:
            runs = schema.runs
            connection.execute(
                runs.update()
                .where(runs.c.id == self.run_id)
                .values({runs.c[k]: runs.c[k] + v for k, v in counts.items()})
            )

    def _transaction(self, what: str) -> Any:
        return _Transaction(self, what)

    def _complete(self, result: Any) -> None:
        assert self._connection is not None
        with self._transaction("close"):
            self._write_pending(self._connection)
            rollups.rebuild(self._connection, self.run_id, result)  # type: ignore[arg-type]
            self._set_status(self._connection, "complete", None)
        if self.progress is not None:
            self.progress(self._committed_rows)

    def _fail(self, reason: str) -> None:
        assert self._connection is not None
        try:
            self._flush()  # keep what was produced before the failure
        except SinkError:
            pass
        with self._connection.begin():
            self._set_status(self._connection, "failed", reason)

    def _set_status(self, connection: Connection, status: str, error: str | None) -> None:
        runs = schema.runs
        connection.execute(
            runs.update()
            .where(runs.c.id == self.run_id)
            .values(status=status, finished_at_ms=now_ms(), error=error)
        )

    def _insert_run(self, connection: Connection, run: RunInfo) -> int:
        start_ms = to_ms(run.start_utc)
        run_id = connection.execute(
            schema.runs.insert()
            .values(
                kind=self.kind,
                label=self.label,
                status="running",
                parameters=_jsonable(run.parameters),
                seed=run.seed,
                timezone=run.timezone,
                start_utc_ms=start_ms,
                end_utc_ms=start_ms + int(round(run.days * 86_400_000)),
                snapshot_step_min=run.snapshot_step_min,
                created_at_ms=now_ms(),
            )
            .returning(schema.runs.c.id)
        ).scalar_one()
        specialty_index = {code: i for i, code in enumerate(run.specialties)}
        connection.execute(
            schema.specialties.insert(),
            [
                {"run_id": run_id, "idx": i, "code": code, "name": self._specialty_name(code)}
                for i, code in enumerate(run.specialties)
            ],
        )
        pathology_rows = []
        for i, code in enumerate(run.pathologies):
            p = self._pathology(code)
            if p.specialty not in specialty_index:
                raise SinkError(
                    f"pathology {code} belongs to specialty {p.specialty}, not in the run",
                    where="RunInfo.pathologies",
                )
            pathology_rows.append(
                {
                    "run_id": run_id,
                    "idx": i,
                    "code": code,
                    "name": p.name_en,
                    "icd10": p.icd10,
                    "specialty_idx": specialty_index[p.specialty],
                    "mean_treatment_min": p.mean_treatment_minutes,
                }
            )
        if pathology_rows:
            connection.execute(schema.pathologies.insert(), pathology_rows)
        doctor_rows = []
        for i, doctor in enumerate(run.doctors):
            if not 0 <= doctor.specialty < len(run.specialties):
                raise SinkError(
                    f"doctor {doctor.code} has unknown specialty index {doctor.specialty}",
                    where=f"RunInfo.doctors[{i}]",
                )
            doctor_rows.append(
                {
                    "run_id": run_id,
                    "idx": i,
                    "code": doctor.code,
                    "specialty_idx": doctor.specialty,
                    "shift": doctor.shift,
                }
            )
        if doctor_rows:
            connection.execute(schema.doctors.insert(), doctor_rows)
        return int(run_id)

    def _prepare_schema(self) -> None:
        """A brand-new database gets the schema; an outdated one is refused."""
        with self.engine.connect() as connection:
            revision = current_revision(connection)
            empty = not sa.inspect(connection).get_table_names()
        if revision is None and empty:
            init(self.engine)
        with self.engine.connect() as connection:
            ensure_current(connection)

    # -- validation -----------------------------------------------------------------

    def _specialty_name(self, code: str) -> str:
        try:
            return self.catalog.specialty(code).name_en
        except KeyError:
            raise SinkError(
                f"specialty {code!r} is not in the catalog ({self.catalog.source})",
                where="RunInfo.specialties",
            ) from None

    def _pathology(self, code: str) -> Any:
        try:
            return self.catalog.pathology(code)
        except KeyError:
            raise SinkError(
                f"pathology {code!r} is not in the catalog ({self.catalog.source})",
                where="RunInfo.pathologies",
            ) from None

    def _check_open(self, where: str) -> None:
        if self._connection is None or self._closed:
            raise SinkError("the sink is not open", where=f"StoreSink.{where}")

    def _buffer(self, table: str, rows: list[tuple[Any, ...]], *, flush: bool = True) -> None:
        self._pending[table].extend(rows)
        self._pending_rows += len(rows)
        if flush and self._pending_rows >= self.batch_size:
            self.flush()

    @staticmethod
    def _check_times(times: np.ndarray, previous: float, where: str) -> None:
        if not np.isfinite(times).all():
            i = int(np.argmax(~np.isfinite(times)))
            raise SinkError(f"record {i} has time {times[i]}", where=f"StoreSink.{where}[{i}]")
        steps = np.diff(times, prepend=previous)
        if (steps < 0).any():
            i = int(np.argmax(steps < 0))
            before = previous if i == 0 else times[i - 1]
            raise SinkError(
                f"time goes backwards: record {i} at {times[i]} min comes after {before} min",
                where=f"StoreSink.{where}[{i}]",
            )

    @staticmethod
    def _check_range(values: np.ndarray, size: int, name: str, where: str, low: int = 0) -> None:
        bad = (values < low) | (values >= size)
        if bad.any():
            i = int(np.argmax(bad))
            raise SinkError(
                f"unknown {name} index {int(values[i])} (the run has {size})",
                where=f"StoreSink.{where}[{i}]",
            )

    @staticmethod
    def _check_members(values: np.ndarray, allowed: np.ndarray, name: str, where: str) -> None:
        bad = ~np.isin(values, allowed)
        if bad.any():
            i = int(np.argmax(bad))
            raise SinkError(f"unknown {name} {values[i].item()!r}", where=f"StoreSink.{where}[{i}]")


class _Transaction:
    """One write transaction of the sink: a database error rolls it back as a ``SinkError``."""

    def __init__(self, sink: StoreSink, what: str) -> None:
        self.sink = sink
        self.what = what

    def __enter__(self) -> None:
        assert self.sink._connection is not None
        self._transaction = self.sink._connection.begin()

    def __exit__(self, kind: Any, error: Any, _tb: Any) -> bool:
        sink = self.sink
        if error is None:
            self._transaction.commit()
            sink._committed_rows += sink._in_flight
            sink._in_flight = 0
            if sink.progress is not None and self.what == "flush":
                sink.progress(sink._committed_rows)
            return False
        self._transaction.rollback()
        sink._in_flight = 0
        if isinstance(error, sa.exc.DBAPIError):
            raise SinkError(
                f"the database refused a batch of run {sink.run_id}: {error.orig}; "
                "the batch was rolled back, earlier batches are kept",
                where=f"StoreSink.{self.what}",
            ) from error
        return False


def _jsonable(value: Any) -> Any:
    """Parameters as JSON: tuples to lists, dates and other objects to strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)
