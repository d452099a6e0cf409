"""Read queries the API needs on a site's observed data (visits only: no trace, no samples).

An observed run has visits and the rollups derived from them, never events
or state samples; what is "happening now" is therefore worked out from the
visits around the data's end (``web.observed``). Also the quarantine's keyset
pages, for administrators.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.store import schema

VisitRow = tuple[int, int, int | None, float | None, int, int | None]


def visits_arrived(
    connection: Connection, run_id: int, start_ms: int, end_ms: int
) -> list[VisitRow]:
    """Visits arriving in ``[start_ms, end_ms]``, oldest first.

    Rows are ``(id, arrival_ms, departure_ms, wait_min, specialty_idx, pathology_idx)``.
    """
    v = schema.visits
    stmt = (
        sa.select(
            v.c.id,
            v.c.arrival_ms,
            v.c.departure_ms,
            v.c.wait_min,
            v.c.specialty_idx,
            v.c.pathology_idx,
        )
        .where(v.c.run_id == run_id, v.c.arrival_ms >= start_ms, v.c.arrival_ms <= end_ms)
        .order_by(v.c.arrival_ms, v.c.id)
    )
    return [tuple(row) for row in connection.execute(stmt)]


def has_first_seen(connection: Connection, run_id: int) -> bool:
    """Whether any visit of the run has a first-seen time (read from the monthly rollup)."""
    m = schema.monthly_specialty
    seen = connection.execute(
        sa.select(sa.func.sum(m.c.treated)).where(m.c.run_id == run_id)
    ).scalar()
    return bool(seen)


def hourly_arrivals(
    connection: Connection, run_id: int, start_ms: int, end_ms: int, hours_local: list[int]
) -> list[tuple[int, int, int]]:
    """``(hour_local_ms, specialty_idx, arrivals)`` of the rollup hours named by their local
    start, among the hours starting in ``[start_ms, end_ms)`` (the range keeps it an index scan).
    """
    h = schema.hourly_specialty
    stmt = sa.select(h.c.hour_local_ms, h.c.specialty_idx, h.c.arrivals).where(
        h.c.run_id == run_id,
        h.c.hour_ms >= start_ms,
        h.c.hour_ms < end_ms,
        h.c.hour_local_ms.in_(hours_local),
    )
    return [(int(a), int(b), int(c)) for a, b, c in connection.execute(stmt)]


def quarantine_page(
    connection: Connection,
    site_id: int,
    *,
    reason: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of a site's quarantined rows, newest first, and the id to continue after."""
    q = schema.quarantine
    stmt = sa.select(
        q.c.id, q.c.batch_id, q.c.location, q.c.field, q.c.reason, q.c.message, q.c.raw
    ).where(q.c.site_id == site_id)
    if reason is not None:
        stmt = stmt.where(q.c.reason == reason)
    if after_id is not None:
        stmt = stmt.where(q.c.id < after_id)
    rows = [
        dict(r._mapping) for r in connection.execute(stmt.order_by(q.c.id.desc()).limit(limit + 1))
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]["id"]) if more and rows else None)


def arrival_span(connection: Connection, run_id: int) -> tuple[int | None, int | None]:
    """The run's first and last arrival (two index lookups)."""
    v = schema.visits
    mine = v.c.run_id == run_id
    first = sa.select(sa.func.min(v.c.arrival_ms)).where(mine).scalar_subquery()
    last = sa.select(sa.func.max(v.c.arrival_ms)).where(mine).scalar_subquery()
    a, b = connection.execute(sa.select(first, last)).one()
    return (None if a is None else int(a), None if b is None else int(b))
