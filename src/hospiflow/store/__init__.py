"""The store: schema, connections, the simulator's sink and the read queries.

Public entry points::

    from hospiflow.store import StoreSink, create_engine_for, connect, resolve_database_url
    from hospiflow.store import migrate, queries, runs
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hospiflow.store.engine import (
    connect,
    create_engine_for,
    resolve_database_url,
    sqlite_pragmas,
    time_limit,
)

if TYPE_CHECKING:
    from hospiflow.store.sink import StoreSink

__all__ = [
    "StoreSink",
    "connect",
    "create_engine_for",
    "resolve_database_url",
    "sqlite_pragmas",
    "time_limit",
]


def __getattr__(name: str) -> object:  # the sink imports the simulator's records: load it lazily
    if name == "StoreSink":
        from hospiflow.store.sink import StoreSink

        return StoreSink
    raise AttributeError(name)
