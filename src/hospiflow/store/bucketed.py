"""Aggregates per calendar bucket that ``queries`` does not answer, one statement each.

Same conventions as ``queries`` (read-only ``Connection``, UTC epoch ms,
half-open ranges, plain dicts, an index behind each statement):

* ``waits_by_bucket`` — ``queries.waits`` per local calendar bucket, with the
  share seen within a target and the left-without-being-seen count
  (``ix_visits_arrival``);
* ``utilisation_hour_of_week`` — doctors on duty / busy and patients waiting,
  summed per local hour of the week and specialty (``ix_snapshots_time``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import StoreError
from hospiflow.records import Disposition
from hospiflow.store import schema
from hospiflow.store.sqlfuncs import BUCKETS, bucket_start, dict_rows, hour_of_week, in_range

_LWBS = int(Disposition.LEFT_WITHOUT_BEING_SEEN)

v = schema.visits
s = schema.state_snapshots


def waits_by_bucket(
    connection: Connection,
    run_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    bucket: str | None = "day",
    by: str | None = None,
    target_minutes: float = 60.0,
) -> list[dict[str, Any]]:
    """``queries.waits`` per local bucket (``None``: one row for the range) and group.

    Adds ``seen_within_target`` (treated visits whose wait ≤ ``target_minutes``)
    and ``left_without_being_seen``. Percentiles are nearest-rank, as in
    ``queries.waits``; waits count treated visits only.
    """
    if bucket is not None and bucket not in BUCKETS:
        raise StoreError(
            f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}", where="bucket"
        )
    if by not in (None, "specialty", "pathology"):
        raise StoreError(f"by must be specialty or pathology, got {by!r}", where="by")
    key = sa.literal(0) if by is None else v.c[f"{by}_idx"]
    start = sa.literal(0) if bucket is None else bucket_start(v.c.arrival_local_ms, bucket)
    partition = [start, key]
    ranked = (
        sa.select(
            start.label("bucket_local_ms"),
            key.label("key"),
            v.c.wait_min,
            v.c.los_min,
            v.c.disposition,
            sa.func.row_number()
            .over(partition_by=partition, order_by=v.c.wait_min.asc().nulls_last())
            .label("wait_rank"),
            sa.func.count(v.c.wait_min).over(partition_by=partition).label("n_waits"),
            sa.func.row_number()
            .over(partition_by=partition, order_by=v.c.los_min.asc().nulls_last())
            .label("los_rank"),
            sa.func.count(v.c.los_min).over(partition_by=partition).label("n_los"),
        )
        .where(
            v.c.run_id == run_id,
            *in_range(v.c.arrival_ms, start_ms, end_ms),
            # visits with no pathology (unmapped diagnoses) count only in the totals
            *([] if by is None else [key.is_not(None)]),
        )
        .subquery()
    )
    r = ranked.c

    def percentile(rank: Any, n: Any, value: Any, p: float) -> Any:
        return sa.func.min(sa.case((rank >= n * p, value)))

    def count_if(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    stmt = (
        sa.select(
            r.bucket_local_ms,
            r.key,
            sa.func.count().label("visits"),
            sa.func.count(r.wait_min).label("treated"),
            sa.func.avg(r.wait_min).label("wait_mean_min"),
            percentile(r.wait_rank, r.n_waits, r.wait_min, 0.5).label("wait_p50_min"),
            percentile(r.wait_rank, r.n_waits, r.wait_min, 0.9).label("wait_p90_min"),
            sa.func.avg(r.los_min).label("los_mean_min"),
            percentile(r.los_rank, r.n_los, r.los_min, 0.5).label("los_p50_min"),
            percentile(r.los_rank, r.n_los, r.los_min, 0.9).label("los_p90_min"),
            count_if(r.wait_min <= target_minutes).label("seen_within_target"),
            count_if(r.disposition == _LWBS).label("left_without_being_seen"),
        )
        .group_by(r.bucket_local_ms, r.key)
        .order_by(r.bucket_local_ms, r.key)
    )
    return dict_rows(connection.execute(stmt))


def utilisation_hour_of_week(
    connection: Connection, run_id: int, start_ms: int | None = None, end_ms: int | None = None
) -> list[dict[str, Any]]:
    """Per local hour of the week (0 = Monday 00:00) and specialty: sampled sums.

    ``busy`` / ``on_duty`` is the utilisation; dividing by ``samples`` gives
    the mean doctors on duty, busy and patients waiting at that hour.
    """
    how = hour_of_week(s.c.local_ms).label("hour_of_week")
    stmt = (
        sa.select(
            how,
            s.c.specialty_idx,
            sa.func.sum(s.c.doctors_on_duty).label("on_duty"),
            sa.func.sum(s.c.doctors_busy).label("busy"),
            sa.func.sum(s.c.waiting).label("waiting"),
            sa.func.count().label("samples"),
        )
        .where(s.c.run_id == run_id, *in_range(s.c.time_ms, start_ms, end_ms))
        .group_by(how.element, s.c.specialty_idx)
        .order_by(how.element, s.c.specialty_idx)
    )
    return dict_rows(connection.execute(stmt))
