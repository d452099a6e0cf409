"""Creating and upgrading the store's schema with Alembic, from code.

The migration scripts ship inside the package (``store/migrations``), so an
installed hospiflow can bring any older database file up to date without an
``alembic.ini`` in the working folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from hospiflow.errors import StoreError
from hospiflow.store.engine import create_engine_for

SCRIPT_LOCATION = Path(str(resources.files("hospiflow.store") / "migrations"))


def alembic_config(url: str | None = None) -> Config:
    """A programmatic Alembic configuration pointing at the packaged scripts."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest schema revision this version of hospiflow knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(bind: Connection) -> str | None:
    """The schema revision a database is at (None: never initialised)."""
    return MigrationContext.configure(bind).get_current_revision()


def _engine(url_or_engine: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    return create_engine_for(url_or_engine), True


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> str:
    """Bring a database to ``revision`` (the newest by default); returns the revision."""
    engine, owned = _engine(url_or_engine)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            return current_revision(connection) or ""
    finally:
        if owned:
            engine.dispose()


def init(url_or_engine: str | Engine) -> str:
    """Create the store's tables in a new (or already current) database.

    Refuses a database holding tables it does not know the revision of:
    those need a look, not a blind ``CREATE``.
    """
    engine, owned = _engine(url_or_engine)
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
            tables = set(sa.inspect(connection).get_table_names())
        if revision is None and tables - {"alembic_version"}:
            raise StoreError(
                f"the database already has tables ({', '.join(sorted(tables)[:5])}, ...) "
                "but no hospiflow schema revision",
                where=str(engine.url.render_as_string(hide_password=True)),
            )
        return upgrade(engine)
    finally:
        if owned:
            engine.dispose()


def ensure_current(connection: Connection) -> None:
    """Refuse to work on a database whose schema is not this version's."""
    revision = current_revision(connection)
    if revision != head_revision():
        hint = "hospiflow db init" if revision is None else "hospiflow db upgrade"
        raise StoreError(
            f"the database schema is at {revision or 'nothing'}, expected {head_revision()}: "
            f"run `{hint}`",
            where=str(connection.engine.url.render_as_string(hide_password=True)),
        )
