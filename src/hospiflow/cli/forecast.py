"""``hospiflow forecast``: judge the forecaster on a hospital's own hourly counts."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

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
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV file of hourly arrival counts.",
)
@click.option("--time-column", required=True, help="Column holding the hour (or the date).")
@click.option("--hour-column", default=None, help="Column holding the hour 0-23, if separate.")
@click.option("--count-column", required=True, help="Column holding the arrival counts.")
@click.option(
    "--tz",
    default=None,
    help="Time zone when the times are UTC instants (converted to local wall-clock hours).",
)
@click.option("--country", default="FR", show_default=True, help="Public holidays: ISO country.")
@click.option("--subdivision", default=None, help="Public holidays: region (e.g. IA for Iowa).")
@click.option("--test-days", default=365, show_default=True, type=int, help="Days of test.")
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the scores as JSON to this file.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def backtest_command(
    series_path: Path,
    time_column: str,
    hour_column: str | None,
    count_column: str,
    tz: str | None,
    country: str,
    subdivision: str | None,
    test_days: int,
    json_path: Path | None,
    no_progress: bool,
) -> None:
    """Rolling-origin, day-ahead backtest of every model on the last TEST_DAYS days."""
    if test_days < 1:
        raise ForecastError("must be at least 1", where="--test-days")
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
