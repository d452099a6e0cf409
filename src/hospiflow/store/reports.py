"""The five CSV reports of a run, rebuilt from the store.

``report_csv(connection, run_id, name)`` returns the text of one report;
``iter_report_csv`` yields it in chunks (what an HTTP response streams).
For a simulation run the text is byte-identical to the file the simulator
wrote (``hospiflow simulate --out``): the rollup tables hold the simulator's
raw aggregates and the cells are formatted by the simulator's own functions
(``simulation.reports``: rounding, empty cells, ISO 8601 local times with
their offset). ``treatments.csv`` is read from the ``treatments`` table.

Names are the file names of ``REPORT_FILES`` (``hourly_detail.csv``...),
with or without ``.csv``. The run must be ``complete`` (its rollups are
written in its last transaction). For runs that are not simulations the
reports hold what the store knows: columns SQL cannot derive (time-averaged
state, percentiles) are empty, and ``performance_metrics.csv`` has no rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import NotFoundError, StoreError
from hospiflow.simulation import reports as fmt
from hospiflow.store import queries, schema
from hospiflow.store.timeconv import MS_PER_DAY, Clock, from_ms

REPORT_FILES = fmt.REPORT_FILES
CHUNK_ROWS = 20_000
"""Rows formatted per yielded chunk of ``iter_report_csv``."""


def report_name(name: str) -> str:
    """The canonical file name of a report (``hourly_detail`` -> ``hourly_detail.csv``)."""
    full = name if name.endswith(".csv") else f"{name}.csv"
    if full not in REPORT_FILES:
        raise NotFoundError(
            f"no report {name!r}; reports are {', '.join(REPORT_FILES)}", where="name", name=name
        )
    return full


def report_csv(connection: Connection, run_id: int, name: str) -> str:
    """The whole text of report ``name`` of run ``run_id`` (see ``iter_report_csv``)."""
    return "".join(iter_report_csv(connection, run_id, name))


def iter_report_csv(
    connection: Connection, run_id: int, name: str, chunk_rows: int = CHUNK_ROWS
) -> Iterator[str]:
    """Report ``name`` of run ``run_id`` as chunks of CSV text (header in the first).

    Raises ``NotFoundError`` for an unknown run or report name and
    ``StoreError`` when the run is not complete. The checks run before the
    first chunk is asked for, so an HTTP handler can turn them into an error
    response before it starts streaming.
    """
    full = report_name(name)
    run = queries.run(connection, run_id)
    if run["status"] != "complete":
        raise StoreError(
            f"run {run_id} is {run['status']}: its reports exist once it is complete",
            where="run_id",
            run_id=run_id,
        )
    return _chunks(connection, run, full, chunk_rows)


def _chunks(
    connection: Connection, run: dict[str, Any], name: str, chunk_rows: int
) -> Iterator[str]:
    build, stmt = _REPORTS[name]
    catalog = _Catalog(connection, run["id"])
    header: Sequence[str] | None = fmt.HEADERS[name]
    result = connection.execute(stmt.where(stmt.selected_columns[0] == run["id"]))
    clock = None
    if name == "treatments.csv":
        days = (run["end_utc_ms"] - run["start_utc_ms"]) / MS_PER_DAY
        clock = Clock(from_ms(run["start_utc_ms"]), run["timezone"], days)
    empty = True
    for rows in result.partitions(chunk_rows):
        empty = False
        columns = [list(c) for c in zip(*rows, strict=True)]
        buffer = io.StringIO()
        fmt.write_csv(buffer, header, build(columns, catalog, clock))
        header = None
        yield buffer.getvalue()
    if empty:
        buffer = io.StringIO()
        fmt.write_csv(buffer, header, [[] for _ in fmt.HEADERS[name]])
        yield buffer.getvalue()


class _Catalog:
    """The run's codes by index (specialties, pathologies, doctors): small tables."""

    def __init__(self, connection: Connection, run_id: int) -> None:
        def codes(table: sa.Table, *columns: str) -> list[tuple[Any, ...]]:
            stmt = (
                sa.select(*[table.c[c] for c in columns])
                .where(table.c.run_id == run_id)
                .order_by(table.c.idx)
            )
            return [tuple(row) for row in connection.execute(stmt)]

        self.specialty = [code for (code,) in codes(schema.specialties, "code")]
        paths = codes(schema.pathologies, "code", "icd10", "specialty_idx")
        self.pathology = [p[0] for p in paths]
        self.icd10 = [p[1] for p in paths]
        self.pathology_specialty = [self.specialty[p[2]] for p in paths]
        self.doctor = [code for (code,) in codes(schema.doctors, "code")]


def _labels(local_ms: list[int], unit: Literal["D", "M"]) -> list[str]:
    moments = (
        np.asarray(local_ms, dtype=np.int64).astype("datetime64[ms]").astype(f"datetime64[{unit}]")
    )
    labels: list[str] = np.datetime_as_string(moments, unit=unit).tolist()
    return labels


