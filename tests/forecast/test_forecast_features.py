"""Calendar features: hour of week, holidays, trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hospiflow.errors import ForecastError
from hospiflow.forecast.features import calendar_features, hour_of_week


def test_hour_of_week_runs_monday_to_sunday() -> None:
    """Monday 00:00 is 0, Monday 01:00 is 1, Sunday 23:00 is 167."""
    index = pd.DatetimeIndex(["2025-01-06 00:00", "2025-01-06 01:00", "2025-01-12 23:00"])
    assert hour_of_week(index).tolist() == [0, 1, 167]


def test_french_holiday_and_day_after() -> None:
    """Bastille Day (14 July) is a holiday in France and 15 July the day after."""
    index = pd.date_range("2025-07-13", periods=72, freq="h")
    features = calendar_features(index)  # France by default
    by_day = features.groupby(index.normalize())[["holiday", "day_after_holiday"]].max()
    assert by_day.loc["2025-07-14"].tolist() == [1.0, 0.0]
    assert by_day.loc["2025-07-15"].tolist() == [0.0, 1.0]
    assert by_day.loc["2025-07-13"].tolist() == [0.0, 0.0]


def test_country_and_subdivision_are_parameters() -> None:
    """Thanksgiving counts in the US (Iowa) but not in France."""
    index = pd.date_range("2017-11-23", periods=24, freq="h")
    assert calendar_features(index, "US", "IA")["holiday"].eq(1).all()
    assert calendar_features(index, "FR")["holiday"].eq(0).all()


def test_unknown_country_or_subdivision_is_named() -> None:
    """A bad country or region raises ForecastError saying which setting is wrong."""
    index = pd.date_range("2025-01-01", periods=2, freq="h")
    with pytest.raises(ForecastError) as caught:
        calendar_features(index, "XX")
    assert caught.value.where == "country"
    with pytest.raises(ForecastError) as caught:
        calendar_features(index, "US", "ZZ")
    assert caught.value.where == "subdivision"


def test_trend_is_in_years_and_increasing() -> None:
    """The trend grows by one per year (365.25 days) on a fixed origin."""
    index = pd.DatetimeIndex(["2020-01-01", "2021-01-01"])
    trend = calendar_features(index)["trend"].to_numpy()
    assert np.diff(trend)[0] == pytest.approx(366 / 365.25)
