"""The model ladder on synthetic Poisson counts with a known hour-of-week profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import poisson_mae_floor, synthetic_series, weekly_profile
from scipy import stats

from hospiflow.errors import ForecastError
from hospiflow.forecast.models import (
    DEFAULT_QUANTILES,
    GBMPoisson,
    HourOfWeekMean,
    PoissonGLM,
    SeasonalNaive,
    count_quantiles,
    fit_dispersion,
    make_model,
    model_ladder,
)

WEEKS = 104  # two years: each of the 168 hour-of-week rates seen 104 times


@pytest.fixture(scope="module")
def history() -> pd.Series:
    return synthetic_series(WEEKS, seed=1)


def expected_mae(rate: np.ndarray, forecast: np.ndarray) -> float:
    """E|Y - f| for Y ~ Poisson(rate), exactly (no sampling noise in the check)."""
    k = np.arange(80)[None, :]
    pmf = stats.poisson.pmf(k, rate[:, None])
    return float(np.mean(np.sum(pmf * np.abs(k - forecast[:, None]), axis=1)))


def test_glm_recovers_the_hour_of_week_profile(history: pd.Series) -> None:
    """The Poisson GLM's mean for the next week is within 7 % of the true rate on average."""
    model = PoissonGLM(window_days=None, trend=False, season_interaction=False).fit(history)
    index = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=168, freq="h")
    relative = np.abs(model.predict(index) / weekly_profile() - 1)
    assert relative.mean() < 0.07
    assert np.corrcoef(model.predict(index), weekly_profile())[0, 1] > 0.99


@pytest.mark.parametrize(
    ("model", "ratio"),
    [
        (PoissonGLM(), 1.02),
        (GBMPoisson(max_iter=100), 1.03),
        (HourOfWeekMean(weeks=12), 1.08),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_models_reach_close_to_the_poisson_floor(model, ratio: float, history: pd.Series) -> None:
    """Expected MAE of each model's next-48-h mean is within ``ratio`` of the Poisson floor."""
    index = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=48, freq="h")
    rate = weekly_profile()[:48]
    floor = expected_mae(rate, rate)
    assert floor == pytest.approx(poisson_mae_floor(rate))
    assert expected_mae(rate, model.fit(history).predict(index)) < ratio * floor


def test_seasonal_naive_is_far_from_the_floor(history: pd.Series) -> None:
    """Same-hour-last-week carries a week's noise: at least 30 % above the floor."""
    index = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=168, freq="h")
    rate = weekly_profile()
    naive = SeasonalNaive().fit(history).predict(index)
    assert expected_mae(rate, naive) > 1.3 * expected_mae(rate, rate)


def test_seasonal_naive_repeats_last_week(history: pd.Series) -> None:
    """Seasonal naive forecasts each hour with the count 168 h earlier, even 10 days ahead."""
    model = SeasonalNaive().fit(history)
    start = history.index[-1] + pd.Timedelta(hours=1)
    index = pd.date_range(start, periods=240, freq="h")
    mean = model.predict(index)
    assert np.array_equal(mean[:168], history.iloc[-168:].to_numpy())
    assert np.array_equal(mean[168:], history.iloc[-168 : -168 + 72].to_numpy())


def test_seasonal_naive_skips_a_missing_week(history: pd.Series) -> None:
    """When last week's hour was not observed the one before is used."""
    holed = history.copy()
    holed.iloc[-168] = np.nan
    model = SeasonalNaive().fit(holed)
    first = pd.DatetimeIndex([history.index[-1] + pd.Timedelta(hours=1)])
    assert model.predict(first)[0] == history.iloc[-336]


def test_quantiles_are_ordered_and_shaped(history: pd.Series) -> None:
    """Each model returns (hours, levels) quantiles, non-decreasing across levels."""
    index = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=24, freq="h")
    for model in model_ladder(names=["seasonal_naive", "how_mean", "poisson_glm"]):
        bands = model.fit(history).predict_quantiles(index, DEFAULT_QUANTILES)
        assert bands.shape == (24, len(DEFAULT_QUANTILES))
        assert np.all(np.diff(bands, axis=1) >= 0)


def test_mid_quantiles_by_hand() -> None:
    """Poisson(1) mid-quantile at 0.5: mid(0)=e^-1/2, mid(1)=1.5 e^-1, interpolated between."""
    e = np.exp(-1)
    mid0, mid1 = e / 2, e + e / 2
    expected = (0.5 - mid0) / (mid1 - mid0)
    result = count_quantiles(np.array([1.0]), [0.5], 0.0, method="mid")
    assert result[0, 0] == pytest.approx(expected)
    assert count_quantiles(np.array([1.0]), [0.5], 0.0, method="integer")[0, 0] == 1


def test_mid_quantile_interval_is_calibrated_on_poisson_draws() -> None:
    """On Poisson draws at the true mean, [q0.05, q0.95] mid-quantiles cover 88-92 %."""
    rng = np.random.default_rng(3)
    mean = rng.uniform(1, 15, size=20_000)
    counts = rng.poisson(mean)
    bands = count_quantiles(mean, [0.05, 0.95])
    inside = np.mean((counts >= bands[:, 0]) & (counts <= bands[:, 1]))
    assert 0.88 <= inside <= 0.92


def test_dispersion_by_moments() -> None:
    """Negative-binomial dispersion is ~0 on Poisson data and ~a on NB(a) data."""
    rng = np.random.default_rng(4)
    mean = np.full(50_000, 6.0)
    assert fit_dispersion(rng.poisson(mean), mean) < 0.01
    n = 1 / 0.2
    draws = rng.negative_binomial(n, n / (n + mean))
    assert fit_dispersion(draws, mean) == pytest.approx(0.2, rel=0.1)


def test_gbm_refuses_a_horizon_beyond_its_lags(history: pd.Series) -> None:
    """GBM with 48 h lags cannot forecast the 49th hour: it would need unknown counts."""
    model = GBMPoisson(max_iter=20).fit(history)
    index = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=49, freq="h")
    with pytest.raises(ForecastError, match="at most 48 h"):
        model.predict(index)
    assert model.predict(index[:48]).shape == (48,)


def test_forecasting_the_known_past_is_refused(history: pd.Series) -> None:
    """Asking for an hour at or before the last known count is an error, not a leak."""
    model = HourOfWeekMean().fit(history)
    with pytest.raises(ForecastError, match="after the last known hour"):
        model.predict(history.index[-24:])


def test_unfitted_and_unknown_models_raise() -> None:
    """Predicting before fitting and asking for an unknown model name are ForecastErrors."""
    with pytest.raises(ForecastError, match="fitted"):
        SeasonalNaive().predict(pd.date_range("2025-01-01", periods=2, freq="h"))
    with pytest.raises(ForecastError, match="unknown model"):
        make_model("prophet")


def test_too_short_history_is_refused() -> None:
    """Less than two weeks of observed hours cannot be fitted."""
    with pytest.raises(ForecastError, match="two weeks"):
        PoissonGLM().fit(synthetic_series(1))
