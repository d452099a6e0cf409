"""``hospiflow forecast``: judge the forecaster (backtest) and forecast a run (run).

``backtest`` works on a plain hourly-count CSV (``--series``) or on a run of the
store (``--run``, with ``--db``/``--database-url``); on a run it also backtests the
saturation risk and the short-term occupancy (when the run has a roster and an
hourly state) and stores every score with the run. ``run`` writes the run's
forecasts (arrivals, risk, staffing, occupancy) into the store.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hospiflow.cli.db import database_options
from hospiflow.errors import ForecastError
from hospiflow.forecast.backtest import BacktestResult, backtest
from hospiflow.forecast.series import load_series_csv


@click.group(name="forecast")
def group() -> None:
    """Forecast hourly arrivals and measure how good the forecasts are."""


@group.command(name="backtest")
@click.option(
    "--series",
    "series_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV file of hourly arrival counts (or use --run).",
)
@click.option("--run", "run_id", type=int, default=None, help="Backtest this run of the store.")
@database_options
@click.option("--time-column", default=None, help="Column holding the hour (or the date).")
@click.option("--hour-column", default=None, help="Column holding the hour 0-23, if separate.")
@click.option("--count-column", default=None, help="Column holding the arrival counts.")
@click.option(
    "--tz",
    default=None,
    help="Time zone when the times are UTC instants (converted to local wall-clock hours).",
)
@click.option("--country", default="FR", show_default=True, help="Public holidays: ISO country.")
@click.option("--subdivision", default=None, help="Public holidays: region (e.g. IA for Iowa).")
@click.option("--test-days", default=365, show_default=True, type=int, help="Days of test.")
@click.option(
    "--calibration-days",
    type=int,
    default=None,
    help="Risk calibration days before the test (default: all the history allows).",
)
@click.option(
    "--waiting-per-doctor",
    type=float,
    default=1.0,
    show_default=True,
    help="Queue-forming threshold: patients waiting per doctor on duty (hourly average; "
    "the Now status's measure, whose amber is 4 and red 8).",
)
@click.option("--no-risk", is_flag=True, help="Backtest the arrivals only.")
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the scores as JSON to this file.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def backtest_command(
    series_path: Path | None,
    run_id: int | None,
    db: str | None,
    database_url: str | None,
    time_column: str | None,
    hour_column: str | None,
    count_column: str | None,
    tz: str | None,
    country: str,
    subdivision: str | None,
    test_days: int,
    calibration_days: int | None,
    waiting_per_doctor: float,
    no_risk: bool,
    json_path: Path | None,
    no_progress: bool,
) -> None:
    """Rolling-origin, day-ahead backtest of every model on the last TEST_DAYS days."""
    if test_days < 1:
        raise ForecastError("must be at least 1", where="--test-days")
    if (series_path is None) == (run_id is None):
        raise ForecastError("give either --series FILE or --run ID", where="--series")
    if series_path is not None:
        if not time_column:
            raise ForecastError("is required with --series", where="--time-column")
        if not count_column:
            raise ForecastError("is required with --series", where="--count-column")
        series = load_series_csv(series_path, time_column, count_column, hour_column, tz)
        result = backtest(
            series,
            country=country,
            subdivision=subdivision,
            test_days=test_days,
            progress=not no_progress,
        )
        Console().print(results_table(result))
        if json_path is not None:
            result.to_json(json_path)
            click.echo(f"scores written to {json_path}")
        return
    from hospiflow.forecast.saturation import SaturationSettings
    from hospiflow.forecast.storebacktest import backtest_run
    from hospiflow.store.engine import resolve_database_url

    assert run_id is not None  # exactly one of --series and --run, checked above
    url = resolve_database_url(db, database_url)
    scores = backtest_run(
        url,
        run_id,
        country=country,
        subdivision=subdivision,
        test_days=test_days,
        calibration_days=calibration_days,
        settings=SaturationSettings(waiting_per_doctor=waiting_per_doctor),
        risk=not no_risk,
        progress=not no_progress,
    )
    console = Console()
    console.print(results_table(scores.arrivals))
    if scores.operational is not None:
        for table in operational_tables(scores.operational.to_dict()):
            console.print(table)
    elif scores.note:
        click.echo(f"risk and occupancy not backtested: {scores.note}")
    if scores.status_risk is not None:
        console.print(status_risk_table(scores.status_risk))
    click.echo(f"scores stored with run {run_id}")
    if json_path is not None:
        scores.to_json(json_path)
        click.echo(f"scores written to {json_path}")


@group.command(name="run")
@click.option("--run", "run_id", type=int, default=None, help="Run to forecast (default: newest).")
@database_options
@click.option("--country", default="FR", show_default=True, help="Public holidays: ISO country.")
@click.option("--subdivision", default=None, help="Public holidays: region.")
@click.option(
    "--waiting-per-doctor",
    type=float,
    default=1.0,
    show_default=True,
    help="Queue-forming threshold: patients waiting per doctor on duty (hourly average; "
    "the Now status's measure, whose amber is 4 and red 8).",
)
@click.option(
    "--target-probability",
    type=float,
    default=0.1,
    show_default=True,
    help="Staffing advice: keep the probability of saturation at or below this.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def run_command(
    run_id: int | None,
    db: str | None,
    database_url: str | None,
    country: str,
    subdivision: str | None,
    waiting_per_doctor: float,
    target_probability: float,
    no_progress: bool,
) -> None:
    """Forecast a run: next 168 h of arrivals, 28 days of totals, risk, staffing, occupancy."""
    from hospiflow.forecast.saturation import SaturationSettings
    from hospiflow.forecast.service import ForecastOptions, ForecastService
    from hospiflow.store import migrate
    from hospiflow.store.engine import resolve_database_url
    from hospiflow.store.timeconv import iso

    url = resolve_database_url(db, database_url)
    migrate.init(url)
    settings = SaturationSettings(
        waiting_per_doctor=waiting_per_doctor, target_probability=target_probability
    )
    service = ForecastService(url, ForecastOptions(country, subdivision, settings))
    try:
        out = service.run(run_id, progress=not no_progress)
    finally:
        service.close()
    click.echo(
        f"run {out['run_id']}: forecast from {iso(out['origin_ms'], out['timezone'])} "
        f"({out['rows']} rows, risk {'yes' if out['risk'] else 'no'}, "
        f"calibration {out['calibration']['source']}) in {out['seconds']:.1f} s"
    )


def results_table(result: BacktestResult) -> Table:
    """One row per model, the best (lowest mean pinball loss) marked."""
    table = Table(
        title=f"Day-ahead backtest, {result.test_start:%Y-%m-%d} to {result.test_end:%Y-%m-%d}",
        caption="best = lowest mean pinball loss; MASE vs same hour last week; "
        "coverage of the 90 % interval; MAPE of daily totals",
    )
    table.add_column("model")
    for column in ("MAE", "RMSE", "MASE", "pinball", "coverage90", "daily MAPE %"):
        table.add_column(column, justify="right")
    for name, scores in result.models.items():
        mark = " *" if name == result.best else ""
        table.add_row(
            f"{name}{mark}",
            f"{scores.mae:.3f}",
            f"{scores.rmse:.3f}",
            f"{scores.mase:.3f}",
            f"{scores.pinball:.3f}",
            f"{scores.coverage90:.3f}",
            f"{scores.daily_mape:.2f}",
            style="bold green" if mark else None,
        )
    return table


def operational_tables(data: dict) -> list[Table]:
    """The risk scores, its reliability table and the occupancy errors."""
    risk = data["risk"]
    scores = Table(
        title=f"Saturation risk, {data['test_start'][:10]} to {data['test_end'][:10]}",
        caption=data["rule"],
    )
    for column in ("Brier", "Brier raw", "Brier base rate", "skill", "base rate", "hours"):
        scores.add_column(column, justify="right")
    scores.add_row(
        f"{risk['brier']:.4f}",
        f"{risk['brier_raw']:.4f}",
        f"{risk['brier_base_rate']:.4f}",
        f"{risk['brier_skill']:.3f}",
        f"{risk['base_rate']:.3f}",
        f"{risk['cases']:,}",
    )
    reliability = Table(title="Reliability (test period)", caption="bins of predicted probability")
    for column in ("bin", "cases", "predicted", "observed", "gap"):
        reliability.add_column(column, justify="right")
    for row in risk["reliability"]:
        if row["cases"]:
            gap = row["observed"] - row["predicted"]
            reliability.add_row(
                f"{row['low']:.1f}-{row['high']:.1f}",
                f"{row['cases']:,}",
                f"{row['predicted']:.3f}",
                f"{row['observed']:.3f}",
                f"{gap:+.3f}",
                style="red" if row["cases"] >= 100 and abs(gap) > 0.05 else None,
            )
    tables = [scores, reliability]
    occupancy = data.get("occupancy") or {}
    if occupancy.get("horizons"):
        occ = Table(
            title="Patients present, hours ahead (hospital)",
            caption=f"{occupancy['origins']:,} origins; persistence = as many as now",
        )
        for column in ("hours ahead", "MSE", "MSE persistence", "better by"):
            occ.add_column(column, justify="right")
        for row in occupancy["horizons"]:
            occ.add_row(
                str(row["hours_ahead"]),
                f"{row['mse']:.2f}",
                f"{row['mse_persistence']:.2f}",
                f"{100 * row['improvement']:.0f} %",
            )
        tables.append(occ)
    return tables


def status_risk_table(data: dict) -> Table:
    """Brier skill of the risks on the shared status rule: red 1-8 h ahead, tension tomorrow."""
    table = Table(
        title="Risks on the status rule (test period)",
        caption="skill over the base rate of the same hour of the week (red) or day of the "
        "week (tension)",
    )
    for column in ("risk", "Brier", "Brier base rate", "skill", "base rate", "cases"):
        table.add_column(column, justify="right")
    red = data.get("red")
    for row in red["horizons"] if red else []:
        table.add_row(
            f"red in {row['hours_ahead']} h",
            f"{row['brier']:.4f}",
            f"{row['brier_base_rate']:.4f}",
            f"{row['brier_skill']:.3f}" if row["brier_skill"] is not None else "-",
            f"{row['base_rate']:.3f}",
            f"{row['cases']:,}",
        )
    tension = data.get("tension")
    if tension:
        table.add_row(
            "tension tomorrow",
            f"{tension['brier']:.4f}",
            f"{tension['brier_base_rate']:.4f}",
            f"{tension['brier_skill']:.3f}" if tension["brier_skill"] is not None else "-",
            f"{tension['base_rate']:.3f}",
            f"{tension['cases']:,}",
        )
    for key, name in (("red_note", "red in 1-8 h"), ("tension_note", "tension tomorrow")):
        if data.get(key):
            table.add_row(name, data[key], "", "", "", "")
    return table
