"""``StoreSink``: the simulator's records into the store, fast and all-or-nothing per batch.

Each ``write_*`` call is validated as a whole with NumPy (time never goes
back, indices exist) and refused with a ``SinkError`` before anything of it
is buffered. Buffered rows are handed, ``batch_size`` rows at a time, to a
bounded queue; one writer thread per sink owns the database connection and
writes each batch in one transaction with ``executemany`` of plain tuples
(``COPY`` on PostgreSQL). SQLite and psycopg release the GIL while they
work, so a year's inserts overlap with the simulation on a second core.

A batch the database refuses is rolled back whole, every earlier batch
stays; the error is raised in the caller's thread by the next ``write_*``,
``flush`` or ``close`` and the run cannot end ``complete``. ``flush`` returns
once everything handed over is committed. The run's status becomes
``complete`` in the same transaction as its rollups, after every batch, so
readers never mistake half a run for a finished one.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.catalog.models import Catalog
from hospiflow.errors import SinkError
from hospiflow.simulation.events import (
    Disposition,
    EventKind,
    EventRow,
    RunInfo,
    SnapshotRow,
    VisitRow,
)
from hospiflow.store import rollups, schema
from hospiflow.store.engine import create_engine_for
from hospiflow.store.migrate import current_revision, ensure_current, init
from hospiflow.store.runs import HEARTBEAT_SECONDS, claim_interrupted, this_writer
from hospiflow.store.timeconv import Clock, now_ms, to_ms
from hospiflow.store.writer import insert_rows

log = logging.getLogger("hospiflow.store")

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
# what the simulator writes: the visit columns plus the patient flow's (NULL without it)
SIMULATED_VISIT_COLUMNS = (*VISIT_COLUMNS, "acuity", "age_years", "bed_request_ms")
RESOURCE_COLUMNS = (
    "run_id",
    "time_ms",
    "local_ms",
    "resource",
    "idx",
    "name",
    "capacity",
    "in_use",
    "queue",
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
    "visits": SIMULATED_VISIT_COLUMNS,
    "treatments": TREATMENT_COLUMNS,
    "resource_snapshots": RESOURCE_COLUMNS,
}
_COUNT_COLUMN = {
    "events": "events_count",
    "state_snapshots": "snapshots_count",
    "visits": "visits_count",
    "treatments": "treatments_count",
}
_KINDS = np.array(sorted(int(k) for k in EventKind))
QUEUE_BATCHES = 3
"""Batches waiting for the writer thread at most; ``write_*`` blocks when the queue is full."""
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
    ``progress`` is called with the number of rows committed so far (in the
    caller's thread, from ``write_*``, ``flush`` and ``close``); ``on_open``
    with the run id once the run is committed (status ``running``).

    Rows are committed by a writer thread that ``open`` starts and ``close``
    joins; ``close`` must be called (the ``Sink`` protocol does). A database
    error in that thread comes back as a ``SinkError`` from the next
    ``write_*``, ``flush`` or ``close(result)``; ``close(None)``, the failure
    path, does not raise it over the caller's own error but records it in
    the run's ``error``.
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
        on_open: Callable[[int], None] | None = None,
        continues_run: int | None = None,
        resume_run: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise SinkError(f"batch_size must be ≥ 1, got {batch_size}", where="StoreSink")
        if kind not in schema.RUN_KINDS:
            raise SinkError(f"kind must be one of {schema.RUN_KINDS}, got {kind!r}", where="kind")
        self._owns_engine = not isinstance(url_or_engine, Engine)
        self.engine = (
            url_or_engine if isinstance(url_or_engine, Engine) else create_engine_for(url_or_engine)
        )
        self.catalog = catalog
        self.batch_size = batch_size
        self.progress = progress
        self.kind = kind
        self.label = label
        self.wants_events = wants_events
        self.on_open = on_open
        self.continues_run = continues_run
        self.resume_run = resume_run
        self.resumed_minute: float | None = None  # resume_run's clock once open() claimed it
        self.run_id: int | None = None
        self._writer: _Writer | None = None
        self._pending: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _TABLES}
        self._pending_rows = 0
        self._reported_rows = 0
        self._last_event_min = -math.inf
        self._last_snapshot_min = -math.inf
        self._closed = False

    # -- Sink protocol -------------------------------------------------------------

    def open(self, run: RunInfo) -> None:
        """Create the run (status ``running``) and its catalog, committed at once.

        With ``resume_run`` the sink instead takes over that interrupted live
        run (``store.runs.claim_interrupted``): ``running`` again under this
        process's lease; ``resumed_minute`` is then its clock, and the caller
        must hand over only the records from there on.
        """
        if self._writer is not None or self._closed:
            raise SinkError("the sink is already open", where="StoreSink.open")
        self._prepare_schema()
        self.run = run
        self._n_specialties = len(run.specialties)
        self._n_pathologies = len(run.pathologies)
        self._n_doctors = len(run.doctors)
        self._icd10 = [self._pathology(code).icd10 for code in run.pathologies]
        self.clock = Clock(run.start_utc, run.timezone, run.days)
        connection = self.engine.connect()
        try:
            with connection.begin():
                if self.resume_run is None:
                    self.run_id = self._insert_run(connection, run)
                else:
                    self.resumed_minute = claim_interrupted(
                        connection, self.resume_run, this_writer()
                    )
                    self.run_id = self.resume_run
                    if self.resumed_minute is not None:
                        self._last_event_min = self._last_snapshot_min = self.resumed_minute
            # From here on the writer thread alone uses the connection.
            self._writer = _Writer(connection, self.run_id, self)
        except BaseException:
            connection.close()
            raise
        if self.on_open is not None:
            self.on_open(self.run_id)

    def write_events(self, events: Sequence[EventRow]) -> None:
        """Validate and buffer a batch of the full trace."""
        if not events:
            return
        self._check_open("write_events")
        self._report()
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
        self._hand_over_full("write_events")

    def write_snapshots(self, snapshots: Sequence[SnapshotRow]) -> None:
        """Validate and buffer a batch of per-specialty state samples."""
        if not snapshots:
            return
        self._check_open("write_snapshots")
        self._report()
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
        self._hand_over_full("write_snapshots")

    def write_resources(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Validate and buffer the flow's resource states.

        Rows are ``(time, "space" | "ward", index, capacity, in use, queue)``
        (``engine._resources``); names come from the run's ``[flow]`` parameters.
        """
        if not rows:
            return
        self._check_open("write_resources")
        t, resource, idx, capacity, in_use, queue = _columns(rows, 6)
        flow = self.run.parameters.get("flow", {})
        names = {
            "space": [a.get("name", "") for a in flow.get("areas", [])],
            "ward": [w.get("name", "") for w in flow.get("wards", [])],
        }
        for i, (kind, k) in enumerate(zip(resource, idx, strict=True)):
            if kind not in names or not 0 <= k < len(names[kind]):
                raise SinkError(
                    f"resource {kind!r} #{k} is not an area or ward of the run",
                    where=f"StoreSink.write_resources[{i}]",
                )
        counts = np.asarray([capacity, in_use, queue])
        if counts.size and counts.min() < 0:
            raise SinkError("a resource snapshot has a negative count", where="write_resources")
        utc = self.clock.utc_ms(np.asarray(t, dtype=np.float64))
        self._buffer(
            "resource_snapshots",
            list(
                zip(
                    repeat(self.run_id),
                    utc.tolist(),
                    self.clock.local_ms(utc).tolist(),
                    resource,
                    idx,
                    [names[kind][k] for kind, k in zip(resource, idx, strict=True)],
                    capacity,
                    in_use,
                    queue,
                    strict=False,
                )
            ),
        )
        self._hand_over_full("write_resources")

    def write_visits(self, visits: Sequence[VisitRow]) -> None:
        """Validate and buffer finished visits, and the treatments among them."""
        if not visits:
            return
        run_id = self._check_open("write_visits")
        self._report()
        (patient, pathology, specialty, doctor, arrival, start, end, departure, disposition) = (
            _columns(visits, 9)
        )
        n = len(visits)
        if len(visits[0]) >= 12:  # the patient flow's visits: acuity, age, bed request
            acuity, age, bed_request = _columns([v[9:12] for v in visits], 3)
            acuity_cells: list[Any] = _nullable(acuity)
            age_cells: list[Any] = _nullable(age)
            bed = np.asarray(bed_request, dtype=np.float64)
            asked = ~np.isnan(bed)
            bed_cells: list[Any] = [
                ms if ok else None
                for ms, ok in zip(
                    self.clock.utc_ms(np.where(asked, bed, 0.0)).tolist(), asked, strict=True
                )
            ]
        else:
            acuity_cells = age_cells = bed_cells = [None] * n
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
        icd10 = self._icd10
        visit_rows = zip(
            repeat(run_id),
            patient,
            [pseudonym(run_id, p) for p in patient],
            pathology,
            [icd10[p] for p in pathology],
            specialty,
            arrival_ms.tolist(),
            clock.local_ms(arrival_ms).tolist(),
            clock.utc_ms(d).tolist(),
            np.where(seen, wait, np.nan).tolist(),
            (d - a).tolist(),
            disposition,
            acuity_cells,
            age_cells,
            bed_cells,
            strict=False,
        )
        # NaN (not seen) is stored as NULL.
        visit_list = [
            row if row[9] == row[9] else (*row[:9], None, *row[10:]) for row in visit_rows
        ]
        self._buffer("visits", visit_list)
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
            self._buffer("treatments", list(treat_rows))
        self._hand_over_full("write_visits")

    def close(self, result: Any | None) -> None:
        """Finish the run: ``complete`` with its rollups if ``result`` is given, else ``failed``.

        A ``SimulationResult`` gives the simulator's own aggregates (the
        numbers of its CSV reports); any other non-None result (an importer's
        summary) gives the aggregates SQL derives from the visits. Either way
        every batch handed over is committed first; the rollups and the
        status go in the last transaction. If a batch was refused, the run
        ends ``failed`` and ``close(result)`` raises the ``SinkError``.
        The writer thread is joined and the connection closed in every case.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._writer is None:
                return
            if result is None:
                self._fail("the run did not finish")
            else:
                self._complete(result)
        finally:
            if self._writer is not None:
                self._writer.stop()
                self._writer.connection.close()
                self._writer = None
            if self._owns_engine:
                self.engine.dispose()

    # -- writing --------------------------------------------------------------------

    def flush(self) -> None:
        """Hand the buffered rows over and return once all rows handed over are committed.

        Raises the ``SinkError`` of a batch the database refused (that batch
        was rolled back whole; earlier ones stay).
        """
        self._check_open("flush")
        self._hand_over("flush")
        self._drain()
        self._report()

    def checkpoint(self, minute: float) -> None:
        """Hand the buffered rows over with the run's clock, in one transaction (live mode).

        The engine has handed over every record before ``minute`` (run
        minutes); committing them together with ``runs.clock_min`` is what
        lets a crashed live run be resumed exactly. Does not wait for the
        commit; nothing buffered, nothing written (an older clock is as exact:
        no record lies between the two).
        """
        self._check_open("checkpoint")
        self._report()
        if not self._pending_rows:
            return
        run_id = self.run_id

        def stamp(connection: Connection) -> None:
            runs = schema.runs
            connection.execute(
                runs.update().where(runs.c.id == run_id).values(clock_min=float(minute))
            )

        self._hand_over("checkpoint", stamp)

    def _buffer(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        self._pending[table].extend(rows)
        self._pending_rows += len(rows)

    def _hand_over_full(self, where: str) -> None:
        if self._pending_rows >= self.batch_size:
            self._hand_over(where)

    def _hand_over(self, where: str, finish: Callable[[Connection], None] | None = None) -> None:
        """Queue the buffered rows (and ``finish``, run last in the same transaction)."""
        if not self._pending_rows and finish is None:
            return
        assert self._writer is not None
        batch = _Batch(self._pending, self._pending_rows, finish, where)
        self._pending = {name: [] for name in _TABLES}
        self._pending_rows = 0
        self._writer.submit(batch)

    def _drain(self) -> None:
        assert self._writer is not None
        self._writer.wait()

    def _report(self) -> None:
        """Raise the first error of the writer thread, if any; report progress."""
        assert self._writer is not None
        errors = self._writer.take_errors()
        if errors:
            raise errors[0]
        committed = self._writer.committed_rows
        if self.progress is not None and committed != self._reported_rows:
            self._reported_rows = committed
            self.progress(committed)

    def _complete(self, result: Any) -> None:
        run_id = self.run_id
        assert self._writer is not None and run_id is not None
        self._hand_over("close")  # committed while the rollups are computed
        try:
            write_rollups = rollups.prepare(run_id, result)
        except BaseException as error:
            self._fail(f"the rollups could not be computed: {error}")
            raise
        self._drain()
        errors = self._writer.take_errors()
        if self._writer.refusal is not None:
            self._fail(f"a batch was lost: {self._writer.refusal}")
            if errors:
                raise errors[0]
            raise SinkError(
                f"run {self.run_id} lost a batch the database refused, so it cannot be "
                "complete; it is marked failed",
                where="StoreSink.close",
            )

        def finish(connection: Connection) -> None:
            write_rollups(connection)
            self._set_status(connection, "complete", None)

        self._hand_over("close", finish)
        self._drain()
        errors = self._writer.take_errors()
        if errors:
            self._fail(f"the last transaction was refused: {errors[0]}")
            raise errors[0]
        self._report()

    def _fail(self, reason: str) -> None:
        """Commit what was accepted (keep what was produced before the failure), mark failed."""
        assert self._writer is not None
        self._hand_over("close")
        self._drain()
        errors = self._writer.take_errors()  # recorded, not raised over the caller's error
        if errors:
            reason = f"{reason}; {errors[0]}"

        def finish(connection: Connection) -> None:
            self._set_status(connection, "failed", reason)

        self._hand_over("close", finish)
        self._drain()
        errors = self._writer.take_errors()
        if errors:  # not even the status could be written
            raise errors[0]

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
                writer=this_writer(),
                continues_run=self.continues_run,
                heartbeat_ms=now_ms(),
                parameters=_jsonable(run.parameters),
                seed=run.seed,
                timezone=run.timezone,
                start_utc_ms=start_ms,
                end_utc_ms=(
                    to_ms(run.end_utc)
                    if run.end_utc is not None
                    else start_ms + int(round(run.days * 86_400_000))
                ),
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

    def _check_open(self, where: str) -> int:
        """The open run's id; a ``SinkError`` before ``open`` or after ``close``."""
        if self._writer is None or self._closed or self.run_id is None:
            raise SinkError("the sink is not open", where=f"StoreSink.{where}")
        return self.run_id

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


