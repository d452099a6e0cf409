"""Bulk inserts: rows given as columns land exactly as the same rows given as tuples."""

from __future__ import annotations

import pytest

from hospiflow.store import writer


@pytest.mark.parametrize("size", [0, 1, 6, 7, 20])
def test_columns_insert_the_rows_that_tuples_do(engine, monkeypatch, size):
    """Several statements' worth of rows (3 a statement) and a shorter last one, with
    NULLs, a ``range`` column and text: the same rows, in the same order."""
    monkeypatch.setattr(writer, "ROWS_PER_STATEMENT", 3)
    names = ("n", "label", "value")
    numbers = range(100, 100 + size)
    labels = [None if k % 4 == 0 else f"row {k}" for k in range(size)]
    values = tuple(None if k % 3 == 1 else k / 8 for k in range(size))
    with engine.begin() as connection:
        for table in ("by_rows", "by_columns"):
            connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {table} (n BIGINT, label TEXT, value DOUBLE PRECISION)"
            )
        rows = list(zip(numbers, labels, values, strict=True))
        writer.insert_rows(connection, "by_rows", names, rows)
        writer.insert_columns(connection, "by_columns", names, [numbers, labels, values])
        query = "SELECT n, label, value FROM {} ORDER BY n"
        stored = [
            [tuple(r) for r in connection.exec_driver_sql(query.format(table))]
            for table in ("by_rows", "by_columns")
        ]
        connection.rollback()
    assert stored[0] == rows
    assert stored[1] == rows
