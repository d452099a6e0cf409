"""Connections: pragmas, read-only readers, query time limits, which database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hospiflow.errors import StoreError
from hospiflow.store.engine import (
    ENV_DATABASE_URL,
    create_engine_for,
    resolve_database_url,
    sqlite_pragmas,
    time_limit,
)


def test_sqlite_pragmas_are_set_on_every_file_connection(tmp_path):
    """WAL, synchronous=NORMAL, cache, mmap, busy_timeout, foreign keys hold on each connection."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    writer = create_engine_for(url, pool_size=2)
    try:
        connections = [writer.connect(), writer.connect()]
        for connection in connections:
            pragmas = sqlite_pragmas(connection)
            assert pragmas["journal_mode"] == "wal"
            assert pragmas["synchronous"] == 1  # NORMAL
            assert pragmas["cache_size"] == -65_536
            assert pragmas["mmap_size"] == 268_435_456
            assert pragmas["busy_timeout"] == 15_000
            assert pragmas["foreign_keys"] == 1
            assert pragmas["query_only"] == 0
        for connection in connections:
            connection.close()
        reader = create_engine_for(url, readonly=True)
        try:
            with reader.connect() as connection:
                pragmas = sqlite_pragmas(connection)
                assert pragmas["journal_mode"] == "wal"
                assert pragmas["query_only"] == 1
                assert pragmas["foreign_keys"] == 1
        finally:
            reader.dispose()
    finally:
        writer.dispose()


def test_readers_cannot_write(url):
    """A read-only engine refuses writes on both backends."""
    reader = create_engine_for(url, readonly=True)
    try:
        with reader.connect() as connection, pytest.raises(sa.exc.DBAPIError):
            connection.exec_driver_sql("DELETE FROM runs")
    finally:
        reader.dispose()


def test_runaway_query_stops_with_a_store_error(url):
    """A query over its time limit is cancelled and reported as a StoreError."""
    reader = create_engine_for(url, readonly=True)
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
        "SELECT count(*) FROM c"
    )
    try:
        with reader.connect() as connection:
            with pytest.raises(StoreError, match="longer than 0.2 s"):
                with time_limit(connection, 0.2):
                    connection.exec_driver_sql(slow).scalar()
            connection.rollback()
            with time_limit(connection, 5):
                assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        reader.dispose()


def test_database_url_comes_from_flag_then_env_then_default(monkeypatch, tmp_path):
    """--db/--database-url win over $HOSPIFLOW_DATABASE_URL, which wins over ./hospiflow.db."""
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    assert resolve_database_url(None, None) == "sqlite:///hospiflow.db"
    monkeypatch.setenv(ENV_DATABASE_URL, "postgresql://u@h/db")
    assert resolve_database_url(None, None) == "postgresql+psycopg://u@h/db"
    assert resolve_database_url(tmp_path / "x.db", None) == f"sqlite:///{tmp_path / 'x.db'}"
    assert resolve_database_url(None, "sqlite:///y.db") == "sqlite:///y.db"
    with pytest.raises(StoreError, match="not both"):
        resolve_database_url("a.db", "sqlite:///b.db")


def test_unknown_backend_is_refused():
    """A URL for a database we do not support is refused with a StoreError."""
    with pytest.raises(StoreError, match="unsupported database"):
        create_engine_for("mysql://u@h/db")