@dataclass
class _Batch:
    """Rows for the writer thread: one transaction, with ``finish`` run last inside it."""

    rows: dict[str, list[tuple[Any, ...]]]
    n_rows: int
    finish: Callable[[Connection], None] | None
    where: str


_STOP = object()
LOCK_RETRY_SECONDS = 300.0
"""How long a batch keeps retrying while another process holds the database's write lock."""


def _is_lock(error: sa.exc.OperationalError) -> bool:
    """Whether the database refused only because another transaction holds a lock."""
    text = str(error.orig).lower()
    state = getattr(error.orig, "sqlstate", None)
    return (
        "database is locked" in text
        or "database is busy" in text
        or state
        in (
            "55P03",  # lock_not_available
            "40P01",  # deadlock_detected
            "40001",  # serialization_failure
        )
    )


class _Writer:
    """The thread that owns a sink's connection and commits its batches, in order.

    It holds no reference to its sink (only a weak one): a sink dropped
    without ``close`` lets the thread give the connection back and end.
    ``submitted``/``done`` count batches; ``wait`` blocks until they meet.
    """

    def __init__(self, connection: Connection, run_id: int, owner: StoreSink) -> None:
        self.connection = connection
        self.run_id = run_id
        self.queue: queue.Queue[Any] = queue.Queue(QUEUE_BATCHES)
        self.changed = threading.Condition()
        self.submitted = 0
        self.done = 0
        self.committed_rows = 0
        self.errors: list[BaseException] = []
        self.refusal: str | None = None  # the first batch lost: the run cannot be complete
        self.last_beat = time.monotonic()
        self.thread = threading.Thread(
            target=self._run,
            args=(weakref.ref(owner),),
            name=f"hospiflow-store-writer-{run_id}",
            daemon=True,  # a safety net only: close() joins it
        )
        self.thread.start()

    def submit(self, batch: _Batch) -> None:
        with self.changed:
            self.submitted += 1
        self._put(batch)

    def _put(self, item: Any) -> None:
        while True:
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self._check_alive()

    def wait(self) -> None:
        """Until every batch submitted so far is committed or refused."""
        with self.changed:
            while self.done < self.submitted:
                self._check_alive()
                self.changed.wait(0.5)

    def take_errors(self) -> list[BaseException]:
        with self.changed:
            errors, self.errors = self.errors, []
        return errors

    def stop(self) -> None:
        """Let the thread write what it was given, end, and join it."""
        if self.thread.is_alive():
            try:
                self._put(_STOP)
            except SinkError:
                pass
            self.thread.join()

    def _check_alive(self) -> None:
        if not self.thread.is_alive():
            raise SinkError(
                f"the writer thread of run {self.run_id} has stopped", where="StoreSink"
            )

    def _run(self, owner: weakref.ref[StoreSink]) -> None:
        while True:
            try:
                item = self.queue.get(timeout=1.0)
            except queue.Empty:
                if owner() is None:  # dropped without close(): the run stays 'running'
                    self.connection.close()
                    return
                self._heartbeat()
                continue
            if item is _STOP:
                return
            try:
                self._write_retrying(item)
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                refusal = self._refusal(error, item.where)
                with self.changed:
                    self.errors.append(refusal)
                    self.refusal = self.refusal or str(refusal)
            else:
                with self.changed:
                    self.committed_rows += item.n_rows
            finally:
                with self.changed:
                    self.done += 1
                    self.changed.notify_all()

    def _heartbeat(self) -> None:
        """Renew the run's lease while no batch comes (a busy database: next time)."""
        if time.monotonic() - self.last_beat < HEARTBEAT_SECONDS:
            return
        runs = schema.runs
        try:
            with self.connection.begin():
                self.connection.execute(
                    runs.update()
                    .where(runs.c.id == self.run_id, runs.c.status == "running")
                    .values(heartbeat_ms=now_ms())
                )
        except sa.exc.OperationalError:
            return  # locked now; the lease outlasts several missed beats
        self.last_beat = time.monotonic()

    def _write_retrying(self, batch: _Batch) -> None:
        """``_write``, retried with backoff while another process holds the write lock.

        One lock held longer than ``busy_timeout`` (a long ``BEGIN EXCLUSIVE``,
        a backup) used to kill a live run for good; the batch is rolled back
        whole each time, so a retry writes it exactly once.
        """
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        pause = 0.25
        while True:
            try:
                self._write(batch)
                return
            except sa.exc.OperationalError as error:
                if not _is_lock(error) or time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "run %s: the database is locked; batch retried in %.2g s", self.run_id, pause
                )
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _write(self, batch: _Batch) -> None:
        connection = self.connection
        self.last_beat = time.monotonic()
        with connection.begin():  # rolled back whole on any error
            counts: dict[str, int] = {}
            for name, rows in batch.rows.items():
                if rows:
                    insert_rows(connection, name, _TABLES[name], rows)
                    if name in _COUNT_COLUMN:
                        counts[_COUNT_COLUMN[name]] = len(rows)
            if counts:
                runs = schema.runs
                connection.execute(
                    runs.update()
                    .where(runs.c.id == self.run_id)
                    .values(
                        {
                            **{runs.c[k]: runs.c[k] + v for k, v in counts.items()},
                            runs.c.heartbeat_ms: now_ms(),
                        }
                    )
                )
            if batch.finish is not None:
                batch.finish(connection)

    def _refusal(self, error: BaseException, where: str) -> BaseException:
        if not isinstance(error, sa.exc.DBAPIError):
            return error  # not the database's doing: raised as it is
        refusal = SinkError(
            f"the database refused a batch of run {self.run_id}: {error.orig}; "
            "the batch was rolled back, earlier batches are kept",
            where=f"StoreSink.{where}",
        )
        refusal.__cause__ = error
        return refusal


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
