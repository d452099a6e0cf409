"""What a request reaches: the running app's ``State`` and this request's connection.

The blueprints (``api``, ``forecast_api``, ``sites_api``, ``push_api``,
``stream``) import this module, never ``web.app``: the factory imports them,
so they must not import it back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from hospiflow.store.engine import create_engine_for
from hospiflow.web.cache import FreshCache, ResponseCache

if TYPE_CHECKING:
    from hospiflow.web.jobs import Jobs


@dataclass
class State:
    """What one app owns: its engines, background jobs and caches."""

    url: str
    reader: Engine
    jobs: Jobs
    token: str | None
    cache: ResponseCache
    fresh: FreshCache
    writer: Engine | None = None
    live: Any = None
    catalogs: dict[int, Any] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write_engine(self) -> Engine:
        with self.lock:
            if self.writer is None:
                self.writer = create_engine_for(self.url)
            return self.writer

    def stream_connection(self) -> Connection:
        """A dedicated read-only connection (one per stream, closed by the caller)."""
        engine = create_engine_for(self.url, readonly=True, poolclass=NullPool)
        connection = engine.connect()
        connection.info["engine"] = engine
        return connection

    def close(self) -> None:
        """Stop the jobs and dispose the engines (tests and server shutdown)."""
        self.jobs.close()
        self.reader.dispose()
        if self.writer is not None:
            self.writer.dispose()


def close_stream_connection(connection: Connection) -> None:
    """Close a connection from ``State.stream_connection`` and its engine."""
    engine = connection.info.get("engine")
    connection.close()
    if engine is not None:
        engine.dispose()


def state(app: Flask | None = None) -> State:
    """The running app's ``State``."""
    return (app or current_app).extensions["hospiflow"]


def get_db() -> Connection:
    """This request's read-only connection (opened on first use, closed at teardown)."""
    if "db" not in g:
        g.db = state().reader.connect()
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    """Close this request's connection, if it opened one (an app teardown function)."""
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()
