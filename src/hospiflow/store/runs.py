"""Managing runs as wholes: listing them with their status, deleting one, their leases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import NotFoundError, StoreError
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
        r.c.writer,
        r.c.heartbeat_ms,
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
    # the run's row first (FOR UPDATE on PostgreSQL), then its children: the order every
    # writer of a site's visits locks them in (``store.patient_numbers``), so no deadlock
    found = connection.execute(
        sa.select(r.c.id, r.c.kind, r.c.visits_count).where(r.c.id == run_id).with_for_update()
    ).first()
    if found is None:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    for table in _CHILDREN:
        connection.execute(table.delete().where(table.c.run_id == run_id))
    connection.execute(r.delete().where(r.c.id == run_id))
    audit(connection, actor, "delete", f"run:{run_id}", found.visits_count, {"kind": found.kind})


# --------------------------------------------------------------------------- leases
#
# A run is written by one process. While it runs, that process's writer
# thread stamps ``heartbeat_ms`` every HEARTBEAT_SECONDS (and with every
# batch); ``writer`` names it (``host:pid``). A ``running`` run is an orphan
# when its writer process is gone (same host, no such pid: known at once) or
# silent for longer than LEASE_SECONDS (another host, or a hung process).
# Orphans are marked ``failed``, so streams end and the run can be deleted.

HEARTBEAT_SECONDS = 5.0
LEASE_SECONDS = 60.0


def this_writer() -> str:
    """``host:pid`` of this process, the name a run's lease is held under."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(writer: str | None) -> bool:
    """True when ``writer`` is a process of this host that no longer exists."""
    import os
    import socket

    if not writer or ":" not in writer:
        return False
    host, _, pid = writer.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, another user's
        return False
    return False


def orphan_reason(
    row: dict[str, Any], now: int, lease_seconds: float = LEASE_SECONDS
) -> str | None:
    """Why a ``running`` run is orphaned (None: its writer holds the lease)."""
    if row.get("status") != "running":
        return None
    writer = row.get("writer")
    if _process_gone(writer):
        return f"its writer process ({writer}) is gone"
    last = row.get("heartbeat_ms") or row.get("created_at_ms") or 0
    if now - last > lease_seconds * 1000:
        return f"no sign of life from its writer for {(now - last) / 1000:.0f} s"
    return None


def reap_orphans(connection: Connection, lease_seconds: float = LEASE_SECONDS) -> list[int]:
    """Mark every orphaned ``running`` run ``failed`` (call in a write transaction)."""
    from hospiflow.store.timeconv import now_ms

    r = schema.runs
    now = now_ms()
    running = connection.execute(
        sa.select(r.c.id, r.c.status, r.c.writer, r.c.heartbeat_ms, r.c.created_at_ms).where(
            r.c.status == "running"
        )
    ).mappings()
    reaped = []
    for row in list(running):
        reason = orphan_reason(dict(row), now, lease_seconds)
        if reason is None:
            continue
        # compare-and-set on the writer too: a run just resumed by a new writer stays running
        done = connection.execute(
            r.update()
            .where(r.c.id == row["id"], r.c.status == "running", _same_writer(row["writer"]))
            .values(status="failed", finished_at_ms=now, error=f"{ORPHANED}: {reason}")
        )
        if done.rowcount:
            reaped.append(int(row["id"]))
    return reaped


ORPHANED = "orphaned"
"""How the error of a run failed because its writer died begins."""


def _same_writer(writer: str | None) -> Any:
    r = schema.runs
    return r.c.writer.is_(None) if writer is None else r.c.writer == writer


def interrupted_continuation(connection: Connection, history_id: int) -> dict[str, Any] | None:
    """The live run continuing ``history_id`` that a crash interrupted, if the newest one was.

    Interrupted: ``running`` with its writer gone (``orphan_reason``), or
    already marked ``failed`` as an orphan by ``reap_orphans``. A live run
    stopped on purpose (``complete``), failed otherwise, or still written by
    a live process is not resumed.
    """
    from hospiflow.store.timeconv import now_ms

    r = schema.runs
    row = (
        connection.execute(
            sa.select(
                r.c.id,
                r.c.label,
                r.c.status,
                r.c.error,
                r.c.parameters,
                r.c.writer,
                r.c.heartbeat_ms,
                r.c.created_at_ms,
                r.c.clock_min,
            )
            .where(r.c.kind == "live", r.c.continues_run == history_id)
            .order_by(r.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    found = dict(row)
    crashed = found["status"] == "failed" and (found["error"] or "").startswith(ORPHANED)
    if crashed or orphan_reason(found, now_ms()) is not None:
        return found
    return None


def claim_interrupted(connection: Connection, run_id: int, writer: str) -> float | None:
    """Take over an interrupted live run: ``running`` again under ``writer``'s lease.

    Returns its clock (every record before that simulated minute is stored;
    None: nothing was). Compare-and-set, so two processes cannot both resume
    it, nor resume one whose writer came back; call in a write transaction.
    """
    from hospiflow.store.timeconv import now_ms

    r = schema.runs
    row = (
        connection.execute(
            sa.select(
                r.c.status,
                r.c.error,
                r.c.writer,
                r.c.heartbeat_ms,
                r.c.created_at_ms,
                r.c.clock_min,
            ).where(r.c.id == run_id, r.c.kind == "live")
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"no live run {run_id}", where="run_id", run_id=run_id)
    crashed = row["status"] == "failed" and (row["error"] or "").startswith(ORPHANED)
    if not crashed and orphan_reason(dict(row), now_ms()) is None:
        raise StoreError(
            f"live run {run_id} is {row['status']} and not interrupted; it cannot be resumed",
            where="run_id",
            run_id=run_id,
        )
    done = connection.execute(
        r.update()
        .where(r.c.id == run_id, r.c.status == row["status"], _same_writer(row["writer"]))
        .values(
            status="running", writer=writer, heartbeat_ms=now_ms(), finished_at_ms=None, error=None
        )
    )
    if done.rowcount != 1:
        raise StoreError(f"live run {run_id} was taken over meanwhile", where="run_id")
    clock = row["clock_min"]
    return None if clock is None else float(clock)
