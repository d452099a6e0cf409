"""Treatment spaces and doctors: declared by the site, else inferred from its visits.

Spaces: the site's declared capacity, else the 99th percentile of the hourly mean
census (patients present; ``store.census``, Isken's hillmaker arithmetic): a
department seldom holds more patients than it has spaces.

Doctors, in order of preference: the site's declared roster; else, with doctor
pseudonyms on the visits, per specialty and hour of day the median over days of the
distinct doctors who saw a new patient in that hour; else the offered load (arrivals
× care time, Little's law) at ``UTILISATION``, so doctors are not a bottleneck the
data cannot show (listed as not estimated).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hospiflow.simulation.scenario import WEEKDAYS, Shift
from hospiflow.store.census import mean_census
from hospiflow.store.timeconv import MS_PER_HOUR, MS_PER_MIN

UTILISATION = 0.5
CENSUS_PERCENTILE = 99


def census_spaces(visits: pd.DataFrame, start_ms: int, end_ms: int) -> tuple[int, np.ndarray]:
    """Spaces inferred from the census, and the hourly mean census it came from."""
    known = visits[np.isfinite(visits["departure_ms"])]
    edges = np.arange(start_ms, end_ms + 1, MS_PER_HOUR, dtype=np.int64)
    census = mean_census(
        known["arrival_ms"].to_numpy(dtype=np.int64),
        known["departure_ms"].to_numpy(dtype=np.int64),
        edges,
    )
    return max(1, math.ceil(float(np.percentile(census, CENSUS_PERCENTILE)))), census


def shifts_from_hours(specialty: str, doctors: Sequence[int]) -> list[Shift]:
    """24 hourly headcounts as shifts: each run of equal counts is one block."""
    shifts: list[Shift] = []
    h = 0
    while h < 24:
        end = h
        while end < 24 and doctors[end] == doctors[h]:
            end += 1
        if doctors[h] > 0:
            shifts.append(
                Shift(specialty, f"{h:02d}:00", f"{end % 24:02d}:00", int(doctors[h]), WEEKDAYS)
            )
        h = end
    return shifts


def roster_shifts(roster: dict[str, Any]) -> list[Shift]:
    """The site's declared roster (checked when it was declared) as shifts."""
    return [
        Shift(
            specialty=raw["specialty"],
            start=raw["start"],
            end=raw["end"],
            doctors=int(raw["doctors"]),
            days=tuple(raw.get("days", WEEKDAYS)),
            label=raw.get("label", ""),
        )
        for raw in roster.get("shifts", [])
    ]


def doctors_from_ids(visits: pd.DataFrame) -> dict[str, list[int]]:
    """Per specialty, 24 hourly headcounts: median distinct doctors starting a patient."""
    seen = visits[visits["doctor"].notna() & visits["wait"].notna()]
    first_seen = seen["local_ms"] + seen["wait"] * MS_PER_MIN
    hour_index = (first_seen // MS_PER_HOUR).astype(np.int64)
    frame = pd.DataFrame(
        {"specialty": seen["specialty"], "hour": hour_index, "doctor": seen["doctor"]}
    )
    distinct = frame.groupby(["specialty", "hour"])["doctor"].nunique().reset_index()
    distinct["hod"] = distinct["hour"] % 24
    days = max(1, int((hour_index.max() - hour_index.min()) // 24 + 1)) if len(frame) else 1
    out: dict[str, list[int]] = {}
    for specialty, group in distinct.groupby("specialty"):
        counts = []
        for h in range(24):
            values = group.loc[group["hod"] == h, "doctor"].to_numpy()
            values = np.concatenate([values, np.zeros(max(days - len(values), 0))])
            counts.append(int(math.ceil(float(np.median(values)))) if len(values) else 0)
        out[str(specialty)] = [max(c, 1) for c in counts]
    return out


def doctors_from_load(
    rate: float,
    hourly: Sequence[float],
    weekday: Sequence[float],
    share: dict[str, float],
    care_minutes: dict[str, float],
) -> dict[str, list[int]]:
    """Per specialty, 24 hourly headcounts: the busiest weekday's offered load / UTILISATION."""
    peak = max(weekday) / (sum(weekday) / len(weekday))
    mean_hour = sum(hourly) / len(hourly)
    out = {}
    for specialty, p in share.items():
        busy = [
            rate * (hourly[h] / mean_hour) * peak * p * care_minutes[specialty] / 60.0
            for h in range(24)
        ]
        out[specialty] = [max(1, math.ceil(b / UTILISATION)) for b in busy]
    return out
