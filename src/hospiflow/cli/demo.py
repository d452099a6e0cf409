"""``hospiflow demo``: the main job, in one command.

Builds a history (a year of the default hospital, unless the store already
holds one), scores the forecaster on it (the last 91 days: its saturation-risk
calibration is what the live forecasts use), then serves the dashboard with
the hospital running live from where that history ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from hospiflow.cli.db import database_options
from hospiflow.cli.forecast import backtest_command as backtest
from hospiflow.cli.serve import serve
from hospiflow.cli.simulate import simulate
from hospiflow.store import migrate
from hospiflow.store import runs as store_runs
from hospiflow.store.engine import create_engine_for, resolve_database_url

BACKTEST_DAYS = 91


@contextmanager
def _step(text: str) -> Iterator[None]:
    """Say what a step does before it starts and how long it took: nothing runs silently."""
    click.echo(f"{text}…", err=True)
    started = time.monotonic()
    yield
    click.echo(f"  done in {time.monotonic() - started:.0f} s", err=True)


def has_backtest(url: str, run_id: int) -> bool:
    """Whether the run's forecaster has been scored already."""
    from hospiflow.store import forecasts

    engine = create_engine_for(url, readonly=True)
    try:
        with engine.connect() as connection:
            return forecasts.latest_header(connection, run_id, "backtest") is not None
    finally:
        engine.dispose()


def latest_history(url: str, days: float) -> int | None:
    """The newest complete simulation run at least ``days`` long, if any."""
    engine = create_engine_for(url, readonly=True)
    try:
        with engine.connect() as connection:
            for run in store_runs.list_runs(connection, status="complete"):
                span_days = (run["end_utc_ms"] - run["start_utc_ms"]) / 86_400_000
                if run["kind"] == "simulation" and span_days >= days - 1:
                    return int(run["id"])
    finally:
        engine.dispose()
    return None


@click.command()
@database_options
@click.option(
    "--days",
    type=click.FloatRange(min=1),
    default=365.0,
    show_default=True,
    help="Days of history to build first (skipped if the store has one).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Live pace: simulated seconds per real second.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    db: str | None,
    database_url: str | None,
    days: float,
    port: int,
    speed: float,
) -> None:
    """Build a year of history, then serve the dashboard with the hospital live."""
    url = resolve_database_url(db, database_url)
    with _step("Preparing the store"):
        migrate.init(url)
        history = latest_history(url, days)
    if history is None:
        with _step(f"Building {days:g} days of history (reports in ./reports)"):
            ctx.invoke(simulate, days=days, db=db, database_url=database_url)
        history = latest_history(url, days)
    else:
        click.echo(f"Using history run {history} from the store.", err=True)
    if history is not None and not has_backtest(url, history) and days > 2 * BACKTEST_DAYS:
        with _step(f"Scoring the forecaster on the last {BACKTEST_DAYS} days"):
            ctx.invoke(
                backtest, run_id=history, db=db, database_url=database_url, test_days=BACKTEST_DAYS
            )
    click.echo("Starting the live run and the server…", err=True)
    ctx.invoke(
        serve,
        db=db,
        database_url=database_url,
        port=port,
        with_live=True,
        continue_from=history,
        speed=speed,
    )
