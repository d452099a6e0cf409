"""Managing runs as wholes: listing them with their status, deleting one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import NotFoundError
from hospiflow.store import schema

# Children first: deleting them explicitly (rather than through ON DELETE
# CASCADE) works the same on both backends and on files whose foreign keys
# were off when written.
_CHILDREN = (
    schema.events,
    schema.state_snapshots,
    schema.resource_snapshots,
    schema.treatments,
    schema.visits,
    schema.forecasts,
    schema.hourly_counts,
    *schema.ROLLUP_TABLES,
    schema.doctors,
    schema.pathologies,
    schema.specialties,
)


def list_runs(connection: Connection, status: str | None = None) -> list[dict[str, Any]]:
    """Every run (newest first) with kind, label, status, span and row counts."""
    r = schema.runs
    stmt = sa.select(
        r.c.id,
        r.c.kind,
        r.c.label,
        r.c.status,
        r.c.seed,
        r.c.timezone,
        r.c.start_utc_ms,
        r.c.end_utc_ms,
        r.c.created_at_ms,
        r.c.finished_at_ms,
        r.c.error,
        r.c.visits_count,
        r.c.treatments_count,
        r.c.events_count,
        r.c.snapshots_count,
    ).order_by(r.c.id.desc())
    if status is not None:
        stmt = stmt.where(r.c.status == status)
    return [dict(row) for row in connection.execute(stmt).mappings()]


def delete_run(connection: Connection, run_id: int, actor: str = "unknown") -> None:
    """Remove a run and everything it wrote (call inside a write transaction).

    The deletion is written to the audit log in the same transaction (who, which
    run, how many visits), so a site's observed data never vanish unrecorded.
    """
    from hospiflow.store.sites import audit

    r = schema.runs
    found = connection.execute(
        sa.select(r.c.id, r.c.kind, r.c.visits_count).where(r.c.id == run_id)
    ).first()
    if found is None:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    for table in _CHILDREN:
        connection.execute(table.delete().where(table.c.run_id == run_id))
    connection.execute(r.delete().where(r.c.id == run_id))
    audit(connection, actor, "delete", f"run:{run_id}", found.visits_count, {"kind": found.kind})
