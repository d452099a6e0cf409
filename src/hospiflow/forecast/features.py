"""Calendar features for an hourly wall-clock index.

Emergency arrivals follow the clock and the calendar: the hour of the week carries
most of the signal, the month a seasonal level, public holidays (and the day after,
when people who waited come in) a shift, and the trend a slow drift in demand.
Everything here is a function of the timestamp alone, so it can be computed for
future hours without any look-ahead.
"""

from __future__ import annotations

from datetime import date

import holidays
import numpy as np
import pandas as pd

from hospiflow.errors import ForecastError

__all__ = [
    "HOURS_PER_WEEK",
    "calendar_features",
    "holiday_flags",
    "hour_of_week",
]

HOURS_PER_WEEK = 168
_TREND_ORIGIN = pd.Timestamp("2000-01-01")
_HOURS_PER_YEAR = 24 * 365.25


def hour_of_week(index: pd.DatetimeIndex) -> np.ndarray:
    """0 for Monday 00:00 up to 167 for Sunday 23:00."""
    return (index.day_of_week * 24 + index.hour).to_numpy(dtype=np.int64)


def holiday_flags(
    index: pd.DatetimeIndex, country: str = "FR", subdivision: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each hour falls on a public holiday, and on the day after one.

    Holidays come from the ``holidays`` package for ``country`` (ISO 3166 code) and
    optional ``subdivision`` (e.g. ``"US"``/``"IA"`` for Iowa).
    """
    if len(index) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    days = index.normalize()
    years = range(int(days.min().year) - 1, int(days.max().year) + 1)
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ForecastError(
            f"no public-holiday calendar for country {country!r} (use an ISO 3166 code, "
            "e.g. FR, US)",
            where="country",
        )
    if subdivision is not None and subdivision not in supported[country]:
        raise ForecastError(
            f"unknown subdivision {subdivision!r} of {country} "
            f"(known: {', '.join(supported[country][:12])}, ...)",
            where="subdivision",
        )
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=years)
    holiday_days = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in calendar if _is_date(d)))
    on_holiday = days.isin(holiday_days)
    after_holiday = days.isin(holiday_days + pd.Timedelta(days=1)) & ~on_holiday
    return np.asarray(on_holiday), np.asarray(after_holiday)


def _is_date(value: object) -> bool:
    return isinstance(value, date)


def calendar_features(
    index: pd.DatetimeIndex, country: str = "FR", subdivision: str | None = None
) -> pd.DataFrame:
    """One row of calendar features per hour of ``index``.

    Columns: ``hour_of_week`` (0-167, categorical in spirit: models one-hot it or treat
    it as a category), ``hour`` (0-23), ``day_of_week`` (0 = Monday), ``month`` (1-12),
    ``day_of_year``, ``holiday`` and ``day_after_holiday`` (0/1; the day after counts
    only when it is not itself a holiday), and ``trend`` (years since 2000-01-01, a
    fixed origin so that features of the past and the future line up).
    """
    index = pd.DatetimeIndex(index)
    on_holiday, after_holiday = holiday_flags(index, country, subdivision)
    return pd.DataFrame(
        {
            "hour_of_week": hour_of_week(index),
            "hour": index.hour.to_numpy(dtype=np.int64),
            "day_of_week": index.day_of_week.to_numpy(dtype=np.int64),
            "month": index.month.to_numpy(dtype=np.int64),
            "day_of_year": index.day_of_year.to_numpy(dtype=np.int64),
            "holiday": on_holiday.astype(np.float64),
            "day_after_holiday": after_holiday.astype(np.float64),
            "trend": ((index - _TREND_ORIGIN) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
            / _HOURS_PER_YEAR,
        },
        index=index,
    )
