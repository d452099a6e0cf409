"""``hospiflow db``: create, upgrade and inspect the store, delete a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hospiflow.store import migrate
from hospiflow.store import runs as store_runs
from hospiflow.store.engine import check_sqlite_file, create_engine_for, resolve_database_url
from hospiflow.store.timeconv import iso, now_ms


def database_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--db FILE`` / ``--database-url URL``, else $HOSPIFLOW_DATABASE_URL, else ./hospiflow.db."""
    command = click.option(
        "--database-url",
        "database_url",
        metavar="URL",
        help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: $HOSPIFLOW_DATABASE_URL).",
    )(command)
    return click.option(
        "--db", "db", metavar="FILE", help="SQLite file (default: ./hospiflow.db)."
    )(command)


def _url(db: str | None, database_url: str | None) -> str:
    return resolve_database_url(db, database_url)


@click.group()
def group() -> None:
    """Create, upgrade and inspect the store."""


@group.command()
@database_options
def init(db: str | None, database_url: str | None) -> None:
    """Create the store's tables in a new database."""
    url = _url(db, database_url)
    revision = migrate.init(url)
    click.echo(f"database ready at schema revision {revision}")


@group.command()
@database_options
def upgrade(db: str | None, database_url: str | None) -> None:
    """Bring an existing database to the current schema."""
    url = _url(db, database_url)
    revision = migrate.upgrade(url)
    click.echo(f"database at schema revision {revision}")


@group.command()
@database_options
def status(db: str | None, database_url: str | None) -> None:
    """List the runs with their status and row counts."""
    url = _url(db, database_url)
    if url.startswith("sqlite:///"):
        check_sqlite_file(url.removeprefix("sqlite:///"), readonly=True)
    engine = create_engine_for(url, readonly=True)
    try:
        with engine.connect() as connection:
            migrate.ensure_current(connection)
            rows = store_runs.list_runs(connection)
    finally:
        engine.dispose()
    if not rows:
        click.echo("no runs")
        return
    header = f"{'id':>5}  {'kind':10}  {'status':8}  {'start':25}  {'visits':>8}  {'events':>9}"
    click.echo(header)
    now = now_ms()
    for r in rows:
        if store_runs.orphan_reason(r, now) is not None:
            r["status"] = "orphaned"  # marked failed by the next writer (serve, delete-run)
        click.echo(
            f"{r['id']:>5}  {r['kind']:10}  {r['status']:8}  "
            f"{iso(r['start_utc_ms'], r['timezone']) or '':25}  "
            f"{r['visits_count']:>8}  {r['events_count']:>9}"
            + (f"  ({r['error']})" if r["error"] else "")
        )


@group.command("delete-run")
@click.argument("run_id", type=int)
@database_options
def delete_run(run_id: int, db: str | None, database_url: str | None) -> None:
    """Delete run RUN_ID and everything it wrote (e.g. a crashed, still 'running' run)."""
    engine = create_engine_for(_url(db, database_url))
    try:
        with engine.begin() as connection:
            migrate.ensure_current(connection)
            store_runs.reap_orphans(connection)
            store_runs.delete_run(connection, run_id, "cli")
    finally:
        engine.dispose()
    click.echo(f"deleted run {run_id}")
