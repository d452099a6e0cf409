"""The daily inputs of the FEDORU tension indicators, from a run's visits, stored.

One row per local day of the run (``tension_daily``), computed from its visits by
:func:`compute` and kept with a fingerprint of the visits it came from
(:func:`fingerprint`: count, newest id, sums over departures, dispositions and
ages). :func:`daily` answers from the stored rows while the fingerprint holds and
recomputes and replaces them when the data changed (an import, a corrected
extract, a feed message, a run still being written), so simulated runs and
imported sites alike stay current without hooks in every writer.

What the data allow (a column stays NULL otherwise, and :func:`availability`
says why):

* attendances: always (visits by local day of arrival);
* admissions (HET3 mean stay of admitted patients, HET4 admission rate): only
  when the run records any admission or transfer (``records.Disposition``);
  today's simulated runs discharge everyone, so they show "not available";
* HET5 patients present at 15:00 local: from arrivals and departures
  (``store.census`` rules for open visits);
* HET6 attendances aged 75 or more: only when the run records ages;
* HET1 beds available: the day's mean of free ward beds (capacity - in use,
  wards of limited capacity) over the simulator's resource samples
  (``resource_snapshots``, runs with the patient flow); no imported source
  declares ward beds yet.

:func:`crowding_inputs` gathers, at one instant, what NEDOCS and EDWIN need:
patients present and by acuity (visits), treatment spaces, boarders and ward
beds (resource samples), the longest boarding (``bed_request_ms``) and the wait
of the last patient seen; ``None`` where the data do not hold it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.errors import NotFoundError
from hospiflow.records import Disposition
from hospiflow.store import census, schema
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR

__all__ = ["DailyInputs", "availability", "compute", "crowding_inputs", "daily", "fingerprint"]

ADMITTED = (int(Disposition.ADMITTED), int(Disposition.TRANSFERRED))
COLUMNS = (
    "attendances",
    "admitted",
    "disposition_known",
    "admitted_mean_stay_min",
    "present_at_15",
    "attendances_75_plus",
    "beds_available",
)


@dataclass(frozen=True)
class DailyInputs:
    """Consecutive local days (local midnights, epoch ms) and one array per column
    (float, NaN where the data do not allow it)."""

    days_local_ms: np.ndarray
    values: dict[str, np.ndarray]
    version: str
    recomputed: bool


def fingerprint(connection: Connection, run_id: int) -> str:
    """A digest of what the indicators read from the run's visits (one scan)."""
    v = schema.visits
    row = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.max(v.c.id),
            sa.func.sum(sa.func.coalesce(v.c.departure_ms, 0) % 1_000_003),
            sa.func.sum(sa.func.coalesce(v.c.disposition, 0)),
            sa.func.sum(sa.func.coalesce(v.c.age_years, 0)),
            sa.func.sum(sa.func.coalesce(v.c.arrival_ms, 0) % 1_000_003),
        ).where(v.c.run_id == run_id)
    ).one()
    status = connection.execute(
        sa.select(schema.runs.c.status).where(schema.runs.c.id == run_id)
    ).scalar()
    if status is None:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    text = "|".join(str(x) for x in (*row, status))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def availability(connection: Connection, run_id: int) -> dict[str, str | None]:
    """Per indicator input: ``None`` when the data allow it, else the reason."""
    v = schema.visits
    mine = v.c.run_id == run_id
    admitted = connection.execute(
        sa.select(v.c.id).where(mine, v.c.disposition.in_(ADMITTED)).limit(1)
    ).first()
    aged = connection.execute(
        sa.select(v.c.id).where(mine, v.c.age_years.is_not(None)).limit(1)
    ).first()
    no_admission = (
        None
        if admitted
        else "no admission recorded: the data hold no visit admitted or transferred"
    )
    wards = connection.execute(
        sa.select(schema.resource_snapshots.c.id)
        .where(
            schema.resource_snapshots.c.run_id == run_id,
            schema.resource_snapshots.c.resource == "ward",
            schema.resource_snapshots.c.capacity > 0,
        )
        .limit(1)
    ).first()
    return {
        "beds_available": None
        if wards
        else "no ward beds declared: neither the scenario nor the site declares ward capacity "
        "and occupancy",
        "attendances": None,
        "admitted_mean_stay_min": no_admission,
        "admission_rate": no_admission,
        "present_at_15": None,
        "attendances_75_plus": None if aged else "no ages recorded in the data",
    }


def _local_days(connection: Connection, run_id: int, timezone: str) -> np.ndarray:
    v = schema.visits
    first, last = connection.execute(
        sa.select(sa.func.min(v.c.arrival_local_ms), sa.func.max(v.c.arrival_local_ms)).where(
            v.c.run_id == run_id
        )
    ).one()
    if first is None:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(first) // MS_PER_DAY, int(last) // MS_PER_DAY
    return np.arange(lo, hi + 1, dtype=np.int64) * MS_PER_DAY


