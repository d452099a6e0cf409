"""An observed run's patient numbers: one counter per run, ``runs.next_patient_no``.

Every writer of a site's visits (an import, each live feed: MLLP, REST push,
in any number of processes) numbers the visits it adds. Each takes the run's
counter at the start of its transaction with ``lock_next`` (on PostgreSQL the
run's row stays locked until the transaction ends; on SQLite ``BEGIN
IMMEDIATE`` already makes every writer wait for the one in progress), numbers
its new visits from it, and writes the next free number back with the run's
other figures before it commits. Numbers are therefore unique within a run
however writers interleave; a rolled-back transaction gives its numbers back
with everything else; a deleted visit (A11) leaves a gap: numbers are unique,
not contiguous.

Why a counter rather than ``max(patient_no) + 1``: ``visits`` has no index on
``(run_id, patient_no)``, so that maximum scans the whole run (1M+ visits)
and a feed cannot pay it per transaction; reading it once and caching it (what
the feeds did) goes stale as soon as another writer appends.

Why the lock for the whole transaction rather than an atomic
``UPDATE ... SET next_patient_no = next_patient_no + n RETURNING``: a writer
learns how many numbers it needs only as it goes (an MLLP batch creates a
visit per registration among its messages; an import streams its file), and
taking the row in the middle of a transaction that already holds visit rows
would lock in the opposite order from a writer holding the run row and
wanting those visits: a deadlock. Taken first, the run row is every writer's
first lock (``runs.delete_run`` takes it first too), and it is held only by
writers that update the run's row before committing anyway. The price, on
PostgreSQL: writers of one site take turns (a feed waits for an import of
that same site to commit, as every writer already waits on SQLite); other
sites are not affected, and a feed pays one small statement per transaction.

Simulated and live runs number their patients in the engine and never use the
counter: theirs is NULL.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from hospiflow.errors import StoreError

_SELECT = "SELECT next_patient_no FROM runs WHERE id = ?"


def lock_sql(dialect: str) -> str:
    """``lock_next``'s statement (``?`` placeholder), for writers using driver SQL."""
    return _SELECT + " FOR UPDATE" if dialect == "postgresql" else _SELECT


def lock_next(connection: Connection, run_id: int) -> int:
    """Lock ``run_id``'s counter until the transaction ends; the next free patient number."""
    sql = lock_sql(connection.dialect.name)
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    row = connection.exec_driver_sql(sql, (run_id,)).first()
    return checked(row, run_id)


def checked(row: tuple[int | None, ...] | None, run_id: int) -> int:
    """The counter of a row ``lock_sql`` read, or an error naming the run."""
    if row is None:
        raise StoreError(f"no run {run_id}", where="runs.next_patient_no")
    if row[0] is None:
        raise StoreError(
            f"run {run_id} has no patient-number counter (not a site's observed run)",
            where="runs.next_patient_no",
        )
    return int(row[0])