def _pick(codes: list[str], indices: list[int]) -> list[str]:
    return [codes[i] for i in indices]


def _hourly(columns: list[list[Any]], catalog: _Catalog, _clock: Any) -> list[list[Any]]:
    _, hour_ms, spec, hour_local_ms, arrivals, waiting, busy, duty, mean_wait, lwbs = columns
    utc = np.asarray(hour_ms, dtype=np.int64)
    offsets = (np.asarray(hour_local_ms, dtype=np.int64) - utc) // 60_000
    return fmt.hourly_detail_columns(
        fmt.iso_local(utc // 1000, offsets),
        _pick(catalog.specialty, spec),
        arrivals,
        waiting,
        busy,
        duty,
        mean_wait,
        lwbs,
    )


def _daily(columns: list[list[Any]], catalog: _Catalog, _clock: Any) -> list[list[Any]]:
    _, day, path, arrivals, treated, lwbs, mean_wait, p90, mean_treatment = columns
    return fmt.daily_pathology_columns(
        _labels(day, "D"),
        _pick(catalog.pathology, path),
        _pick(catalog.icd10, path),
        _pick(catalog.pathology_specialty, path),
        arrivals,
        treated,
        lwbs,
        mean_wait,
        p90,
        mean_treatment,
    )


def _treatments(columns: list[list[Any]], catalog: _Catalog, clock: Clock) -> list[list[Any]]:
    _, patient, path, spec, doctor, arrival, start, end, wait, duration = columns

    def times(ms: list[int]) -> list[str]:
        utc = np.asarray(ms, dtype=np.int64)
        return fmt.iso_local(utc // 1000, (clock.local_ms(utc) - utc) // 60_000)

    return fmt.treatment_columns(
        [fmt.patient_pseudonym(n) for n in patient],
        _pick(catalog.pathology, path),
        _pick(catalog.icd10, path),
        _pick(catalog.specialty, spec),
        _pick(catalog.doctor, doctor),
        times(arrival),
        times(start),
        times(end),
        wait,
        duration,
    )


def _monthly(columns: list[list[Any]], catalog: _Catalog, _clock: Any) -> list[list[Any]]:
    _, month, spec, *values = columns
    return fmt.monthly_summary_columns(_labels(month, "M"), _pick(catalog.specialty, spec), *values)


def _metrics(columns: list[list[Any]], _catalog: _Catalog, _clock: Any) -> list[list[Any]]:
    return fmt.performance_metrics_columns(*columns[1:])


h = schema.hourly_specialty
d = schema.daily_pathology
t = schema.treatments
m = schema.monthly_specialty
k = schema.performance_metrics
Build = Callable[[list[list[Any]], _Catalog, Any], list[list[Any]]]
_REPORTS: dict[str, tuple[Build, sa.Select[Any]]] = {
    "hourly_detail.csv": (
        _hourly,
        sa.select(
            h.c.run_id,
            h.c.hour_ms,
            h.c.specialty_idx,
            h.c.hour_local_ms,
            h.c.arrivals,
            h.c.waiting,
            h.c.in_treatment,
            h.c.doctors_on_duty,
            h.c.mean_wait_min,
            h.c.left_without_being_seen,
        ).order_by(h.c.hour_ms, h.c.specialty_idx),
    ),
    "daily_pathology_stats.csv": (
        _daily,
        sa.select(
            d.c.run_id,
            d.c.day_local_ms,
            d.c.pathology_idx,
            d.c.arrivals,
            d.c.treated,
            d.c.left_without_being_seen,
            d.c.mean_wait_min,
            d.c.p90_wait_min,
            d.c.mean_treatment_min,
        ).order_by(d.c.day_local_ms, d.c.pathology_idx),
    ),
    "treatments.csv": (
        _treatments,
        sa.select(
            t.c.run_id,
            t.c.patient_no,
            t.c.pathology_idx,
            t.c.specialty_idx,
            t.c.doctor_idx,
            t.c.arrival_ms,
            t.c.start_ms,
            t.c.end_ms,
            t.c.wait_min,
            t.c.duration_min,
        ).order_by(t.c.patient_no),
    ),
    "monthly_summary.csv": (
        _monthly,
        sa.select(
            m.c.run_id,
            m.c.month_local_ms,
            m.c.specialty_idx,
            m.c.arrivals,
            m.c.treated,
            m.c.left_without_being_seen,
            m.c.mean_wait_min,
            m.c.p50_wait_min,
            m.c.p90_wait_min,
            m.c.mean_treatment_min,
            m.c.mean_waiting,
            m.c.doctor_hours,
            m.c.busy_hours,
        ).order_by(m.c.month_local_ms, m.c.specialty_idx),
    ),
    "performance_metrics.csv": (
        _metrics,
        sa.select(
            k.c.run_id,
            k.c.metric,
            k.c.scope,
            k.c.value,
            k.c.unit,
            k.c.ci95_low,
            k.c.ci95_high,
            k.c.replications,
        ).order_by(k.c.position),
    ),
}