def compute(connection: Connection, run_id: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every local day of the run and its inputs, from the visits (NaN where unknown)."""
    v = schema.visits
    timezone = census._timezone(connection, run_id)
    days = _local_days(connection, run_id, timezone)
    n = len(days)
    out = {c: np.full(n, np.nan) for c in COLUMNS}
    if n == 0:
        return days, out
    day = v.c.arrival_local_ms // MS_PER_DAY
    admitted = v.c.disposition.in_(ADMITTED)
    stmt = (
        sa.select(
            day.label("day"),
            sa.func.count(),
            sa.func.sum(sa.case((admitted, 1), else_=0)),
            sa.func.count(v.c.disposition),
            sa.func.sum(sa.case((admitted & v.c.los_min.is_not(None), v.c.los_min), else_=0.0)),
            sa.func.sum(sa.case((admitted & v.c.los_min.is_not(None), 1), else_=0)),
            sa.func.sum(sa.case((v.c.age_years >= 75, 1), else_=0)),
        )
        .where(v.c.run_id == run_id)
        .group_by(day)
    )
    rows = np.array(connection.execute(stmt).all(), dtype=float).reshape(-1, 7)
    index = rows[:, 0].astype(np.int64) - days[0] // MS_PER_DAY
    found = availability(connection, run_id)
    out["attendances"][:] = 0.0
    out["attendances"][index] = rows[:, 1]
    if found["admission_rate"] is None:
        out["admitted"][:] = 0.0
        out["disposition_known"][:] = 0.0
        out["admitted"][index] = rows[:, 2]
        out["disposition_known"][index] = rows[:, 3]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["admitted_mean_stay_min"][index] = np.where(
                rows[:, 5] > 0, rows[:, 4] / np.maximum(rows[:, 5], 1), np.nan
            )
    if found["attendances_75_plus"] is None:
        out["attendances_75_plus"][:] = 0.0
        out["attendances_75_plus"][index] = rows[:, 6]
    out["present_at_15"] = _present_at_15(connection, run_id, days, timezone)
    if found["beds_available"] is None:
        out["beds_available"] = _beds_available(connection, run_id, days)
    return days, out


def _beds_available(connection: Connection, run_id: int, days: np.ndarray) -> np.ndarray:
    """Mean free ward beds per local day over the resource samples (NaN: no sample)."""
    r = schema.resource_snapshots
    per_sample = (
        sa.select(
            r.c.time_ms,
            (r.c.local_ms // MS_PER_DAY).label("day"),
            sa.func.sum(r.c.capacity - r.c.in_use).label("free"),
        )
        .where(r.c.run_id == run_id, r.c.resource == "ward", r.c.capacity > 0)
        .group_by(r.c.time_ms, r.c.local_ms)
        .subquery()
    )
    rows = connection.execute(
        sa.select(per_sample.c.day, sa.func.avg(per_sample.c.free)).group_by(per_sample.c.day)
    ).all()
    out = np.full(len(days), np.nan)
    first = int(days[0]) // MS_PER_DAY
    for day, free in rows:
        i = int(day) - first
        if 0 <= i < len(days):
            out[i] = float(free)
    return out


def crowding_inputs(connection: Connection, run_id: int, at_ms: int) -> dict[str, Any]:
    """What NEDOCS and EDWIN need at ``at_ms`` (``None``: not in the data)."""
    v, r = schema.visits, schema.resource_snapshots
    out: dict[str, Any] = dict.fromkeys(
        (
            "treatment_spaces",
            "boarding",
            "hospital_beds",
            "ventilated",
            "longest_boarding_hours",
            "last_bedded_wait_hours",
            "patients_by_acuity",
        )
    )
    out["patients_present"] = census.present_at(connection, run_id, at_ms)
    latest = connection.execute(
        sa.select(sa.func.max(r.c.time_ms)).where(r.c.run_id == run_id, r.c.time_ms <= at_ms)
    ).scalar()
    if latest is not None:
        rows = connection.execute(
            sa.select(r.c.resource, r.c.capacity, r.c.queue).where(
                r.c.run_id == run_id, r.c.time_ms == latest
            )
        ).all()
        spaces = [c for kind, c, _q in rows if kind == "space"]
        wards = [(c, q) for kind, c, q in rows if kind == "ward"]
        if spaces and all(c > 0 for c in spaces):
            out["treatment_spaces"] = sum(spaces)
        if wards and all(c > 0 for c, _q in wards):
            out["hospital_beds"] = sum(c for c, _q in wards)
            out["boarding"] = sum(q for _c, q in wards)
            out["ventilated"] = 0  # the twin models no ventilator: counted as none
    longest = _stays_window(connection, run_id, at_ms)
    present = v.c.arrival_ms <= at_ms
    still = sa.or_(v.c.departure_ms > at_ms, v.c.departure_ms.is_(None))
    boarding = connection.execute(
        sa.select(sa.func.min(v.c.bed_request_ms)).where(
            v.c.run_id == run_id,
            v.c.arrival_ms >= at_ms - longest,
            present,
            still,
            v.c.bed_request_ms <= at_ms,
        )
    ).scalar()
    if out["boarding"] is not None:
        out["longest_boarding_hours"] = (
            0.0 if boarding is None else (at_ms - int(boarding)) / MS_PER_HOUR
        )
    acuity = connection.execute(
        sa.select(v.c.acuity, sa.func.count())
        .where(
            v.c.run_id == run_id,
            v.c.arrival_ms >= at_ms - longest,
            present,
            still,
            v.c.acuity.is_not(None),
        )
        .group_by(v.c.acuity)
    ).all()
    if acuity:
        out["patients_by_acuity"] = {int(a): int(n) for a, n in acuity if 1 <= a <= 5}
    seen = v.c.arrival_ms + v.c.wait_min * 60_000
    last = connection.execute(
        sa.select(v.c.wait_min)
        .where(
            v.c.run_id == run_id,
            v.c.arrival_ms >= at_ms - longest,
            v.c.wait_min.is_not(None),
            seen <= at_ms,
        )
        .order_by(seen.desc())
        .limit(1)
    ).scalar()
    if last is not None:
        out["last_bedded_wait_hours"] = float(last) / 60.0
    return out


def _stays_window(connection: Connection, run_id: int, at_ms: int) -> int:
    """How far back a visit present at ``at_ms`` may have arrived (the longest stay)."""
    del at_ms
    longest, _last = census._bounds(connection, run_id)
    return longest


def _present_at_15(
    connection: Connection, run_id: int, days: np.ndarray, timezone: str
) -> np.ndarray:
    """Patients present at 15:00 local of every day (arrived at or before, not yet gone)."""
    local = pd.to_datetime(days + 15 * MS_PER_HOUR, unit="ms")
    utc = local.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    at = utc.as_unit("ms").asi8.astype(np.int64)
    arrivals, departures = census.stays(connection, run_id, int(at[0]), int(at[-1]) + 1)
    present = np.searchsorted(np.sort(arrivals), at, side="right") - np.searchsorted(
        np.sort(departures), at, side="right"
    )
    return present.astype(float)


def _stored(
    connection: Connection, run_id: int
) -> tuple[str | None, np.ndarray, dict[str, np.ndarray]]:
    t = schema.tension_daily
    rows = connection.execute(
        sa.select(t.c.day_local_ms, t.c.version, *[t.c[c] for c in COLUMNS])
        .where(t.c.run_id == run_id)
        .order_by(t.c.day_local_ms)
    ).all()
    if not rows:
        return None, np.zeros(0, dtype=np.int64), {}
    data = np.array([[r[0], *r[2:]] for r in rows], dtype=float)
    values = {c: data[:, i + 1] for i, c in enumerate(COLUMNS)}
    return rows[0][1], data[:, 0].astype(np.int64), values


def store(
    engine: Engine, run_id: int, days: np.ndarray, values: dict[str, np.ndarray], version: str
) -> None:
    """Replace the run's stored rows in one transaction."""
    t = schema.tension_daily
    rows: list[dict[str, Any]] = []
    for i, d in enumerate(days):
        row: dict[str, Any] = {"run_id": run_id, "day_local_ms": int(d), "version": version}
        for c in COLUMNS:
            x = values[c][i]
            row[c] = None if not np.isfinite(x) else (float(x) if "mean" in c else int(x))
        rows.append(row)
    with engine.begin() as writer:
        writer.execute(sa.delete(t).where(t.c.run_id == run_id))
        if rows:
            writer.execute(sa.insert(t), rows)


def daily(connection: Connection, run_id: int, writer: Engine | None = None) -> DailyInputs:
    """The run's daily inputs: stored ones while current, else recomputed (and stored
    through ``writer`` when given)."""
    version = fingerprint(connection, run_id)
    stored_version, days, values = _stored(connection, run_id)
    if stored_version == version:
        return DailyInputs(days, values, version, recomputed=False)
    days, values = compute(connection, run_id)
    if writer is not None:
        try:
            store(writer, run_id, days, values, version)
        except sa.exc.OperationalError:
            # a read-only or busy store: the answer stands, the cache waits for next time
            pass
    return DailyInputs(days, values, version, recomputed=True)
