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

import sqlite3
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
