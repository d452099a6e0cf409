"""The daily summary: one local day of a run on one printable page.

:func:`daily_summary` answers, for a local date of the run's hospital:

* arrivals, beside the usual for that weekday (mean of the same weekday over the
  previous ``USUAL_WEEKS`` weeks that hold data, this run and the history run it
  continues);
* door-to-doctor waits (median, 90th percentile: NumPy's default linear
  interpolation, as everywhere in the store) of the patients who arrived that day;
* length of stay (median, p90) and the share of stays within 4 hours (the NHS
  England four-hour standard's measure: arrival to departure);
* the FEDORU tension level of the day (``hospiflow.tension.het``, HET global
  level and whether 3 indicators reached level 3);
* staffing gaps: the hours whose mean state (state samples averaged over the hour)
  was amber or red under the one saturation rule (``hospiflow.tension.status``),
  by specialty.

What the data cannot tell is named in ``not_in_data`` (an import has no
rosters or queue samples; some have no first-seen times) and its figures are
None, never zero.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.store import schema
from hospiflow.store import tension as store_tension
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR, to_ms
from hospiflow.tension.het import HetSettings, assess
from hospiflow.tension.status import StatusRule, levels_array

__all__ = ["FOUR_HOURS_MIN", "USUAL_WEEKS", "daily_summary", "day_bounds"]

USUAL_WEEKS = 8
FOUR_HOURS_MIN = 240.0


def day_bounds(day: date, timezone: str) -> tuple[int, int]:
    """UTC ms of the local midnights starting and ending ``day`` (23 or 25 h across DST)."""
    zone = ZoneInfo(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    after = day + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=zone)
    return to_ms(start), to_ms(end)


def _local_midnight(day: date) -> int:
    return (day - date(1970, 1, 1)).days * MS_PER_DAY


def _quantiles(values: np.ndarray) -> dict[str, Any]:
    if not len(values):
        return {"n": 0, "median": None, "p90": None, "mean": None}
    return {
        "n": int(len(values)),
        "median": round(float(np.percentile(values, 50)), 1),
        "p90": round(float(np.percentile(values, 90)), 1),
        "mean": round(float(np.mean(values)), 1),
    }


def _usual_arrivals(
    connection: Connection, runs: list[int], day: date, timezone: str
) -> tuple[float | None, int]:
    """Mean arrivals on the same weekday in the previous weeks holding data; (mean, days)."""
    v = schema.visits
    first, _ = day_bounds(day - timedelta(weeks=USUAL_WEEKS), timezone)
    start, _ = day_bounds(day, timezone)
    local_day = v.c.arrival_local_ms // MS_PER_DAY
    rows = connection.execute(
        sa.select(local_day, sa.func.count())
        .where(v.c.run_id.in_(runs), v.c.arrival_ms >= first, v.c.arrival_ms < start)
        .group_by(local_day)
    ).all()
    weekday = _local_midnight(day) // MS_PER_DAY % 7
    same = [int(n) for d, n in rows if int(d) % 7 == weekday]
    return (round(sum(same) / len(same), 1), len(same)) if same else (None, 0)


def _tension(
    connection: Connection, run_id: int, day: date, writer: Engine | None
) -> dict[str, Any]:
    inputs = store_tension.daily(connection, run_id, writer=writer)
    found = np.nonzero(inputs.days_local_ms == _local_midnight(day))[0]
    if not len(found):
        return {"global_level": None, "tension": None, "known_indicators": 0}
    result = assess(inputs.values, store_tension.availability(connection, run_id), HetSettings())
    i = int(found[0])
    known = sum(1 for ind in result["indicators"].values() if ind["level"][i] >= 0)
    level = int(result["global"][i])
    return {
        "global_level": level if level >= 0 else None,
        "tension": bool(result["tension"][i]) if level >= 0 else None,
        "known_indicators": known,
    }


def _staffing(
    connection: Connection, run_id: int, start: int, end: int, rule: StatusRule
) -> list[dict[str, Any]] | None:
    """Per specialty, its amber and red hours of the day (None: no queue samples)."""
    s, sp = schema.state_snapshots, schema.specialties
    hour = s.c.local_ms // MS_PER_HOUR
    rows = connection.execute(
        sa.select(
            s.c.specialty_idx,
            hour,
            sa.func.avg(s.c.waiting),
            sa.func.avg(s.c.doctors_on_duty),
        )
        .where(s.c.run_id == run_id, s.c.time_ms >= start, s.c.time_ms < end)
        .group_by(s.c.specialty_idx, hour)
        .order_by(s.c.specialty_idx, hour)
    ).all()
    if not rows:
        return None
    names = dict(
        connection.execute(sa.select(sp.c.idx, sp.c.code).where(sp.c.run_id == run_id)).all()
    )
    data = np.array([[r[0], r[1], float(r[2]), float(r[3])] for r in rows])
    levels = levels_array(data[:, 2], data[:, 3], rule)
    out: dict[int, dict[str, Any]] = {}
    for (idx, local_hour, waiting, doctors), level in zip(data, levels, strict=True):
        entry = out.setdefault(
            int(idx),
            {
                "specialty": names.get(int(idx), str(int(idx))),
                "amber_hours": 0,
                "red_hours": 0,
                "hours": [],
            },
        )
        if level >= 1:
            name = "red" if level == 2 else "amber"
            entry[f"{name}_hours"] += 1
            entry["hours"].append(
                {
                    "hour": f"{int(local_hour) % 24:02d}:00",
                    "level": name,
                    "waiting": round(float(waiting), 1),
                    "doctors_on_duty": round(float(doctors), 1),
                }
            )
    return [out[k] for k in sorted(out)]


def daily_summary(
    connection: Connection,
    run_id: int,
    day: date,
    rule: StatusRule,
    predecessor: int | None = None,
    writer: Engine | None = None,
) -> dict[str, Any]:
    """The summary of local ``day`` of a run (see the module); ``predecessor``: the
    history run it continues (its weeks count for the usual arrivals)."""
    timezone = connection.execute(
        sa.select(schema.runs.c.timezone).where(schema.runs.c.id == run_id)
    ).scalar_one()
    start, end = day_bounds(day, timezone)
    v = schema.visits
    rows = connection.execute(
        sa.select(v.c.wait_min, v.c.los_min).where(
            v.c.run_id == run_id, v.c.arrival_ms >= start, v.c.arrival_ms < end
        )
    ).all()
    table = np.array([[np.nan if x is None else x for x in r] for r in rows], dtype=float)
    table = table.reshape(-1, 2)
    waits = table[:, 0][np.isfinite(table[:, 0])]
    stays = table[:, 1][np.isfinite(table[:, 1])]
    runs = [run_id] if predecessor is None else [run_id, predecessor]
    usual, usual_days = _usual_arrivals(connection, runs, day, timezone)
    staffing = _staffing(connection, run_id, start, end, rule)
    not_in_data = []
    if len(table) and not len(waits):
        not_in_data.append("waits")
    if staffing is None:
        not_in_data.append("staffing")
    within = int(np.count_nonzero(stays <= FOUR_HOURS_MIN))
    return {
        "day": day.isoformat(),
        "weekday": day.weekday(),
        "arrivals": {"count": int(len(table)), "usual": usual, "usual_days": usual_days},
        "waits": None if "waits" in not_in_data else _quantiles(waits),
        "stays": _quantiles(stays),
        "within_4h": {
            "share": round(within / len(stays), 4) if len(stays) else None,
            "within": within,
            "known": int(len(stays)),
        },
        "tension": _tension(connection, run_id, day, writer),
        "staffing": staffing,
        "not_in_data": not_in_data,
    }
