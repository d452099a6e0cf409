"""What a site's data hold and lack: imports, quarantine by reason and day, unmapped codes.

One place for the Data quality page, ``hospiflow site show`` and the API, so
they all say the same thing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.store import schema
from hospiflow.store.sites import UNKNOWN_SPECIALTY
from hospiflow.store.sqlfuncs import floor_to

MS_PER_DAY = 86_400_000


def site_quality(connection: Connection, site_id: int, *, limit: int = 50) -> dict[str, Any]:
    """Imports, quarantine counts (by reason, by day), unmapped codes, and what is missing."""
    q, b, site = schema.quarantine, schema.import_batches, schema.sites
    run_id = connection.execute(sa.select(site.c.run_id).where(site.c.id == site_id)).scalar()
    by_reason = [
        {"reason": reason, "count": int(n)}
        for reason, n in connection.execute(
            sa.select(q.c.reason, sa.func.count())
            .where(q.c.site_id == site_id)
            .group_by(q.c.reason)
            .order_by(sa.func.count().desc())
        )
    ]
    day = floor_to(q.c.day_local_ms, MS_PER_DAY)
    by_day = [
        {"day_local_ms": int(d), "reason": reason, "count": int(n)}
        for d, reason, n in connection.execute(
            sa.select(day, q.c.reason, sa.func.count())
            .where(q.c.site_id == site_id, q.c.day_local_ms.is_not(None))
            .group_by(day, q.c.reason)
            .order_by(day)
        )
    ]
    batches = [
        {
            "id": r.id,
            "format": r.format,
            "files": r.files,
            "actor": r.actor,
            "started_at_ms": r.started_at_ms,
            "status": r.status,
            "summary": r.summary,
        }
        for r in connection.execute(
            sa.select(b).where(b.c.site_id == site_id).order_by(b.c.id.desc()).limit(limit)
        )
    ]
    report: dict[str, Any] = {
        "run_id": run_id,
        "quarantined": sum(r["count"] for r in by_reason),
        "quarantine_by_reason": by_reason,
        "quarantine_by_day": by_day,
        "imports": batches,
        "unmapped_codes": [],
        "completeness": {},
    }
    if run_id is None:
        return report
    totals = next(
        (b["summary"].get("site_totals") for b in batches if b["status"] == "complete"), None
    )
    report.update(totals if totals is not None else run_totals(connection, run_id, limit=limit))
    return report


def run_totals(connection: Connection, run_id: int, *, limit: int = 50) -> dict[str, Any]:
    """Visits, completeness of each field and unmapped codes over a whole observed run.

    Two scans of the run's visits: the pipeline computes them once at the end of
    each import and keeps them in the batch's summary (``site``), so the Data
    quality page reads them instead of scanning hundreds of thousands of visits.
    """
    v, s = schema.visits, schema.specialties
    mine = v.c.run_id == run_id
    unknown = (
        sa.select(s.c.idx)
        .where(s.c.run_id == run_id, s.c.code == UNKNOWN_SPECIALTY)
        .scalar_subquery()
    )
    unmapped = connection.execute(
        sa.select(v.c.icd10, v.c.diagnosis_system, sa.func.count())
        .where(mine, v.c.specialty_idx == unknown, v.c.icd10.is_not(None))
        .group_by(v.c.icd10, v.c.diagnosis_system)
        .order_by(sa.func.count().desc())
        .limit(limit)
    )
    unmapped_codes = [
        {"code": code, "system": system or "icd10", "visits": int(n)}
        for code, system, n in unmapped
    ]
    total, seen, departed, acuity, disposition, diagnosis, age = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(v.c.wait_min),
            sa.func.count(v.c.departure_ms),
            sa.func.count(v.c.acuity),
            sa.func.count(v.c.disposition),
            sa.func.count(v.c.icd10),
            sa.func.count(v.c.age_years),
        ).where(mine)
    ).one()
    return {
        "visits": int(total),
        "unmapped_codes": unmapped_codes,
        "completeness": {
            name: (round(n / total, 4) if total else None)
            for name, n in (
                ("first_seen", seen),
                ("departure", departed),
                ("acuity", acuity),
                ("disposition", disposition),
                ("diagnosis", diagnosis),
                ("age", age),
            )
        },
    }
