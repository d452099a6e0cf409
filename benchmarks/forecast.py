"""Forecasting benchmark: fit time of the ladder on 3 years, and a 365-day backtest.

Run: ``python benchmarks/forecast.py`` (``--no-backtest`` for the fit only,
``--no-run`` to skip the forecast run). The forecast run (arrivals 168 h + 28 days,
saturation risk, staffing, occupancy; a quick risk calibration included) is timed on
3 simulated years of the default hospital in a temporary SQLite file, then again
as a live refresh (predict only).
Uses the UIHC arrivals file beside the repository (``../shared/ed-data/...``) when it
is there, else a synthetic Poisson series of the same size and level. Issue 6's goal:
fitting the full ladder on 3 years of hourly history takes at most 60 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from hospiflow.forecast.backtest import backtest
from hospiflow.forecast.models import model_ladder
from hospiflow.forecast.series import load_series_csv

UIHC_CSV = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "ed-data"
    / "uihc-iowa"
    / "uihc_ed_arrivals.csv"
)
FIT_GOAL_SECONDS = 60.0
BACKTEST_GOAL_SECONDS = 300.0  # "a few minutes on 2 cores"
RUN_GOAL_SECONDS = 30.0  # a forecast run, risk and staffing included
REFRESH_GOAL_SECONDS = 5.0  # a live hourly refresh must fit well within a simulated hour


def forecast_run_times() -> tuple[float, float, float, str]:
    """(simulate+store, forecast run, live refresh) seconds on 3 simulated years."""
    import tempfile

    from hospiflow.forecast.service import ForecastService
    from hospiflow.runner import simulate_run
    from hospiflow.simulation.scenario import default_scenario
    from hospiflow.store import migrate

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        migrate.init(url)
        started = time.perf_counter()
        run_id = simulate_run(default_scenario(days=3 * 365.0), database_url=url).run_id
        simulated = time.perf_counter() - started
        service = ForecastService(url)
        try:
            started = time.perf_counter()
            out = service.run(run_id, progress=True)
            full = time.perf_counter() - started
            started = time.perf_counter()
            service.run(run_id, refit=False)
            refresh = time.perf_counter() - started
        finally:
            service.close()
    return simulated, full, refresh, out["calibration"]["source"]


def history() -> tuple[pd.Series, str, str, str | None]:
    """The series to time on, its name, and its holiday country/subdivision."""
    if UIHC_CSV.is_file():
        series = load_series_csv(UIHC_CSV, "Date", "Arrivals", hour_column="Hour")
        return series, "UIHC (Iowa)", "US", "IA"
    index = pd.date_range("2013-07-01", "2018-03-31 23:00", freq="h")
    how = (index.day_of_week * 24 + index.hour).to_numpy()
    rate = 6.6 * (1 + 0.5 * np.sin(2 * np.pi * (how % 24 - 8) / 24)) * (1 + 0.05 * (how < 24))
    counts = np.random.default_rng(0).poisson(rate).astype(float)
    return pd.Series(counts, index=index), "synthetic Poisson", "FR", None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-backtest", action="store_true", help="time the fit only")
    parser.add_argument("--no-run", action="store_true", help="skip the forecast run")
    args = parser.parse_args()

    series, source, country, subdivision = history()
    three_years = series[series.index > series.index[-1] - pd.Timedelta(days=3 * 365)]
    table = Table(title=f"Forecast benchmark on {source}, {len(three_years):,} hours fitted")
    for column in ("step", "seconds", "goal s", "ratio"):
        table.add_column(column, justify="left" if column == "step" else "right")

    total = 0.0
    for model in model_ladder(country, subdivision):
        started = time.perf_counter()
        model.fit(three_years)
        elapsed = time.perf_counter() - started
        total += elapsed
        table.add_row(f"fit {model.name}", f"{elapsed:.2f}", "", "")
    table.add_row(
        "fit full ladder (3 years)",
        f"{total:.2f}",
        f"{FIT_GOAL_SECONDS:.0f}",
        f"{total / FIT_GOAL_SECONDS:.3f}",
        style="bold",
    )
    if not args.no_backtest:
        started = time.perf_counter()
        result = backtest(
            series, country=country, subdivision=subdivision, test_days=365, progress=True
        )
        elapsed = time.perf_counter() - started
        table.add_row(
            f"backtest 365 days (weekly refits, {len(series):,} h)",
            f"{elapsed:.1f}",
            f"{BACKTEST_GOAL_SECONDS:.0f}",
            f"{elapsed / BACKTEST_GOAL_SECONDS:.3f}",
            style="bold",
        )
        table.caption = f"best model: {result.best}"
    if not args.no_run:
        simulated, full, refresh, calibration = forecast_run_times()
        table.add_row("simulate + store 3 years (setup)", f"{simulated:.1f}", "", "")
        table.add_row(
            f"forecast run + risk + staffing (calibration: {calibration})",
            f"{full:.1f}",
            f"{RUN_GOAL_SECONDS:.0f}",
            f"{full / RUN_GOAL_SECONDS:.3f}",
            style="bold",
        )
        table.add_row(
            "live refresh (predict, risk, staffing)",
            f"{refresh:.2f}",
            f"{REFRESH_GOAL_SECONDS:.0f}",
            f"{refresh / REFRESH_GOAL_SECONDS:.3f}",
            style="bold",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
