"""The questions the API and the dashboard ask the store, one SQL statement each.

Every function takes an open ``Connection`` (a read-only one, ideally inside
``engine.time_limit``) and returns plain dicts. Instants are UTC epoch ms,
ranges are half-open ``[start_ms, end_ms)`` (``None``: unbounded), buckets
are the hospital's local hour/day/week (Monday)/month and come back as
``bucket_local_ms`` (a local wall-clock instant, see ``schema``). Each
statement is served by an index; ``tests/store/test_queries.py`` checks the
plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import NotFoundError, StoreError
from hospiflow.records import Disposition, EventKind
from hospiflow.store import schema
from hospiflow.store.sqlfuncs import BUCKETS, bucket_start, dict_rows, hour_of_week, in_range
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR, from_ms

GROUPINGS = (None, "specialty", "pathology")
MAX_PAGE = 5_000
_LWBS = int(Disposition.LEFT_WITHOUT_BEING_SEEN)
_ADMITTED = int(Disposition.ADMITTED)
_TRANSFERRED = int(Disposition.TRANSFERRED)

v = schema.visits
t = schema.treatments
e = schema.events
s = schema.state_snapshots


@dataclass(frozen=True)
class Page:
    """One page of a keyset-paginated list; ``next`` is ``(time_ms, id)`` or None at the end."""

    rows: list[dict[str, Any]]
    next: tuple[int, int] | None


def _check(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise StoreError(
            f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}", where=name
        )


def _group_column(table: sa.Table, by: str | None) -> sa.ColumnElement[int] | None:
    _check("by", by, GROUPINGS)
    return None if by is None else table.c[f"{by}_idx"]


def run(connection: Connection, run_id: int) -> dict[str, Any]:
    """The run's row (status, counts, time zone, ...); ``NotFoundError`` if absent."""
    row = connection.execute(sa.select(schema.runs).where(schema.runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    return dict(row._mapping)


def run_catalog(connection: Connection, run_id: int) -> dict[str, list[dict[str, Any]]]:
    """A run's ``specialties``, ``pathologies`` and ``doctors`` rows, each in index order."""
    return {
        table.name: [
            dict(row)
            for row in connection.execute(
                sa.select(table).where(table.c.run_id == run_id).order_by(table.c.idx)
            ).mappings()
        ]
        for table in (schema.specialties, schema.pathologies, schema.doctors)
    }


def current_state(
    connection: Connection, run_id: int, at_ms: int | None = None
) -> list[dict[str, Any]]:
    """Per specialty: waiting, in treatment, doctors on duty and busy at the latest sample ≤ at."""
    latest = sa.select(sa.func.max(s.c.time_ms)).where(
        s.c.run_id == run_id, *in_range(s.c.time_ms, None, None if at_ms is None else at_ms + 1)
    )
    stmt = (
        sa.select(
            s.c.time_ms,
            s.c.specialty_idx,
            schema.specialties.c.code.label("specialty"),
            s.c.waiting,
            s.c.in_treatment,
            s.c.doctors_on_duty,
            s.c.doctors_busy,
        )
        .join(
            schema.specialties,
            (schema.specialties.c.run_id == s.c.run_id)
            & (schema.specialties.c.idx == s.c.specialty_idx),
        )
        .where(s.c.run_id == run_id, s.c.time_ms == latest.scalar_subquery())
        .order_by(s.c.specialty_idx)
    )
    return dict_rows(connection.execute(stmt))


def _rollups_ready(connection: Connection, run_id: int) -> tuple[bool, int, str]:
    """Whether the run's rollups exist (it is complete), its start and its time zone."""
    r = schema.runs
    row = connection.execute(
        sa.select(r.c.status, r.c.start_utc_ms, r.c.timezone).where(r.c.id == run_id)
    ).first()
    if row is None:
        return False, 0, "UTC"
    return row.status == "complete", row.start_utc_ms, row.timezone


def _on_hour(bound: int | None, start_ms: int) -> bool:
    return bound is None or (bound - start_ms) % MS_PER_HOUR == 0


def _on_local_midnight(bound: int | None, timezone: str) -> bool:
    if bound is None:
        return True
    offset = from_ms(bound, timezone).utcoffset()
    return (bound + int(offset.total_seconds() * 1000 if offset else 0)) % MS_PER_DAY == 0


def arrivals(
    connection: Connection,
    run_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    bucket: str = "hour",
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Arrivals per local hour/day/week/month, per specialty, pathology or in total.

    Counted by arrival instant over ``[start_ms, end_ms)``. A complete run is
    read from its rollups when the range allows it exactly: the daily
    rollup for bounds at local midnights (months, pathologies), the hourly
    one for bounds on the run's hours (hours, days, weeks by specialty);
    otherwise (a running run, a range cutting an hour) from the visits
    through the covering index ``ix_visits_arrival``. The answer is the
    same either way; the rollups are 10-100x fewer rows.
    """
    _check("bucket", bucket, BUCKETS)
    _check("by", by, GROUPINGS)
    ready, run_start, timezone = _rollups_ready(connection, run_id)
    daily_ok = _on_local_midnight(start_ms, timezone) and _on_local_midnight(end_ms, timezone)
    hourly_ok = _on_hour(start_ms, run_start) and _on_hour(end_ms, run_start)
    if ready and daily_ok and (bucket == "month" or (by == "pathology" and bucket != "hour")):
        d = schema.daily_pathology
        time_column = d.c.month_local_ms if bucket == "month" else d.c.day_local_ms
        start_local = None if start_ms is None else _local_ms(start_ms, timezone)
        end_local = None if end_ms is None else _local_ms(end_ms, timezone)
        return _bucketed(
            connection,
            d,
            time_column,
            bucket,
            by,
            [d.c.run_id == run_id, *in_range(d.c.day_local_ms, start_local, end_local)],
            d.c.arrivals,
        )
    if ready and hourly_ok and by != "pathology":
        h = schema.hourly_specialty
        return _bucketed(
            connection,
            h,
            h.c.hour_local_ms,
            bucket,
            by,
            [h.c.run_id == run_id, *in_range(h.c.hour_ms, start_ms, end_ms)],
            h.c.arrivals,
        )
    return _bucketed(
        connection,
        v,
        v.c.arrival_local_ms,
        bucket,
        by,
        [v.c.run_id == run_id, *in_range(v.c.arrival_ms, start_ms, end_ms)],
        None,
    )


def _local_ms(utc_ms: int, timezone: str) -> int:
    offset = from_ms(utc_ms, timezone).utcoffset()
    return utc_ms + (int(offset.total_seconds() * 1000) if offset else 0)


def _bucketed(
    connection: Connection,
    table: sa.Table,
    time_column: Any,
    bucket: str,
    by: str | None,
    where: list[Any],
    count: Any,
) -> list[dict[str, Any]]:
    """Sum of ``count`` (or count of rows) per bucket of ``time_column`` and group, sorted.

    Months go through days first (integer arithmetic), so the backend's date
    function runs once per day, not once per row. Only buckets with arrivals
    are returned, whatever the source.
    """
    key = None if by is None else table.c[f"{by}_idx"]
    measure = sa.func.count() if count is None else sa.func.sum(count)
    if bucket == "month" and time_column.name != "month_local_ms":
        day = bucket_start(time_column, "day").label("day")
        inner = (
            sa.select(day, *([key.label("key")] if key is not None else []), measure.label("n"))
            .where(*where)
            .group_by(day.element, *([key] if key is not None else []))
            .subquery()
        )
        start = bucket_start(inner.c.day, "month").label("bucket_local_ms")
        columns = [start] + ([inner.c.key.label(f"{by}_idx")] if key is not None else [])
        total = sa.func.sum(inner.c.n)
        stmt = sa.select(*columns, total.label("arrivals")).having(total > 0)
        groups = [start.element] + ([inner.c.key] if key is not None else [])
    else:
        if time_column.name == "month_local_ms":
            start = time_column.label("bucket_local_ms")
        else:
            start = bucket_start(time_column, bucket).label("bucket_local_ms")
        columns = [start] + ([key.label(f"{by}_idx")] if key is not None else [])
        stmt = sa.select(*columns, measure.label("arrivals")).where(*where)
        if count is not None:  # rollups keep empty buckets; visits have none
            stmt = stmt.having(measure > 0)
        groups = [c.element for c in columns]
    stmt = stmt.group_by(*groups).order_by(*groups)
    rows = dict_rows(connection.execute(stmt))
    for row in rows:  # SUM over rollups comes back as Decimal on PostgreSQL
        row["arrivals"] = int(row["arrivals"])
    return rows


def daily_arrivals(
    connection: Connection,
    run_id: int,
    first_day_local_ms: int | None = None,
    end_day_local_ms: int | None = None,
    bucket: str = "day",
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Arrivals per local day/week/month of a *complete* run, from the daily rollup.

    Much cheaper than counting visits over months or years: a year is
    365 x 26 rollup rows instead of ~110k visits. The range is in local days.
    """
    _check("bucket", bucket, BUCKETS[1:])
    _check("by", by, GROUPINGS)
    d = schema.daily_pathology
    return _bucketed(
        connection,
        d,
        d.c.month_local_ms if bucket == "month" else d.c.day_local_ms,
        bucket,
        by,
        [d.c.run_id == run_id, *in_range(d.c.day_local_ms, first_day_local_ms, end_day_local_ms)],
        d.c.arrivals,
    )


def hour_of_week_profile(
    connection: Connection,
    run_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Arrivals per local hour of the week (0 = Monday 00:00), and how many such hours were seen.

    ``hours`` counts the distinct calendar hours with at least one arrival;
    divide by the number of weeks in the range for a mean rate.
    """
    key = _group_column(v, by)
    how = hour_of_week(v.c.arrival_local_ms).label("hour_of_week")
    columns = [how] + ([key.label(f"{by}_idx")] if key is not None else [])
    stmt = (
        sa.select(
            *columns,
            sa.func.count().label("arrivals"),
            sa.func.count(sa.distinct(v.c.arrival_local_ms // 3_600_000)).label("hours"),
        )
        .where(v.c.run_id == run_id, *in_range(v.c.arrival_ms, start_ms, end_ms))
        .group_by(*[c.element for c in columns])
        .order_by(*[c.element for c in columns])
    )
    return dict_rows(connection.execute(stmt))


def doctor_availability(
    connection: Connection,
    run_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    bucket: str = "hour",
    by_specialty: bool = False,
) -> list[dict[str, Any]]:
    """Mean doctors on duty and busy (and mean patients waiting) per local bucket."""
    _check("bucket", bucket, BUCKETS)
    keys = [s.c.time_ms, s.c.local_ms] + ([s.c.specialty_idx] if by_specialty else [])
    per_sample = (
        sa.select(
            *keys,
            sa.func.sum(s.c.doctors_on_duty).label("on_duty"),
            sa.func.sum(s.c.doctors_busy).label("busy"),
            sa.func.sum(s.c.waiting).label("waiting"),
        )
        .where(s.c.run_id == run_id, *in_range(s.c.time_ms, start_ms, end_ms))
        .group_by(*keys)
        .subquery()
    )
    start = bucket_start(per_sample.c.local_ms, bucket).label("bucket_local_ms")
    columns = [start] + ([per_sample.c.specialty_idx] if by_specialty else [])
    stmt = (
        sa.select(
            *columns,
            sa.func.avg(per_sample.c.on_duty).label("doctors_on_duty"),
            sa.func.avg(per_sample.c.busy).label("doctors_busy"),
            sa.func.avg(per_sample.c.waiting).label("waiting"),
            sa.func.count().label("samples"),
        )
        .group_by(*[getattr(c, "element", c) for c in columns])
        .order_by(*[getattr(c, "element", c) for c in columns])
    )
    return dict_rows(connection.execute(stmt))


def waits(
    connection: Connection,
    run_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Wait and length of stay (minutes) of visits arriving in the range: mean, p50, p90.

    One statement reads ``(group, wait, LOS)`` of the range from the covering
    index ``ix_visits_arrival`` (an index-only range scan); the statistics
    are computed per group with NumPy, no Python loop over rows.
    Percentiles are NumPy's default definition (linear interpolation
    between the closest ranks, ``np.percentile(..., method="linear")``), the
    one the simulator's reports use (``recorder.grouped_quantile``), so the
    store and the CSV reports agree. NULLs (never seen, still present) are
    left out; waits count treated visits only. Groups are the ones with
    visits in the range, in index order (a NULL group, imports only, last).
    """
    from hospiflow.simulation.recorder import grouped_mean, grouped_quantile

    key = _group_column(v, by)
    stmt = sa.select(key if key is not None else sa.literal(0), v.c.wait_min, v.c.los_min).where(
        v.c.run_id == run_id, *in_range(v.c.arrival_ms, start_ms, end_ms)
    )
    data = _float_rows(connection, stmt, 3)
    keys, groups = np.unique(data[:, 0], return_inverse=True)  # NaN sorts last
    groups = groups.reshape(-1)
    n = len(keys)
    wait, los = data[:, 1], data[:, 2]
    columns: dict[str, Any] = {}
    if key is not None:
        columns[f"{by}_idx"] = [None if k != k else int(k) for k in keys.tolist()]
    columns["visits"] = np.bincount(groups, minlength=n).tolist()
    columns["treated"] = np.bincount(groups[~np.isnan(wait)], minlength=n).tolist()
    for name, values in (("wait", wait), ("los", los)):
        columns[f"{name}_mean_min"] = _floats(grouped_mean(groups, values, n))
        columns[f"{name}_p50_min"] = _floats(grouped_quantile(groups, values, n, 0.5))
        columns[f"{name}_p90_min"] = _floats(grouped_quantile(groups, values, n, 0.9))
    order = list(columns)
    return [dict(zip(order, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _float_rows(connection: Connection, stmt: sa.Select[Any], width: int) -> np.ndarray:
    """The rows of ``stmt`` as a float64 matrix, NULL as NaN.

    Straight from the driver's cursor: NumPy reads its plain tuples ~20x
    faster than SQLAlchemy ``Row`` objects (a month of visits: 5 ms, not 90).
    """
    result = connection.execute(stmt)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return np.array(rows, dtype=np.float64).reshape(-1, width)


def _floats(values: np.ndarray) -> list[float | None]:
    """Plain floats, NaN (an empty group) as None."""
    return [None if x != x else x for x in values.tolist()]


def kpis(
    connection: Connection, run_id: int, start_ms: int | None = None, end_ms: int | None = None
) -> dict[str, Any]:
    """Headline performance figures over a range, in one statement.

    Arrivals, treated, left without being seen (and its rate), mean wait and
    length of stay, share of treated patients who waited over 60 minutes,
    doctor utilisation (busy / on duty, sampled) and mean queue length.
    """
    visit_range = [v.c.run_id == run_id, *in_range(v.c.arrival_ms, start_ms, end_ms)]
    visit_stats = sa.select(
        sa.func.count().label("arrivals"),
        sa.func.count(v.c.wait_min).label("treated"),
        sa.func.coalesce(sa.func.sum(sa.case((v.c.disposition == _LWBS, 1), else_=0)), 0).label(
            "left_without_being_seen"
        ),
        sa.func.avg(v.c.wait_min).label("wait_mean_min"),
        sa.func.avg(v.c.los_min).label("los_mean_min"),
        sa.func.coalesce(sa.func.sum(sa.case((v.c.wait_min > 60, 1), else_=0)), 0).label(
            "waited_over_60"
        ),
        # the patient flow's figures (NULL bed requests and dispositions elsewhere)
        sa.func.count(v.c.los_min).label("stays"),
        sa.func.coalesce(sa.func.sum(sa.case((v.c.los_min <= 240, 1), else_=0)), 0).label(
            "within_4h"
        ),
        sa.func.coalesce(sa.func.sum(sa.case((v.c.los_min > 720, 1), else_=0)), 0).label(
            "over_12h"
        ),
        sa.func.coalesce(sa.func.sum(sa.case((v.c.disposition == _ADMITTED, 1), else_=0)), 0).label(
            "admissions"
        ),
        # transferred after a bed was asked for: a full ward, or the boarding limit
        sa.func.coalesce(
            sa.func.sum(
                sa.case(
                    ((v.c.disposition == _TRANSFERRED) & v.c.bed_request_ms.is_not(None), 1),
                    else_=0,
                )
            ),
            0,
        ).label("transfers_no_bed"),
        sa.func.count(v.c.bed_request_ms).label("bed_requests"),
        sa.func.sum(v.c.departure_ms - v.c.bed_request_ms).label("boarding_ms"),
    ).where(*visit_range)
    state_stats = sa.select(
        sa.func.sum(s.c.doctors_busy).label("busy"),
        sa.func.sum(s.c.doctors_on_duty).label("on_duty"),
        sa.func.count(sa.distinct(s.c.time_ms)).label("samples"),
        sa.func.sum(s.c.waiting).label("waiting"),
    ).where(s.c.run_id == run_id, *in_range(s.c.time_ms, start_ms, end_ms))
    vs = visit_stats.subquery()
    ss = state_stats.subquery()
    stmt = sa.select(
        vs.c.arrivals,
        vs.c.treated,
        vs.c.left_without_being_seen,
        vs.c.wait_mean_min,
        vs.c.los_mean_min,
        vs.c.waited_over_60,
        vs.c.stays,
        vs.c.within_4h,
        vs.c.over_12h,
        vs.c.admissions,
        vs.c.transfers_no_bed,
        vs.c.bed_requests,
        vs.c.boarding_ms,
        ss.c.busy,
        ss.c.on_duty,
        ss.c.samples,
        ss.c.waiting,
    ).select_from(vs.join(ss, sa.true()))
    row = dict(connection.execute(stmt).mappings().one())
    arrivals_n = row["arrivals"] or 0
    treated = row["treated"] or 0
    return {
        "arrivals": arrivals_n,
        "treated": treated,
        "left_without_being_seen": row["left_without_being_seen"],
        "left_without_being_seen_rate": row["left_without_being_seen"] / arrivals_n
        if arrivals_n
        else None,
        "wait_mean_min": row["wait_mean_min"],
        "los_mean_min": row["los_mean_min"],
        "waited_over_60_share": row["waited_over_60"] / treated if treated else None,
        "utilisation": row["busy"] / row["on_duty"] if row["on_duty"] else None,
        "waiting_mean": row["waiting"] / row["samples"] if row["samples"] else None,
        "within_4h_share": row["within_4h"] / row["stays"] if row["stays"] else None,
        "over_12h_share": row["over_12h"] / row["stays"] if row["stays"] else None,
        "admissions": row["admissions"],
        "admission_rate": row["admissions"] / arrivals_n if arrivals_n else None,
        "transfers_no_bed": row["transfers_no_bed"],
        "boarding_hours": float(row["boarding_ms"]) / 3_600_000 if row["bed_requests"] else None,
        "boarding_mean_min": float(row["boarding_ms"]) / 60_000 / row["bed_requests"]
        if row["bed_requests"]
        else None,
        **_flow_kpis(connection, run_id, start_ms, end_ms),
    }


def _flow_kpis(
    connection: Connection, run_id: int, start_ms: int | None, end_ms: int | None
) -> dict[str, Any]:
    """Door-to-doctor by acuity, spaces in use and ward beds in use (means over the range)."""
    by_acuity = connection.execute(
        sa.select(v.c.acuity, sa.func.avg(v.c.wait_min))
        .where(
            v.c.run_id == run_id,
            v.c.acuity.is_not(None),
            *in_range(v.c.arrival_ms, start_ms, end_ms),
        )
        .group_by(v.c.acuity)
        .order_by(v.c.acuity)
    ).all()
    r = schema.resource_snapshots
    resources = connection.execute(
        sa.select(
            r.c.resource,
            sa.func.sum(r.c.in_use),
            sa.func.sum(r.c.capacity),
            sa.func.count(sa.distinct(r.c.time_ms)),
            sa.func.min(r.c.capacity),
        )
        .where(r.c.run_id == run_id, *in_range(r.c.time_ms, start_ms, end_ms))
        .group_by(r.c.resource)
    ).all()
    out: dict[str, Any] = {
        "door_to_doctor_mean_min_by_acuity": {
            str(level): float(wait) for level, wait in by_acuity if wait is not None
        }
        or None,
        "spaces_in_use_mean": None,
        "spaces_occupancy": None,
        "ward_beds_in_use_mean": None,
        "ward_occupancy": None,
    }
    for resource, used, capacity, samples, smallest in resources:
        key = "spaces" if resource == "space" else "ward_beds"
        out[f"{key}_in_use_mean"] = float(used) / samples
        if smallest:  # every area or ward limited
            share = float(used) / float(capacity)
            out["spaces_occupancy" if key == "spaces" else "ward_occupancy"] = share
    return out


def _page(
    table: sa.Table,
    time_column: sa.Column[int],
    columns: list[Any],
    run_id: int,
    start_ms: int | None,
    end_ms: int | None,
    after: tuple[int, int] | None,
    limit: int,
    extra: list[Any],
) -> sa.Select[Any]:
    if not 1 <= limit <= MAX_PAGE:
        raise StoreError(f"limit must be between 1 and {MAX_PAGE}, got {limit}", where="limit")
    conditions = [table.c.run_id == run_id, *in_range(time_column, start_ms, end_ms), *extra]
    if after is not None:
        conditions.append(sa.tuple_(time_column, table.c.id) > sa.tuple_(*after))
    return (
        sa.select(*columns)
        .where(*conditions)
        .order_by(time_column, table.c.id)
        .limit(limit + 1)  # one more tells whether there is a next page
    )


def _to_page(rows: list[dict[str, Any]], time_key: str, limit: int) -> Page:
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, (rows[-1][time_key], rows[-1]["id"]))
    return Page(rows, None)


def treatments_page(
    connection: Connection,
    run_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 100,
    specialty_idx: int | None = None,
) -> Page:
    """Treatments by start time, keyset-paginated on ``(start_ms, id)`` (never OFFSET)."""
    extra = [] if specialty_idx is None else [t.c.specialty_idx == specialty_idx]
    stmt = _page(t, t.c.start_ms, list(t.c), run_id, start_ms, end_ms, after, limit, extra)
    return _to_page(dict_rows(connection.execute(stmt)), "start_ms", limit)


_KIND_LABEL = sa.case(
    {int(k): k.name.lower() for k in EventKind}, value=e.c.kind, else_="unknown"
).label("kind_label")


def events_page(
    connection: Connection,
    run_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 100,
    kinds: tuple[int, ...] | None = None,
    specialty_idx: int | None = None,
) -> Page:
    """The trace by time, keyset-paginated on ``(time_ms, id)``, optionally some kinds only."""
    extra: list[sa.ColumnElement[bool]] = [e.c.kind.in_(kinds)] if kinds else []
    if specialty_idx is not None:
        extra.append(e.c.specialty_idx == specialty_idx)
    stmt = _page(e, e.c.time_ms, [*e.c, _KIND_LABEL], run_id, start_ms, end_ms, after, limit, extra)
    return _to_page(dict_rows(connection.execute(stmt)), "time_ms", limit)


ALL_QUERIES = (
    "current_state",
    "arrivals",
    "daily_arrivals",
    "hour_of_week_profile",
    "doctor_availability",
    "waits",
    "kpis",
    "treatments_page",
    "events_page",
)
