"""Day-ahead arrival forecasts per specialty, issued every day at 00:00: the input of
the saturation-risk and occupancy backtests.

The same protocol as :mod:`hospiflow.forecast.backtest` (rolling origin, expanding
window, refit every ``refit_days``), run for every specialty, with forecasts
``hours_ahead`` UTC hours past each local midnight (32 by default: the day, plus
the first 8 hours of the next one that an occupancy forecast issued at 23:00
reaches). Forecasts are indexed by UTC hour (a day of a daylight-saving change
has 23 or 25 of them); the models see the matching wall-clock hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hospiflow.errors import ForecastError
from hospiflow.forecast.backtest import _progress
from hospiflow.forecast.models import Forecaster, PoissonGLM, _poisson_irls, make_model

__all__ = ["RollingForecasts", "local_midnights_utc", "rolling_forecasts", "wall_clock"]


def wall_clock(hours_utc: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """The local wall-clock hour (tz-naive) of each UTC hour: what the models see."""
    return pd.DatetimeIndex(hours_utc).tz_convert(timezone).tz_localize(None).floor("h")


def local_midnights_utc(days: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """The UTC instants of local midnights (``days`` are tz-naive dates)."""
    return pd.DatetimeIndex(days).tz_localize(timezone).tz_convert("UTC")


@dataclass
class RollingForecasts:
    """``means[origin, hour, specialty]``: the forecast mean arrivals of each UTC hour."""

    origins: pd.DatetimeIndex  # local midnights, tz-naive
    origins_utc: pd.DatetimeIndex
    hours_utc: np.ndarray  # (origins, hours_ahead) of datetime64 UTC
    hours_in_day: np.ndarray  # UTC hours until the next local midnight (23, 24 or 25)
    means: np.ndarray
    model: str


def rolling_forecasts(
    arrivals: pd.DataFrame,
    columns: Sequence[str],
    timezone: str,
    origins: pd.DatetimeIndex,
    *,
    model: str = "poisson_glm",
    country: str = "FR",
    subdivision: str | None = None,
    hours_ahead: int = 32,
    refit_days: int = 7,
    progress: bool = False,
) -> RollingForecasts:
    """Forecast ``columns`` of ``arrivals`` from every origin (local midnights)."""
    origins = pd.DatetimeIndex(origins)
    if len(origins) == 0:
        raise ForecastError("no forecast origin", where="origins")
    if refit_days < 1:
        raise ForecastError("must be at least 1", where="refit_days")
    if model not in ("poisson_glm", "how_mean", "seasonal_naive"):
        # lagged models would need min_lag_hours >= hours_ahead: keep to calendar ones
        raise ForecastError(
            f"the day-ahead risk backtest uses a calendar model, not {model!r}", where="model"
        )
    origins_utc = local_midnights_utc(origins, timezone)
    next_utc = local_midnights_utc(origins + pd.Timedelta(days=1), timezone)
    hours_in_day = ((next_utc - origins_utc) / pd.Timedelta(hours=1)).to_numpy().astype(int)
    steps = pd.to_timedelta(np.arange(hours_ahead), unit="h")
    hours_utc = np.stack([(o + steps).to_numpy() for o in origins_utc])
    means = np.full((len(origins), hours_ahead, len(columns)), np.nan)
    glm = model == "poisson_glm"
    models: list[Forecaster] = [make_model(model, country, subdivision) for _ in columns]
    shared = SharedGLM(country, subdivision) if glm else None
    # one BLAS thread: on a busy 2-core machine threaded BLAS spin-waits on small solves
    with _progress(progress) as bar, threadpool_limits(limits=1, user_api="blas"):
        task = bar.add_task("day-ahead forecasts per specialty", total=len(origins))
        for i, origin in enumerate(origins):
            known = arrivals[arrivals.index < origin]
            if len(known) < 4 * 168:
                raise ForecastError(
                    f"need four weeks of history before {origin:%Y-%m-%d}", where="origins"
                )
            target = wall_clock(pd.DatetimeIndex(hours_utc[i], tz="UTC"), timezone)
            if shared is not None:
                if i % refit_days == 0:
                    shared.fit(known[list(columns)])
                means[i] = shared.predict(target)
            else:
                for j, column in enumerate(columns):
                    if i % refit_days == 0:
                        models[j].fit(known[column])
                    means[i, :, j] = models[j].predict(target, history=known[column])
            bar.advance(task)
    return RollingForecasts(origins, origins_utc, hours_utc, hours_in_day, means, model)


class SharedGLM:
    """One :class:`~hospiflow.forecast.models.PoissonGLM` per column on one design matrix.

    The calendar design depends on the hours only, so the specialties of a hospital
    share it: built once per fit and once per forecast, each column keeps its own
    coefficients. Same model, same estimates as fitting each column alone.
    """

    def __init__(self, country: str = "FR", subdivision: str | None = None) -> None:
        self.glm = PoissonGLM(country, subdivision)
        self.coefs: np.ndarray | None = None

    def fit(self, frame: pd.DataFrame) -> SharedGLM:
        glm = self.glm
        train = frame
        if glm.window_days is not None:
            train = frame[frame.index > frame.index[-1] - pd.Timedelta(days=glm.window_days)]
        train = train.dropna()
        from hospiflow.forecast.features import calendar_features
        from hospiflow.forecast.series import hours_of

        trend = calendar_features(hours_of(train)[-1:], glm.country, glm.subdivision)["trend"]
        glm.trend_origin_ = float(trend.iloc[0])
        design = glm._design(pd.DatetimeIndex(train.index))
        penalties = glm._penalties()
        self.coefs = np.column_stack(
            [_poisson_irls(design, train[c].to_numpy(dtype=float), penalties) for c in train]
        )
        return self

    def predict(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Means ``(len(index), columns)``."""
        if self.coefs is None:
            raise ForecastError("fit before predicting", where="SharedGLM")
        return np.exp(self.glm._design(pd.DatetimeIndex(index)) @ self.coefs)
