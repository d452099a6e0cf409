"""Connecting to the store: which database, and every connection set up right.

SQLite gets its pragmas on *every* connection (a pooled connection that
missed them would silently run without WAL or foreign keys), writers take the
write lock up front (``BEGIN IMMEDIATE``: no deadlock-prone lock upgrade), and
readers open the file read-only. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection

from hospiflow.errors import StoreError

ENV_DATABASE_URL = "HOSPIFLOW_DATABASE_URL"
DEFAULT_SQLITE_FILE = "hospiflow.db"

# Applied to every SQLite connection. cache_size < 0 is KiB: 64 MiB of page
# cache; mmap lets readers share the OS page cache instead of copying pages.
SQLITE_PRAGMAS: dict[str, int | str] = {
    "busy_timeout": 15_000,
    "synchronous": "NORMAL",
    "cache_size": -65_536,
    "mmap_size": 268_435_456,
    "foreign_keys": "ON",
    "temp_store": "MEMORY",
}
DEFAULT_QUERY_SECONDS = 10.0


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"


def normalize_url(url: str) -> str:
    """Accept plain paths and ``postgresql://`` URLs; pin the psycopg 3 driver."""
    if "://" not in url:
        return sqlite_url(url)
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def resolve_database_url(
    flag_db: str | os.PathLike[str] | None = None, flag_url: str | None = None
) -> str:
    """Which database to use: a flag, then ``$HOSPIFLOW_DATABASE_URL``, then ./hospiflow.db."""
    if flag_db is not None and flag_url is not None:
        raise StoreError("give either --db or --database-url, not both", where="--db")
    if flag_db is not None:
        return sqlite_url(flag_db)
    if flag_url:
        if "://" not in flag_url:
            raise StoreError(
                f"not a database URL: {flag_url!r} (use sqlite:///FILE or "
                "postgresql://user@host/db; --db FILE for a SQLite file)",
                where="--database-url",
            )
        return normalize_url(flag_url)
    env = os.environ.get(ENV_DATABASE_URL, "").strip()
    if env:
        return normalize_url(env)
    return sqlite_url(DEFAULT_SQLITE_FILE)


def is_sqlite(bind: Engine | Connection) -> bool:
    """True when the engine or connection talks to SQLite."""
    return bind.dialect.name == "sqlite"


def _sqlite_readonly_url(url: sa.URL) -> sa.URL:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    path = quote(str(Path(database).resolve()))
    return url.set(database=f"file:{path}", query={**url.query, "mode": "ro", "uri": "true"})


def create_engine_for(
    url: str | sa.URL, *, readonly: bool = False, echo: bool = False, **kwargs: Any
) -> Engine:
    """An engine whose every connection is configured for the store.

    ``readonly`` engines cannot write (SQLite ``mode=ro`` + ``query_only``;
    PostgreSQL read-only transactions). Dispose the engine when done.
    """
    parsed = sa.make_url(normalize_url(url) if isinstance(url, str) else url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, readonly=readonly, echo=echo, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(parsed, echo=echo, **kwargs)
        if readonly:
            event.listen(engine, "connect", _postgres_readonly)
        return engine
    raise StoreError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://",
        where="database url",
    )


def check_sqlite_file(database: str, readonly: bool) -> None:
    """Name what SQLite would only call "unable to open database file" (writers check it)."""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    path = Path(database)
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file", where="--db")
    if readonly:
        if not path.exists():
            raise StoreError(
                f"no database at {path}: create it with `hospiflow db init`", where="--db"
            )
        return
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"{path} is read-only: this command writes the store", where="--db")
    folder = path.parent if str(path.parent) else Path(".")
    if folder.is_dir() and not os.access(folder, os.W_OK):
        raise StoreError(
            f"the folder {folder} is read-only: SQLite writes its journal beside the database",
            where="--db",
        )


def _sqlite_engine(url: sa.URL, *, readonly: bool, echo: bool, **kwargs: Any) -> Engine:
    if readonly:
        url = _sqlite_readonly_url(url)
    elif url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        check_sqlite_file(url.database, readonly=False)
    connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
    engine = sa.create_engine(url, echo=echo, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # We issue BEGIN ourselves (below): pysqlite's implicit BEGIN is
        # DEFERRED and would upgrade a read lock to a write lock mid-transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for name, value in SQLITE_PRAGMAS.items():
                cursor.execute(f"PRAGMA {name} = {value}")
            if readonly:
                cursor.execute("PRAGMA query_only = ON")
            else:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # on the driver: SQLAlchemy's statement machinery cost more than the BEGIN
        # itself on a live feed's transaction per message
        statement = "BEGIN" if readonly else "BEGIN IMMEDIATE"
        try:
            sqlite_driver(connection).execute(statement)
        except sqlite3.OperationalError as error:
            # as SQLAlchemy would have wrapped it: callers tell a lock (retry) or a
            # read-only file (one clear line) by ``sa.exc.OperationalError``
            raise sa.exc.OperationalError(statement, None, error) from error

    return engine


def _postgres_readonly(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


@contextmanager
def connect(url: str | sa.URL, *, readonly: bool = True) -> Iterator[Connection]:
    """A single configured connection (read-only by default), engine disposed after."""
    engine = create_engine_for(url, readonly=readonly)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def dbapi_connection(connection: Connection) -> DBAPIConnection:
    """The DB-API connection under ``connection``, for bulk reads SQLAlchemy would slow."""
    raw = connection.connection.dbapi_connection
    if raw is None:
        raise StoreError("the connection is closed", where="store")
    return raw


def sqlite_driver(connection: Connection) -> sqlite3.Connection:
    """The ``sqlite3`` connection under a SQLite ``connection``, for what SQLAlchemy lacks."""
    raw = connection.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise StoreError(
            f"expected an open SQLite connection, got {type(raw).__name__}", where="store"
        )
    return raw


def sqlite_pragmas(connection: Connection) -> dict[str, Any]:
    """The pragmas in force on this SQLite connection, as SQLite reports them."""
    # Straight to the driver: going through SQLAlchemy would open a transaction
    # (BEGIN IMMEDIATE on a writer) just to read settings.
    raw = sqlite_driver(connection)
    names = ("journal_mode", "query_only", *SQLITE_PRAGMAS)
    return {name: raw.execute(f"PRAGMA {name}").fetchone()[0] for name in names}


@contextmanager
def time_limit(connection: Connection, seconds: float = DEFAULT_QUERY_SECONDS) -> Iterator[None]:
    """Cancel statements run inside the block after ``seconds`` with a ``StoreError``.

    For user-driven queries (the API): a runaway range must not hold a
    reader for minutes. SQLite uses its progress handler, PostgreSQL
    ``statement_timeout``.
    """
    if is_sqlite(connection):
        raw = sqlite_driver(connection)
        deadline = time.monotonic() + seconds
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 2_000)
        try:
            yield
        except sa.exc.OperationalError as error:
            if "interrupted" in str(error.orig):
                raise _timeout(seconds) from error
            raise
        finally:
            raw.set_progress_handler(None, 0)
    else:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
        try:
            yield
        except sa.exc.OperationalError as error:
            if getattr(error.orig, "sqlstate", None) == "57014":
                raise _timeout(seconds) from error
            raise
        connection.exec_driver_sql("SET LOCAL statement_timeout = DEFAULT")


def _timeout(seconds: float) -> StoreError:
    return StoreError(
        f"the query took longer than {seconds:g} s and was stopped; ask for a shorter range",
        where="store query",
        limit_seconds=seconds,
    )
