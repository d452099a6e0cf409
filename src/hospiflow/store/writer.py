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
from collections.abc import Callable, Iterable, Sequence
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
        _copy(connection, table, columns, rows)
        return
    _insert(
        connection, table, columns, len(rows), lambda a, b: list(chain.from_iterable(rows[a:b]))
    )


def insert_columns(
    connection: Connection, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]]
) -> None:
    """``insert_rows`` of rows given as columns (``values[k]``: field ``k`` of every row).

    Why: a million rows made into tuples only to be flattened again into each
    statement's parameters cost about a second; here each statement's
    parameters are filled column by column (one slice assignment per column).
    """
    size = len(values[0]) if values else 0
    if not size:
        return
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, zip(*values, strict=True))
        return
    width = len(values)

    def cells(start: int, stop: int) -> list[Any]:
        flat: list[Any] = [None] * ((stop - start) * width)
        for at, column in enumerate(values):
            flat[at::width] = column[start:stop]
        return flat

    _insert(connection, table, columns, size, cells)


def _copy(
    connection: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    with _psycopg_driver(connection).cursor() as pg_cursor:
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with pg_cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def _insert(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    size: int,
    cells: Callable[[int, int], list[Any]],
) -> None:
    """SQLite: rows ``0..size`` in multi-row statements; ``cells(a, b)``: rows a..b flat."""
    raw = sqlite_driver(connection)
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(ROWS_PER_STATEMENT, limit // len(columns)))
    full = size // per * per
    cursor = raw.cursor()
    try:
        if full:
            cursor.executemany(
                insert_sql(table, columns, rows=per),
                (cells(i, i + per) for i in range(0, full, per)),
            )
        if full < size:
            cursor.execute(insert_sql(table, columns, rows=size - full), cells(full, size))
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
