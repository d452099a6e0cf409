"""A stored run's visits back out as ``VisitRecord``s, and into any writable format.

``hospiflow export --run N --format rpu|fhir|hl7|csv|mimic-ed`` writes a
simulated (or imported) run in the formats hospitals use: the examples for
newcomers and the round-trip tests (simulate -> export -> import gives the
same visits). Identifiers written are the store's pseudonyms, never raw ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.ingest.formats import IngestError, WriteOptions, writer
from hospiflow.records import ICD9, Disposition, VisitRecord
from hospiflow.store import schema, sites
from hospiflow.store.queries import run as run_row

_UTC = ZoneInfo("UTC")
_SEX_CODES = ("F", "M", "U")


def visit_records(
    connection: Connection, run_id: int, batch: int = 20_000
) -> Iterator[VisitRecord]:
    """Every visit of the run in arrival order, as the importers yield them.

    Simulated visits get ``visit_id`` "<run>-<patient number>" and their
    pathology's ICD-10 code; observed ones keep their stored pseudonyms.
    """
    run = run_row(connection, run_id)
    zone = ZoneInfo(run["timezone"])
    v, p, s = schema.visits, schema.pathologies, schema.specialties
    icd = dict(connection.execute(sa.select(p.c.idx, p.c.icd10).where(p.c.run_id == run_id)).all())
    specialty = dict(
        connection.execute(sa.select(s.c.idx, s.c.code).where(s.c.run_id == run_id)).all()
    )
    columns = (
        v.c.id,
        v.c.patient_no,
        v.c.pseudonym,
        v.c.pathology_idx,
        v.c.icd10,
        v.c.specialty_idx,
        v.c.acuity,
        v.c.arrival_ms,
        v.c.departure_ms,
        v.c.wait_min,
        v.c.disposition,
        v.c.visit_key,
        v.c.diagnosis_system,
        v.c.age_years,
        v.c.sex,
        v.c.doctor_key,
    )
    after: tuple[int, int] = (-(2**62), 0)
    while True:
        rows = connection.execute(
            sa.select(*columns)
            .where(v.c.run_id == run_id, sa.tuple_(v.c.arrival_ms, v.c.id) > after)
            .order_by(v.c.arrival_ms, v.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _record(row, run_id, zone, icd, specialty)
        after = (rows[-1].arrival_ms, rows[-1].id)


def _record(row, run_id: int, zone: ZoneInfo, icd: dict, specialty: dict) -> VisitRecord:
    arrival = datetime.fromtimestamp(row.arrival_ms / 1000, _UTC).astimezone(zone)
    departure = (
        datetime.fromtimestamp(row.departure_ms / 1000, _UTC).astimezone(zone)
        if row.departure_ms is not None
        else None
    )
    code = row.icd10 or icd.get(row.pathology_idx)
    named = specialty.get(row.specialty_idx)
    return VisitRecord(
        arrival=arrival,
        source=f"run {run_id}",
        visit_id=row.visit_key or f"{run_id}-{row.patient_no}",
        patient_id=row.pseudonym,
        first_seen=arrival + timedelta(minutes=row.wait_min) if row.wait_min is not None else None,
        departure=departure,
        acuity=row.acuity,
        disposition=Disposition(row.disposition) if row.disposition is not None else None,
        diagnosis=code,
        diagnosis_system=row.diagnosis_system if row.diagnosis_system == ICD9 else None,
        specialty=named if named and named != sites.UNKNOWN_SPECIALTY else None,
        doctor_id=row.doctor_key,
        age_years=row.age_years,
        sex=row.sex if row.sex in _SEX_CODES else None,
    )


def export_run(
    engine: Engine,
    run_id: int,
    format: str,
    out: Path | IO[str],
    *,
    site_code: str | None = None,
    actor: str = "cli",
) -> int:
    """Write run ``run_id`` in ``format`` to ``out``; record it in the audit log."""
    write = writer(format)
    with engine.connect() as connection:
        run = run_row(connection, run_id)
        options = WriteOptions(timezone=run["timezone"], site_code=site_code)
        if isinstance(out, Path):
            try:
                handle = out.open("w", encoding="utf-8", newline="")
            except OSError as error:
                raise IngestError(f"cannot write: {error.strerror}", where=str(out)) from error
            with handle:
                written = write(visit_records(connection, run_id), handle, options)
        else:
            written = write(visit_records(connection, run_id), out, options)
    with engine.begin() as connection:
        sites.audit(connection, actor, "export", f"run:{run_id}", written, {"format": format})
    return written
