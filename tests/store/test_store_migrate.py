"""Alembic migrations: init creates the schema that ``schema.py`` describes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hospiflow.errors import StoreError
from hospiflow.store import migrate, schema
from hospiflow.store.engine import create_engine_for


def test_init_creates_exactly_the_declared_schema(url):
    """After init the database matches schema.py (no autogenerate diff) at the head revision."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            assert migrate.current_revision(connection) == migrate.head_revision()
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, schema.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_and_init_are_idempotent(url):
    """Running upgrade or init again on a current database changes nothing."""
    assert migrate.upgrade(url) == migrate.head_revision()
    assert migrate.init(url) == migrate.head_revision()


def test_init_refuses_a_database_with_unknown_tables(empty_url):
    """init will not create its tables next to someone else's unversioned ones."""
    engine = create_engine_for(empty_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE stranger (x INTEGER)")
        with pytest.raises(StoreError, match="no hospiflow schema revision"):
            migrate.init(engine)
    finally:
        engine.dispose()


def test_outdated_database_is_refused_until_upgraded(empty_url):
    """A database at no revision is refused by ensure_current, then accepted after upgrade."""
    engine = create_engine_for(empty_url)
    try:
        with engine.connect() as connection, pytest.raises(StoreError, match="db init"):
            migrate.ensure_current(connection)
        migrate.upgrade(engine)
        with engine.connect() as connection:
            migrate.ensure_current(connection)
            assert "visits" in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()
