"""Fixtures for every test: a clean environment, a scratch working folder, PostgreSQL.

PostgreSQL comes from ``$HOSPIFLOW_TEST_POSTGRES_URL`` (default: the local
server, database ``test``). Without a server the PostgreSQL variants skip;
under ``CI=true`` they fail instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from hospiflow.store import migrate
from hospiflow.store.engine import create_engine_for

POSTGRES_URL = os.environ.get(
    "HOSPIFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No HOSPIFLOW_* setting leaks between tests, and nothing is written into the repository."""
    for name in list(os.environ):
        if name.startswith("HOSPIFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def _postgres_unreachable() -> str | None:
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "no server"
        return f"PostgreSQL unreachable at {POSTGRES_URL}: {error.__class__.__name__}"
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[str], str]]:
    """Factory: ``new(prefix)`` creates a database of its own; all are dropped at the end."""
    reason = _postgres_unreachable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def new(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        created.append(name)
        return sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    try:
        yield new
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_database(postgres_databases: Callable[[str], str]) -> str:
    """A database of its own for this test session (dropped at the end)."""
    return postgres_databases("hospiflow_test")


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty database: a temp SQLite file, or a clean PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = request.getfixturevalue("postgres_database")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def url(empty_url: str) -> str:
    """The URL of a database with the current schema."""
    migrate.init(empty_url)
    return empty_url


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    """A writer engine on ``url``, disposed after the test."""
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_app() -> Iterator[Callable[..., Any]]:
    """Factory: ``make_app(url, **config)``; every app's engines and jobs are closed after.

    The web package is imported here, not at the top, so tests that never build an app do
    not pay for it."""
    from hospiflow.web.app import create_app, state

    apps = []

    def build(url: str, **config: Any) -> Any:
        app = create_app({"DATABASE_URL": url, "TESTING": True, **config})
        apps.append(app)
        return app

    yield build
    for app in apps:
        state(app).close()
