"""Rolling-origin backtest of the model ladder: how good would it have been?

Protocol (Tashman 2000, "Out-of-sample tests of forecasting accuracy", IJF 16):

* the test period is the last ``test_days`` complete days of the series;
* every test day a forecast is issued at 00:00 for its 24 hours, knowing every
  count before 00:00 and nothing after (the models see history cut at the origin);
* models are refitted every ``refit_days`` (7: weekly) on all history before the
  origin - an expanding window; each model may itself only use the recent part of it
  (the GLM fits its last two years, which scored better than all history);
* scores per model: MAE, RMSE, MASE, mean pinball loss over q = 0.05, 0.10, ..., 0.95,
  coverage of the 90 % interval [q0.05, q0.95], and daily MAPE (see
  :mod:`hospiflow.forecast.metrics`). MASE is scaled by the in-sample MAE of the
  same-hour-last-week forecast over all history before the test period.
* ``best`` is the model with the lowest mean pinball loss: it scores the whole
  predictive distribution (mean level and spread), which is what the saturation
  risk downstream consumes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hospiflow.errors import ForecastError
from hospiflow.forecast import metrics
from hospiflow.forecast.models import DEFAULT_QUANTILES, Forecaster, model_ladder
from hospiflow.forecast.series import to_hourly_grid

__all__ = ["BacktestResult", "ModelScores", "backtest"]

_Q_LOW, _Q_HIGH = 0.05, 0.95


@dataclass(frozen=True)
class ModelScores:
    """One model's scores on the test period (``daily_mape`` in percent)."""

    mae: float
    rmse: float
    mase: float
    pinball: float
    coverage90: float
    daily_mape: float


@dataclass
class BacktestResult:
    """Scores of every model; ``forecasts`` (means per hour) stay out of the JSON."""

    test_start: pd.Timestamp
    test_end: pd.Timestamp
    best: str
    models: dict[str, ModelScores]
    forecasts: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        """``{"test_start", "test_end", "best", "models": {name: scores}}``, ISO times.

        ``test_start`` is the first forecast hour, ``test_end`` the last one (local
        wall-clock time, no offset: the series carries none).
        """
        return {
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
            "best": self.best,
            "models": {name: asdict(scores) for name, scores in self.models.items()},
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The JSON text of :meth:`to_dict`; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            try:
                Path(path).write_text(text + "\n", encoding="utf-8")
            except OSError as error:
                raise ForecastError(f"cannot write results ({error})", where=str(path)) from None
        return text


def evaluation_period(grid: pd.Series, test_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First 00:00 of the test period and the (exclusive) midnight after it."""
    end = (grid.index[-1] + pd.Timedelta(hours=1)).floor("D")
    start = end - pd.Timedelta(days=test_days)
    return start, end


def backtest(
    series: pd.Series,
    models: Sequence[Forecaster] | None = None,
    *,
    country: str = "FR",
    subdivision: str | None = None,
    test_days: int = 365,
    refit_days: int = 7,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    progress: bool = True,
) -> BacktestResult:
    """Day-ahead rolling-origin backtest of ``models`` (the whole ladder by default).

    ``series`` is an hourly wall-clock count series; needs at least four weeks of
    history before the test period. Returns every model's scores and its hourly mean
    forecasts.
    """
    if test_days < 1:
        raise ForecastError("test_days must be at least 1", where="test_days")
    if refit_days < 1:
        raise ForecastError("refit_days must be at least 1", where="refit_days")
    levels = [float(q) for q in quantiles]
    for needed in (_Q_LOW, _Q_HIGH):
        if not any(abs(q - needed) < 1e-9 for q in levels):
            raise ForecastError(f"quantiles must include {needed}", where="quantiles")
    low, high = levels.index(_closest(levels, _Q_LOW)), levels.index(_closest(levels, _Q_HIGH))

    grid = to_hourly_grid(series)
    start, end = evaluation_period(grid, test_days)
    history_hours = int(grid[grid.index < start].notna().sum())
    if history_hours < 4 * 168:
        raise ForecastError(
            f"need at least 4 weeks of history before the {test_days}-day test period "
            f"(starting {start}), got {history_hours} observed hours",
            where="series",
        )
    models = list(models) if models is not None else model_ladder(country, subdivision)
    names = [model.name for model in models]
    if len(set(names)) != len(names):
        raise ForecastError(f"model names must be unique, got {names}", where="models")

    hours = pd.date_range(start, end - pd.Timedelta(hours=1), freq="h")
    actual = grid.reindex(hours).to_numpy(dtype=float)
    means = {name: np.full(len(hours), np.nan) for name in names}
    bands = {name: np.full((len(hours), len(levels)), np.nan) for name in names}

    origins = pd.date_range(start, end - pd.Timedelta(days=1), freq="D")
    with _progress(progress) as bar:
        task = bar.add_task("backtest", total=len(origins))
        for day, origin in enumerate(origins):
            known = grid.iloc[: grid.index.searchsorted(origin)]
            if day % refit_days == 0:
                for model in models:
                    model.fit(known)
            target = pd.date_range(origin, periods=24, freq="h")
            rows = slice(day * 24, day * 24 + 24)
            for model in models:
                mean, band = model.predict_distribution(target, levels, history=known)
                means[model.name][rows] = mean
                bands[model.name][rows] = band
            bar.advance(task)

    scale = metrics.seasonal_naive_scale(grid[grid.index < start])
    scores = {
        name: ModelScores(
            mae=metrics.mae(actual, means[name]),
            rmse=metrics.rmse(actual, means[name]),
            mase=metrics.mase(actual, means[name], scale),
            pinball=metrics.pinball_loss(actual, bands[name], levels),
            coverage90=metrics.coverage(actual, bands[name][:, low], bands[name][:, high]),
            daily_mape=metrics.daily_mape(hours, actual, means[name]),
        )
        for name in names
    }
    best = min(names, key=lambda name: scores[name].pinball)
    return BacktestResult(
        test_start=hours[0],
        test_end=hours[-1],
        best=best,
        models=scores,
        forecasts=pd.DataFrame(means, index=hours).assign(actual=actual),
    )


def _closest(levels: list[float], value: float) -> float:
    return min(levels, key=lambda q: abs(q - value))


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
