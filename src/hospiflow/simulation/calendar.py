"""The run's clock: hour slots in local wall-clock time, and doctors' duty periods.

The engine counts minutes from the start of the reported period (local
midnight of ``start_date``). The timeline is cut into 60-minute *slots*
starting ``warmup_hours`` before that instant; slot ``k`` covers minutes
``[(k - warmup_hours) * 60, (k - warmup_hours + 1) * 60)``. Each slot knows
its local hour, weekday, month, local day and UTC offset, so profiles and
shifts follow the hospital's wall clock across daylight-saving changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from hospiflow.simulation.scenario import WEEKDAYS, Scenario

DRAIN_HOURS = 48  # after the last arrival, doctors keep treating for at most this long


@dataclass(frozen=True)
class Calendar:
    """Per-slot local time attributes of one run (arrays indexed by slot)."""

    start_utc: datetime
    timezone: str
    warmup_hours: int
    horizon_hours: int
    local_hour: np.ndarray
    weekday: np.ndarray  # 0 = Monday
    month: np.ndarray  # 1..12
    day_index: np.ndarray  # local days since start_date (negative during warm-up)
    month_index: np.ndarray  # months since the start month
    offset_minutes: np.ndarray  # local time minus UTC

    @property
    def n_slots(self) -> int:
        return len(self.local_hour)

    @property
    def begin_minute(self) -> float:
        """Minute (relative to the start) at which the simulation begins: start of warm-up."""
        return -60.0 * self.warmup_hours

    @property
    def horizon_minute(self) -> float:
        return 60.0 * self.horizon_hours

    def reported_slots(self) -> slice:
        """The slots of the reported period (no warm-up, no drain)."""
        return slice(self.warmup_hours, self.warmup_hours + self.horizon_hours)


def build_calendar(scenario: Scenario, extra_hours: int = DRAIN_HOURS) -> Calendar:
    """Slots from the start of warm-up to the horizon plus ``extra_hours`` of drain."""
    warmup_hours = math.ceil(scenario.warmup_days * 24)
    horizon_hours = scenario.horizon_hours
    start_utc = scenario.start_local.astimezone(UTC)
    n = warmup_hours + horizon_hours + extra_hours
    utc = pd.date_range(
        start=pd.Timestamp(start_utc) - pd.Timedelta(hours=warmup_hours), periods=n, freq="h"
    )
    local = utc.tz_convert(scenario.timezone)
    naive_local = local.tz_localize(None)
    offset = ((naive_local - utc.tz_localize(None)) / pd.Timedelta(minutes=1)).to_numpy()
    local_days = naive_local.normalize()
    start_day = pd.Timestamp(scenario.start_date)
    day_index = ((local_days - start_day) / pd.Timedelta(days=1)).to_numpy().astype(np.int64)
    month_index = (
        (local.year - scenario.start_date.year) * 12 + (local.month - scenario.start_date.month)
    ).to_numpy()
    return Calendar(
        start_utc=start_utc,
        timezone=scenario.timezone,
        warmup_hours=warmup_hours,
        horizon_hours=horizon_hours,
        local_hour=local.hour.to_numpy().astype(np.int64),
        weekday=local.day_of_week.to_numpy().astype(np.int64),
        month=local.month.to_numpy().astype(np.int64),
        day_index=day_index,
        month_index=np.asarray(month_index, dtype=np.int64),
        offset_minutes=offset.astype(np.int64),
    )


def hourly_arrival_rates(scenario: Scenario, calendar: Calendar) -> np.ndarray:
    """Expected arrivals per hour in each slot: λ × hourly × weekday × monthly (profiles mean 1)."""
    hourly = np.asarray(scenario.hourly_profile, dtype=float)
    weekday = np.asarray(scenario.weekday_profile, dtype=float)
    monthly = np.asarray(scenario.monthly_profile, dtype=float)
    hourly = hourly / hourly.mean()
    weekday = weekday / weekday.mean()
    monthly = monthly / monthly.mean()
    rates: np.ndarray = (
        scenario.arrival_rate_per_hour
        * hourly[calendar.local_hour]
        * weekday[calendar.weekday]
        * monthly[calendar.month - 1]
    )
    return rates


@dataclass(frozen=True)
class DutyPlan:
    """A doctor's planned duty periods, in run minutes, merged where they touch."""

    specialty: str
    shift: str
    periods: tuple[tuple[float, float], ...]


def duty_plans(scenario: Scenario, calendar: Calendar) -> list[DutyPlan]:
    """One plan per doctor: every shift block expanded over the run's local days."""
    zone = ZoneInfo(scenario.timezone)
    begin = calendar.begin_minute
    end = 60.0 * (calendar.n_slots - calendar.warmup_hours)
    first_day = scenario.start_date - timedelta(days=math.ceil(calendar.warmup_hours / 24) + 1)
    n_days = math.ceil(calendar.n_slots / 24) + 3
    start_utc = calendar.start_utc
    plans: list[DutyPlan] = []
    for shift in scenario.shifts:
        if shift.doctors == 0:
            continue
        days = {WEEKDAYS.index(d) for d in shift.days}
        periods: list[list[float]] = []
        for offset in range(n_days):
            day = first_day + timedelta(days=offset)
            if day.weekday() not in days:
                continue
            local_start = datetime.combine(day, datetime.min.time(), zone) + timedelta(
                minutes=shift.start_minute
            )
            local_end = local_start + timedelta(minutes=shift.length_minutes)
            a = (local_start.astimezone(UTC) - start_utc).total_seconds() / 60.0
            b = (local_end.astimezone(UTC) - start_utc).total_seconds() / 60.0
            a, b = max(a, begin), min(b, end)
            if b <= a:
                continue
            if periods and a <= periods[-1][1]:
                periods[-1][1] = max(periods[-1][1], b)
            else:
                periods.append([a, b])
        frozen = tuple((a, b) for a, b in periods)
        for _ in range(shift.doctors):
            plans.append(DutyPlan(shift.specialty, shift.name, frozen))
    return plans
