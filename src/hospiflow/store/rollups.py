"""Rollup tables derived from a run's visits when the run completes.

One ``INSERT ... SELECT`` per table, so any source (simulation, import)
gets the same aggregates. Buckets are the hospital's local wall-clock hours
and days (``arrival_local_ms`` floored), counted by arrival.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.simulation.events import Disposition
from hospiflow.store import schema
from hospiflow.store.sqlfuncs import floor_to
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR

_LWBS = int(Disposition.LEFT_WITHOUT_BEING_SEEN)


def _measures(visits: sa.Table) -> list[sa.ColumnElement]:
    return [
        sa.func.count().label("arrivals"),
        sa.func.count(visits.c.wait_min).label("treated"),
        sa.func.coalesce(sa.func.sum(sa.case((visits.c.disposition == _LWBS, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(visits.c.wait_min), 0.0),
        sa.func.coalesce(sa.func.sum(visits.c.los_min), 0.0),
    ]


def rebuild(connection: Connection, run_id: int) -> None:
    """Replace the run's rollup rows with fresh aggregates of its visits."""
    v = schema.visits
    for table, bucket, key in (
        (schema.hourly_specialty, floor_to(v.c.arrival_local_ms, MS_PER_HOUR), v.c.specialty_idx),
        (schema.daily_pathology, floor_to(v.c.arrival_local_ms, MS_PER_DAY), v.c.pathology_idx),
    ):
        connection.execute(table.delete().where(table.c.run_id == run_id))
        select = (
            sa.select(v.c.run_id, bucket, key, *_measures(v))
            .where(v.c.run_id == run_id, key.is_not(None))
            .group_by(v.c.run_id, bucket, key)
        )
        columns = [c.name for c in table.columns]
        connection.execute(table.insert().from_select(columns, select))
