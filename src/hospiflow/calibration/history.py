"""A site's visits as columns, and the checks that they can calibrate a twin.

The calibration reads what the store keeps of each observed visit: arrival and
departure, minutes to the first doctor (``wait_min``), disposition, acuity, age,
the doctor's pseudonym and, where the source gives it, when a ward bed was asked
for. Too short a history or missing departures stop the calibration with a
message saying what cannot be estimated and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import HospiflowError
from hospiflow.store import schema
from hospiflow.store import sites as store_sites

MIN_WEEKS = 8  # each hour of the week seen at least 8 times
MIN_DEPARTURE_SHARE = 0.5
_EPOCH = datetime(1970, 1, 1)  # local wall-clock ms count from here (store.timeconv)


class CalibrationError(HospiflowError):
    """The site's data cannot calibrate a twin (too short, no departures, ...)."""

    code = "calibration_invalid"
    http_status = 422


@dataclass(frozen=True)
class History:
    """A site's visits arriving in ``[start, end)`` (local midnights), one row each."""

    site: dict[str, Any]
    run_id: int
    timezone: str
    start: date  # first local day
    end: date  # first local day not included
    visits: pd.DataFrame  # see ``COLUMNS``

    @property
    def days(self) -> int:
        return (self.end - self.start).days


COLUMNS = (
    "arrival_ms",
    "local_ms",  # arrival on the local wall clock, as epoch ms
    "departure_ms",  # NaN: not known
    "wait",  # minutes to the first doctor; NaN: never seen (or not recorded)
    "los",  # minutes in the department
    "disposition",  # records.Disposition value; NaN: not known
    "acuity",
    "age",
    "doctor",  # doctor pseudonym or None
    "bed_request_ms",
    "pathology",  # catalog code, None: unmapped diagnosis
    "specialty",
)


def no_visits(site: str) -> str:
    """Why a site without visit records cannot be calibrated."""
    return (
        f"site {site!r} has no visit records: a calibration needs visits with arrival and "
        "departure times (hourly arrival counts alone give the arrival rate, not stays, "
        "dispositions or capacity); import them first (hospiflow import)"
    )


def local_midnight_ms(day: date, timezone: str) -> int:
    """Epoch ms of local midnight starting ``day``."""
    moment = datetime.combine(day, datetime.min.time(), ZoneInfo(timezone))
    return int(moment.timestamp() * 1000)


def data_days(connection: Connection, run_id: int, timezone: str) -> tuple[date, date] | None:
    """The first local day with an arrival and the day after the last whole one."""
    v = schema.visits
    first, last = connection.execute(
        sa.select(sa.func.min(v.c.arrival_local_ms), sa.func.max(v.c.arrival_local_ms)).where(
            v.c.run_id == run_id
        )
    ).one()
    if first is None:
        return None
    start = (_EPOCH + timedelta(milliseconds=int(first))).date()
    last_day = (_EPOCH + timedelta(milliseconds=int(last))).date()
    return start, max(start + timedelta(days=1), last_day)  # the last, partial day left out


def load_history(connection: Connection, site_name: str, until: date | None = None) -> History:
    """The site's visits before ``until`` (default: its last whole day), checked."""
    site = store_sites.get_site(connection, site_name)
    if site["run_id"] is None:
        raise CalibrationError(
            no_visits(site["name"]),
            where="--site",
        )
    run_id = int(site["run_id"])
    span = data_days(connection, run_id, site["timezone"])
    if span is None:
        raise CalibrationError(no_visits(site["name"]), where="--site")
    start, end = span
    if until is not None:
        end = min(end, until)
    return history_of(site, read_visits(connection, run_id), start, end)


def history_of(site: dict[str, Any], visits: pd.DataFrame, start: date, end: date) -> History:
    """The site's visits arriving on local days ``[start, end)``, checked."""
    lo = local_midnight_ms(start, "UTC")  # local wall-clock ms use UTC arithmetic
    hi = local_midnight_ms(end, "UTC")
    frame = visits[(visits["local_ms"] >= lo) & (visits["local_ms"] < hi)].reset_index(drop=True)
    history = History(site, int(site["run_id"]), site["timezone"], start, end, frame)
    check_history(history)
    return history


def days_text(days: int) -> str:
    """``1 day``, ``56 days``: a count of days as a sentence says it."""
    return f"{days} day" if days == 1 else f"{days} days"


def check_history(history: History) -> None:
    """Refuse histories too short or without departures, saying what cannot be estimated."""
    weeks = history.days / 7
    if history.days < 7 * MIN_WEEKS or history.visits.empty:
        raise CalibrationError(
            f"site {history.site['name']!r} has {days_text(history.days)} of visits "
            f"({history.start} to {history.end - timedelta(days=1)}, {len(history.visits)} "
            f"visits): a calibration needs at least {MIN_WEEKS} weeks, since the arrival rate "
            f"by hour of the week needs each of its 168 hours seen {MIN_WEEKS} times "
            f"(here {weeks:.1f}); nothing was estimated",
            where="--site",
            days=history.days,
        )
    known = float(np.isfinite(history.visits["departure_ms"]).mean())
    if known < MIN_DEPARTURE_SHARE:
        raise CalibrationError(
            f"site {history.site['name']!r}: only {known:.0%} of visits have a departure time: "
            "length of stay, care times, boarding, patients present (census), treatment "
            "spaces and the patience of patients who left unseen cannot be estimated without "
            f"them (at least {MIN_DEPARTURE_SHARE:.0%} needed); nothing was estimated",
            where="--site",
            departure_share=known,
        )


def read_visits(connection: Connection, run_id: int) -> pd.DataFrame:
    """Every visit of the run, one row each (``COLUMNS``), oldest first."""
    v, p, s = schema.visits, schema.pathologies, schema.specialties
    paths = dict(connection.execute(sa.select(p.c.idx, p.c.code).where(p.c.run_id == run_id)).all())
    specs = dict(connection.execute(sa.select(s.c.idx, s.c.code).where(s.c.run_id == run_id)).all())
    rows = connection.execute(
        sa.select(
            v.c.arrival_ms,
            v.c.arrival_local_ms,
            v.c.departure_ms,
            v.c.wait_min,
            v.c.los_min,
            v.c.disposition,
            v.c.acuity,
            v.c.age_years,
            v.c.doctor_key,
            v.c.bed_request_ms,
            v.c.pathology_idx,
            v.c.specialty_idx,
        )
        .where(v.c.run_id == run_id)
        .order_by(v.c.arrival_ms, v.c.id)
    ).all()
    frame = pd.DataFrame(rows, columns=[*COLUMNS])
    for column in (
        "departure_ms",
        "wait",
        "los",
        "disposition",
        "acuity",
        "age",
        "bed_request_ms",
    ):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["pathology"] = [paths.get(i) if i is not None else None for i in frame["pathology"]]
    frame["specialty"] = [specs.get(i) for i in frame["specialty"]]
    return frame
