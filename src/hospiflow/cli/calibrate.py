"""``hospiflow calibrate``: fit the twin to a site's visits, or prove it on held-out weeks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hospiflow.cli.db import database_options
from hospiflow.errors import HospiflowError


def _progress(quiet: bool) -> Progress:
    """The fit's progress on stderr, erased when it ends: a refusal or the result's table
    is then all that stays on screen, not bars stopped at 0/8."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=True,
    )


@click.command(name="calibrate")
@click.option("--site", "site_name", required=True, help="The site whose visits to fit.")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Fit on visits arriving before this local day (default: the last whole day).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scenario TOML to write (its catalog goes beside it as <name>.catalog.toml).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fit report CSV (default: <out>-fit.csv).",
)
@click.option(
    "--validate", is_flag=True, help="Fit on all but the last weeks, simulate them, compare."
)
@click.option("--holdout-weeks", default=8, show_default=True, help="Weeks held out by --validate.")
@click.option("--replications", default=20, show_default=True, help="Replications of --validate.")
@click.option("--workers", type=int, help="Processes for the replications (default: the cores).")
@click.option("--country", default="FR", show_default=True, help="Public holidays' country.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@database_options
def calibrate(
    site_name: str,
    until: Any,
    out: Path | None,
    report: Path | None,
    validate: bool,
    holdout_weeks: int,
    replications: int,
    workers: int | None,
    country: str,
    quiet: bool,
    db: str | None,
    database_url: str | None,
) -> None:
    """Fit the twin to a site's visits (--out FILE.toml), or prove it (--validate).

    --out writes a documented scenario, its catalog and a fit report; --validate fits
    on all but the last --holdout-weeks, simulates them and stores the verdict."""
    from hospiflow.calibration.fit import calibrate as fit
    from hospiflow.calibration.history import load_history
    from hospiflow.calibration.writer import catalog_path, write_calibration
    from hospiflow.cli.ingest import _engine

    if not validate and out is None:
        raise HospiflowError("give --out FILE.toml (or --validate)", where="--out")
    engine = _engine(db, database_url)
    steps = 9 if validate else 8  # the fit's parts (+ simulating the held-out weeks)
    try:
        with _progress(quiet) as progress:
            task = progress.add_task("reading the visits", total=steps)

            def step(name: str) -> None:
                progress.update(task, description=name, advance=1)

            if validate:
                _validate(
                    engine, site_name, holdout_weeks, replications, workers, country, progress, step
                )
                return
            with engine.connect() as connection:
                history = load_history(
                    connection, site_name, until.date() if isinstance(until, datetime) else None
                )
            calibration = fit(history, country, step)
            progress.update(task, description="done", completed=steps)
        assert out is not None
        report = report or out.with_name(out.stem + "-fit.csv")
        scenario = write_calibration(calibration, out, report)
        from hospiflow.calibration.writer import scenario_text
        from hospiflow.store import calibrations
        from hospiflow.store import sites as store_sites

        with engine.begin() as connection:
            site = store_sites.get_site(connection, site_name)
            calibrations.save_calibration(
                connection,
                int(site["id"]),
                kind="fit",
                until_local=calibration.until,
                scenario_toml=scenario_text(calibration, scenario, catalog_path(out).name),
                catalog_toml=calibration.catalog_toml,
                details=_details(calibration),
            )
    finally:
        engine.dispose()
    click.echo(f"scenario written to {out} (catalog {catalog_path(out)}, fit report {report})")
    _print_missing(calibration)


def _details(calibration: Any) -> dict[str, Any]:
    return {
        "site": calibration.site,
        "fitted_from": calibration.start,
        "until": calibration.until,
        "not_estimated": [
            {"item": m.item, "default": m.default, "reason": m.reason}
            for m in calibration.not_estimated
        ],
        "plots": calibration.plots,
    }


def _print_missing(calibration: Any) -> None:
    click.echo("not estimated from the data (default used):")
    for item in calibration.not_estimated:
        click.echo(f"  - {item.item}: {item.default} ({item.reason})")


def _validate(
    engine: Any,
    site_name: str,
    holdout_weeks: int,
    replications: int,
    workers: int | None,
    country: str,
    progress: Progress,
    step: Any,
) -> None:
    from hospiflow.calibration.validate import validate_site
    from hospiflow.calibration.writer import scenario_text
    from hospiflow.store import calibrations
    from hospiflow.store import sites as store_sites

    runs = progress.add_task("replications", total=replications)
    result = validate_site(
        engine,
        site_name,
        holdout_weeks=holdout_weeks,
        replications=replications,
        workers=workers,
        country=country,
        step=step,
        on_replication=lambda _i: progress.update(runs, advance=1),
    )
    progress.stop()
    with engine.begin() as connection:
        site = store_sites.get_site(connection, site_name)
        calibrations.save_calibration(
            connection,
            int(site["id"]),
            kind="validation",
            until_local=result.holdout_start,
            holdout_weeks=holdout_weeks,
            replications=replications,
            scenario_toml=scenario_text(result.calibration, result.scenario, "catalog.toml"),
            catalog_toml=result.calibration.catalog_toml,
            criteria=result.criteria_json(),
            passed=result.passed,
            details={
                **_details(result.calibration),
                "holdout_end": result.holdout_end,
                "series": result.series(),
            },
        )
    table = Table(
        title=f"twin fidelity of {site_name}: fitted before {result.holdout_start}, "
        f"{holdout_weeks} weeks held out to {result.holdout_end}, {replications} replications"
    )
    for column in ("criterion", "value", "target", "pass"):
        table.add_column(column)
    for c in result.criteria:
        value = f"{100 * c.value:.1f} %" if c.unit == "%" else f"{c.value:.2f}"
        table.add_row(c.name, value, c.target, "yes" if c.passed else "NO")
    Console().print(table)
    click.echo(
        "twin fidelity: " + ("all criteria hold" if result.passed else "NOT all criteria hold")
    )
    _print_missing(result.calibration)
