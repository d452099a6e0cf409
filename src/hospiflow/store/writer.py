"""Bulk inserts of plain tuples: the store's fast write path.

SQLAlchemy's ``insert()`` with a list of dicts costs several microseconds a
row; a year of trace is half a million rows. This goes straight to the
driver inside the caller's transaction: ``executemany`` on SQLite, ``COPY``
on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection


def insert_sql(table: str, columns: Sequence[str], placeholder: str = "?") -> str:
    """``INSERT INTO table (columns) VALUES (?, ...)`` for ``executemany``."""
    marks = ", ".join([placeholder] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def insert_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) within the connection's transaction."""
    if not rows:
        return
    raw = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    cursor = raw.cursor()
    try:
        cursor.executemany(insert_sql(table, columns), rows)
    finally:
        cursor.close()
