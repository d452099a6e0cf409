"""A run's key figures an hour ago and "usual for this hour of the week".

The usual of a figure at ``as_of`` is its mean over the same local hour of the
week (the 60 minutes ending at the same local wall-clock time) in the previous
``WEEKS`` weeks the data cover; the runs read are the run and the history run it
continues (a live run's own weeks are few). Weeks before the data start are left
out, so a short history averages over fewer weeks (``weeks`` in the answer says
how many); no week at all gives None, never a zero.

* simulated runs: the state samples (patients waiting, in treatment, doctors on
  duty and busy, summed over specialties, averaged over the samples of each hour)
  and arrivals (the visits, written once patients leave, which all have by a week
  later);
* a site's observed run: arrivals from the visits and patients present at the
  same instant of each previous week (:func:`hospiflow.store.census.present_at`).

Each read is a range of an index (``ix_snapshots_time``, ``ix_visits_arrival``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.store import census, schema
from hospiflow.store.timeconv import MS_PER_HOUR, to_ms

__all__ = [
    "STATE_FIGURES",
    "WEEKS",
    "state_totals",
    "usual_arrivals",
    "usual_present",
    "usual_state",
    "week_windows",
]

WEEKS = 8
STATE_FIGURES = ("waiting", "in_treatment", "doctors_on_duty", "doctors_busy")


def week_windows(as_of: int, timezone: str, first_ms: int, weeks: int = WEEKS) -> list[int]:
    """The UTC instants of the same local wall-clock time 1..``weeks`` weeks before
    ``as_of``, those whose hour starts at or after ``first_ms`` (the data start)."""
    zone = ZoneInfo(timezone)
    wall = datetime.fromtimestamp(as_of / 1000, zone).replace(tzinfo=None)
    ends = []
    for k in range(1, weeks + 1):
        end = to_ms((wall - timedelta(weeks=k)).replace(tzinfo=zone))
        if end - MS_PER_HOUR >= first_ms:
            ends.append(end)
    return ends


def state_totals(connection: Connection, run_ids: list[int], at_ms: int) -> dict[str, int] | None:
    """The state figures summed over specialties at the newest sample at or before
    ``at_ms`` and less than an hour older; None without one."""
    s = schema.state_snapshots
    newest = connection.execute(
        sa.select(s.c.run_id, sa.func.max(s.c.time_ms))
        .where(s.c.run_id.in_(run_ids), s.c.time_ms <= at_ms, s.c.time_ms > at_ms - MS_PER_HOUR)
        .group_by(s.c.run_id)
    ).all()
    if not newest:
        return None
    run_id, time_ms = max(newest, key=lambda row: row[1])
    sums = connection.execute(
        sa.select(*(sa.func.sum(getattr(s.c, name)) for name in STATE_FIGURES)).where(
            s.c.run_id == run_id, s.c.time_ms == time_ms
        )
    ).one()
    return {name: int(value or 0) for name, value in zip(STATE_FIGURES, sums, strict=True)}


def usual_state(
    connection: Connection, run_ids: list[int], ends: list[int]
) -> dict[str, float] | None:
    """Mean state figures over the samples of the hours ending at ``ends``."""
    if not ends:
        return None
    s = schema.state_snapshots
    windows = [sa.and_(s.c.time_ms > end - MS_PER_HOUR, s.c.time_ms <= end) for end in ends]
    stmt = (
        sa.select(s.c.run_id, s.c.time_ms, *(sa.func.sum(getattr(s.c, n)) for n in STATE_FIGURES))
        .where(
            s.c.run_id.in_(run_ids),
            s.c.time_ms > min(ends) - MS_PER_HOUR,  # one bounded range of the index
            s.c.time_ms <= max(ends),
            sa.or_(*windows),
        )
        .group_by(s.c.run_id, s.c.time_ms)
    )
    rows = connection.execute(stmt).all()
    if not rows:
        return None
    return {
        name: sum(float(row[2 + i]) for row in rows) / len(rows)
        for i, name in enumerate(STATE_FIGURES)
    }


def usual_arrivals(connection: Connection, run_ids: list[int], ends: list[int]) -> float | None:
    """Mean arrivals (visits) in the hours ending at ``ends``."""
    if not ends:
        return None
    v = schema.visits
    windows = [sa.and_(v.c.arrival_ms > end - MS_PER_HOUR, v.c.arrival_ms <= end) for end in ends]
    count = connection.execute(
        sa.select(sa.func.count()).where(
            v.c.run_id.in_(run_ids),
            v.c.arrival_ms > min(ends) - MS_PER_HOUR,
            v.c.arrival_ms <= max(ends),
            sa.or_(*windows),
        )
    ).scalar_one()
    return int(count) / len(ends)


def usual_present(connection: Connection, run_id: int, ends: list[int]) -> float | None:
    """An observed run's mean patients present at the instants ``ends``."""
    if not ends:
        return None
    return sum(census.present_at(connection, run_id, end) for end in ends) / len(ends)
