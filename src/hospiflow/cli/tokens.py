"""``hospiflow token``: API tokens with a role (viewer reads, admin also writes).

The token is printed once, at creation; the store keeps only its SHA-256.
"""

from __future__ import annotations

import click
from sqlalchemy.engine import Engine

from hospiflow.cli.db import database_options
from hospiflow.store import migrate
from hospiflow.store import tokens as store_tokens
from hospiflow.store.engine import create_engine_for, resolve_database_url
from hospiflow.store.timeconv import iso


def _engine(db: str | None, database_url: str | None) -> Engine:
    url = resolve_database_url(db, database_url)
    migrate.init(url)  # a new database gets the schema; an existing one is checked
    return create_engine_for(url)


@click.group(name="token")
def group() -> None:
    """Create, list and revoke API tokens (viewer: read; admin: also write)."""


@group.command(name="create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(store_tokens.ROLES),
    default="viewer",
    show_default=True,
    help="viewer: read the API; admin: also import, export, delete, what-if, audit.",
)
@database_options
def create(name: str, role: str, db: str | None, database_url: str | None) -> None:
    """Create token NAME and print it (once: only its hash is stored)."""
    engine = _engine(db, database_url)
    try:
        with engine.begin() as connection:
            token = store_tokens.create_token(connection, name, role)
    finally:
        engine.dispose()
    click.echo(f"{role} token {name!r} created; it is shown only now:", err=True)
    click.echo(token)


@group.command(name="list")
@database_options
def list_(db: str | None, database_url: str | None) -> None:
    """Every token's name, role and creation time."""
    engine = _engine(db, database_url)
    try:
        with engine.connect() as connection:
            rows = store_tokens.list_tokens(connection)
    finally:
        engine.dispose()
    if not rows:
        click.echo("no tokens (create one: hospiflow token create NAME --role viewer|admin)")
        return
    for r in rows:
        click.echo(f"{r['name']:30}  {r['role']:7}  {iso(r['created_at_ms'], 'UTC')}")


@group.command(name="revoke")
@click.argument("name")
@database_options
def revoke(name: str, db: str | None, database_url: str | None) -> None:
    """Delete token NAME: it stops working within seconds on running servers."""
    engine = _engine(db, database_url)
    try:
        with engine.begin() as connection:
            store_tokens.revoke_token(connection, name)
    finally:
        engine.dispose()
    click.echo(f"token {name!r} revoked")
