"""Web fixtures: a small simulated store (SQLite file and PostgreSQL), apps and clients.

The simulated store is built once per session per backend (a week of the
default hospital, about a second) and only read by the tests that share it;
tests that write (delete, what-if) get a private copy of the SQLite file.
PostgreSQL comes from ``postgres_databases`` (``tests/conftest.py``): without
a server those variants skip, under ``CI=true`` they fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from web_helpers import TOKEN, Server, free_port, simulate_into


@pytest.fixture(scope="session")
def token() -> str:
    """The bearer token of apps built with writes enabled."""
    return TOKEN


@pytest.fixture(scope="session")
def simulate() -> Callable[..., int]:
    """``simulate(url, days=7, **changes)``: write a short run, return its id."""
    return simulate_into


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file holding one complete week-long run (id 1); read-only for tests."""
    path = tmp_path_factory.mktemp("web") / "store.db"
    url = f"sqlite:///{path}"
    simulate_into(url)
    return url


@pytest.fixture(scope="session")
def postgres_store(postgres_databases: Callable[[str], str]) -> str:
    """A PostgreSQL database of its own holding the same kind of run (dropped at the end)."""
    url = postgres_databases("hospiflow_web")
    simulate_into(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """The shared read-only store on each backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_store")
    return request.getfixturevalue("postgres_store")


@pytest.fixture
def private_store(sqlite_store: str, tmp_path: Path) -> str:
    """A private copy of the SQLite store, for tests that write."""
    source = Path(sa.make_url(sqlite_store).database or "")
    target = tmp_path / "private.db"
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


@pytest.fixture
def client(make_app: Callable[..., Any], store_url: str) -> Any:
    """A test client on the shared store (both backends), writes enabled."""
    return make_app(store_url, API_TOKEN=TOKEN).test_client()


@pytest.fixture
def sqlite_client(make_app: Callable[..., Any], sqlite_store: str) -> Any:
    """A test client on the shared SQLite store, writes enabled."""
    return make_app(sqlite_store, API_TOKEN=TOKEN).test_client()


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Server]]:
    """Factory: a started ``Server`` for an app, closed after the test."""
    servers: list[Server] = []

    def start(app: Any) -> Server:
        server = Server(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()
