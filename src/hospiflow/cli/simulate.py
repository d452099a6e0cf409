"""``hospiflow simulate`` and ``hospiflow scenario``: run the twin, write the reports."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hospiflow.cli.db import database_options
from hospiflow.errors import HospiflowError
from hospiflow.runner import simulate_run
from hospiflow.simulation.engine import Engine, SimulationResult
from hospiflow.simulation.recorder import kpis
from hospiflow.simulation.scenario import (
    ROUTING_POLICIES,
    Scenario,
    load_scenario,
    scenario_to_toml,
)
from hospiflow.store.engine import resolve_database_url


def _apply_overrides(scenario: Scenario, **overrides: Any) -> Scenario:
    changes = {key: value for key, value in overrides.items() if value is not None}
    return scenario.replace(**changes) if changes else scenario


@click.command()
@click.option(
    "--scenario",
    "scenario_source",
    default="default",
    show_default=True,
    help="Built-in scenario (default, stationary) or a scenario TOML file.",
)
@click.option("--days", type=float, help="Length of the reported period, in days.")
@click.option("--seed", type=int, help="Random seed (same seed, same reports).")
@click.option("--rate", type=float, help="Mean arrival rate, patients per hour.")
@click.option("--routing", type=click.Choice(ROUTING_POLICIES), help="Queueing policy.")
@click.option("--start-date", type=click.DateTime(["%Y-%m-%d"]), help="First reported day.")
@click.option("--warmup-days", type=float, help="Days simulated before the start, not reported.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder of the five CSV reports.",
)
@click.option("--no-reports", is_flag=True, help="Do not write the CSV reports.")
@database_options
@click.option("--no-store", is_flag=True, help="Do not write the run into the store.")
@click.option(
    "--replications",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Independent replications; adds 95% confidence intervals to performance_metrics.csv.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Processes for the replications.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def simulate(
    scenario_source: str,
    days: float | None,
    seed: int | None,
    rate: float | None,
    routing: str | None,
    start_date: Any,
    warmup_days: float | None,
    out: Path,
    no_reports: bool,
    db: str | None,
    database_url: str | None,
    no_store: bool,
    replications: int,
    workers: int | None,
    quiet: bool,
) -> None:
    """Simulate the hospital: write the five CSV reports and the run into the store.

    The store is ./hospiflow.db unless --db, --database-url or
    $HOSPIFLOW_DATABASE_URL says otherwise.
    """
    scenario = _apply_overrides(
        _load(scenario_source),
        days=days,
        seed=seed,
        arrival_rate_per_hour=rate,
        routing=routing,
        start_date=start_date.date() if start_date is not None else None,
        warmup_days=warmup_days,
    )
    if not no_reports:
        _check_out(out)
    console = Console(stderr=True, quiet=quiet)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    begin = -60.0 * Engine.warmup_hours(scenario)
    total = 60.0 * Engine.horizon_hours(scenario) - begin
    with Progress(*columns, console=console, transient=True) as progress:
        replication_task = (
            progress.add_task(f"Replications 2..{replications}", total=replications - 1)
            if replications > 1
            else None
        )
        task = progress.add_task(f"Simulating {scenario.days:g} days", total=total)
        outcome = _writing_reports(out)(simulate_run)(
            scenario,
            out_dir=None if no_reports else out,
            database_url=None if no_store else resolve_database_url(db, database_url),
            replications=replications,
            workers=workers,
            progress=lambda minute: progress.update(task, completed=min(minute - begin, total)),
            on_replication=None
            if replication_task is None
            else lambda _i: progress.advance(replication_task),
        )
    if not quiet:
        _print_summary(outcome.result, console)
    if outcome.run_id is not None:
        click.echo(f"Stored as run {outcome.run_id} in {_display_url(db, database_url)}")
    if outcome.report_paths:
        click.echo(f"Reports written to {out}/:")
        for path in outcome.report_paths:
            click.echo(f"  {path}")


def _load(source: str | Path) -> Scenario:
    """``load_scenario``, naming the file when it is not UTF-8 text."""
    try:
        return load_scenario(source)
    except UnicodeDecodeError as error:
        raise HospiflowError(
            f"not UTF-8 text (byte {error.object[error.start : error.start + 1]!r} at byte "
            f"{error.start}); save the file as UTF-8",
            where=str(source),
        ) from error


def _check_out(out: Path) -> None:
    """Refuse an --out folder that cannot be made or written before simulating, not after."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HospiflowError(
            f"cannot make the reports folder {out}: {error.strerror}", where="--out"
        ) from error
    if not os.access(out, os.W_OK):
        raise HospiflowError(f"the reports folder {out} is not writable", where="--out")


def _writing_reports(out: Path) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn a failed write of a report (a full disk, a file-size limit) into one clear error."""

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except OSError as error:
                room = error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
                why = "no room left on the disk" if room else "cannot write"
                raise HospiflowError(
                    f"{why} while writing the reports into {out} ({error.strerror})",
                    where="--out",
                ) from error

        return call

    return wrap


def _display_url(db: str | None, database_url: str | None) -> str:
    url = resolve_database_url(db, database_url)
    return url.split("///", 1)[1] if url.startswith("sqlite:///") else url.split("@")[-1]


def _print_summary(result: SimulationResult, console: Console) -> None:
    rows = kpis(result)
    by_scope: dict[str, dict[str, float]] = {}
    for metric, scope, value, _unit in rows:
        by_scope.setdefault(scope, {})[metric] = value
    table = Table(
        title=f"{result.n_patients:,} patients over {result.run.days:g} days (waits in minutes)"
    )
    table.add_column("specialty", no_wrap=True)
    for header in ("arrivals", "mean wait", "p90 wait", "utilisation", "LWBS"):
        table.add_column(header, justify="right")
    for scope, m in by_scope.items():
        table.add_row(
            scope,
            f"{int(m['arrivals']):,}",
            _fmt(m["wait_mean"]),
            _fmt(m["wait_p90"]),
            _fmt(m["utilisation"], 2),
            f"{int(m['left_without_being_seen']):,}",
            style="bold" if scope == "all" else None,
        )
    console.print(table)


def _fmt(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


@click.group()
def scenario() -> None:
    """Show or check scenario files."""


@scenario.command("show")
@click.argument("source", default="default")
def scenario_show(source: str) -> None:
    """Print a scenario as documented TOML (redirect it to a file to edit it)."""
    sys.stdout.write(scenario_to_toml(_load(source)))


@scenario.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def scenario_check(path: Path) -> None:
    """Validate a scenario file; print what it describes."""
    loaded = _load(path)
    doctors = loaded.doctors_per_specialty()
    click.echo(
        f"{path}: valid — {loaded.days:g} days from {date.isoformat(loaded.start_date)}, "
        f"{loaded.arrival_rate_per_hour:g} patients/hour, routing {loaded.routing}, "
        f"{sum(doctors.values())} doctors' posts over {len(doctors)} specialties"
    )
