"""Creating and upgrading the store's schema with Alembic, from code.

The migration scripts ship inside the package (``store/migrations``), so an
installed hospiflow can bring any older database file up to date without an
``alembic.ini`` in the working folder.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.errors import StoreError
from hospiflow.store.engine import create_engine_for

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(str(resources.files("hospiflow.store") / "migrations"))
_REVISION_LINE = re.compile(r'^(down_revision|revision)\s*=\s*"([^"]*)"', re.MULTILINE)


def alembic_config(url: str | None = None) -> Config:
    """A programmatic Alembic configuration pointing at the packaged scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@cache
def head_revision() -> str:
    """The newest schema revision this version of hospiflow knows.

    Read from the scripts' ``revision``/``down_revision`` lines rather than
    through Alembic, whose import alone cost most of `hospiflow db status`'s
    start-up; ``tests/store/test_store_migrate.py`` checks both agree.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (SCRIPT_LOCATION / "versions").glob("*.py"):
        text = script.read_text("utf-8")
        found = {m.group(1): m.group(2) for m in _REVISION_LINE.finditer(text)}
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", ""))
    heads = revisions - parents
    if len(heads) != 1:
        raise StoreError(f"the migrations have {len(heads)} heads: {sorted(heads)}", where="store")
    return heads.pop()


def current_revision(bind: Connection) -> str | None:
    """The schema revision a database is at (None: never initialised)."""
    if not sa.inspect(bind).has_table("alembic_version"):
        return None
    versions = bind.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if len(versions) == 1 else None


def _engine(url_or_engine: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    return create_engine_for(url_or_engine), True


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> str:
    """Bring a database to ``revision`` (the newest by default); returns the revision."""
    engine, owned = _engine(url_or_engine)
    try:
        from alembic import command

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
