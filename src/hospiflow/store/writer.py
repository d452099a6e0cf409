"""Bulk inserts of plain tuples: the store's fast write path.

SQLAlchemy's ``insert()`` with a list of dicts costs several microseconds a
row; a year of trace is half a million rows. This goes straight to the
driver inside the caller's transaction: ``COPY`` on PostgreSQL, and on
SQLite multi-row ``INSERT ... VALUES (...), (...), ...`` statements of
``ROWS_PER_STATEMENT`` rows each.

Why multi-row statements on SQLite: ``executemany`` of a one-row statement
steps SQLite once per row and ``sqlite3`` releases and re-takes the GIL
around every step. Alone that costs little, but next to a busy Python
thread (the simulator, while ``StoreSink``'s writer thread inserts) every
re-take waits up to the interpreter's switch interval (5 ms): a year of
events took 5 s instead of 0.7. One step per two thousand rows avoids
that convoy, and is faster on its own too (about 2x fewer instructions
per row in SQLite's virtual machine, measured).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from hospiflow.errors import StoreError
from hospiflow.store.engine import sqlite_driver

if TYPE_CHECKING:
    import psycopg

ROWS_PER_STATEMENT = 2_000
"""Rows per multi-row ``INSERT`` on SQLite (fewer if the bound-variable limit needs)."""


def insert_sql(table: str, columns: Sequence[str], placeholder: str = "?", rows: int = 1) -> str:
    """``INSERT INTO table (columns) VALUES (?, ...)``, with ``rows`` value tuples."""
    one = f"({', '.join([placeholder] * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)}"


def insert_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) within the connection's transaction."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        with _psycopg_driver(connection).cursor() as pg_cursor:
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with pg_cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    raw = sqlite_driver(connection)
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(ROWS_PER_STATEMENT, limit // len(columns)))
    full = len(rows) // per * per
    cursor = raw.cursor()
    try:
        if full:
            cursor.executemany(
                insert_sql(table, columns, rows=per),
                [list(chain.from_iterable(rows[i : i + per])) for i in range(0, full, per)],
            )
        if full < len(rows):
            rest = rows[full:]
            cursor.execute(
                insert_sql(table, columns, rows=len(rest)), list(chain.from_iterable(rest))
            )
    finally:
        cursor.close()


def _psycopg_driver(connection: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a PostgreSQL ``connection`` (for ``COPY``)."""
    import psycopg  # only PostgreSQL stores need it

    raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise StoreError(
            f"expected an open psycopg connection, got {type(raw).__name__}", where="store"
        )
    return raw


class InsertThread:
    """``insert_rows`` on a thread of its own, in order, inside the caller's transaction.

    Why: most of a bulk insert is the database's own work (SQLite's
    ``sqlite3_step``, PostgreSQL's ``COPY`` I/O), during which the driver
    releases the GIL; on its own thread it overlaps with the caller's Python
    (an import parsing and pseudonymising the next rows) on another core.

    The caller keeps the transaction: it must hold ``lock`` for any other use
    of the connection while the thread is open, and ``close`` (or ``abandon``,
    on failure) before it commits or rolls back. A failed insert stops the
    thread and is raised on the caller's next ``put`` or ``close``.
    """

    def __init__(self, connection: Connection, table: str, columns: Sequence[str]) -> None:
        self.lock = threading.Lock()
        self._connection, self._table, self._columns = connection, table, columns
        self._queue: queue.Queue[Sequence[tuple[Any, ...]] | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"insert-{table}", daemon=True)
        self._thread.start()

    def put(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue ``rows`` (waits while eight batches are queued)."""
        self._raise()
        if rows:
            self._queue.put(rows)

    def close(self) -> None:
        """Wait until every queued row is inserted; raise the thread's failure if any."""
        self._finish()
        self._raise()

    def abandon(self) -> None:
        """Stop without inserting what is still queued (the caller is rolling back)."""
        self._stop = True
        self._finish()

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._stop or self._error is not None:
                continue  # drain: the caller stops at its next put or close
            try:
                with self.lock:
                    insert_rows(self._connection, self._table, self._columns, rows)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                self._error = error
