"""Read queries about a site's live feed: when it last spoke, who waits for a bed."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.records import Disposition
from hospiflow.store import schema


def feed_of_run(connection: Connection, run_id: int) -> tuple[int, int] | None:
    """(last message ms, messages) of the feed writing into ``run_id``; None if it has none."""
    s, f = schema.sites, schema.feed_state
    row = connection.execute(
        sa.select(f.c.last_message_ms, f.c.messages)
        .select_from(f.join(s, s.c.id == f.c.site_id))
        .where(s.c.run_id == run_id)
    ).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def run_version(connection: Connection, run_id: int) -> int | None:
    """What a feed's commit changes on the run (its ``finished_at_ms``): the stream's signal."""
    r = schema.runs
    return connection.execute(sa.select(r.c.finished_at_ms).where(r.c.id == run_id)).scalar()


def admitted_present(
    connection: Connection, run_id: int, start_ms: int, as_of_ms: int
) -> list[tuple[int, int]]:
    """``(arrival_ms, specialty_idx)`` of visits admitted (A01) but still in the department.

    They arrived in ``[start_ms, as_of_ms]`` and have no departure: they wait for a bed.
    """
    v = schema.visits
    rows = connection.execute(
        sa.select(v.c.arrival_ms, v.c.specialty_idx).where(
            v.c.run_id == run_id,
            v.c.arrival_ms >= start_ms,
            v.c.arrival_ms <= as_of_ms,
            v.c.departure_ms.is_(None),
            v.c.disposition == int(Disposition.ADMITTED),
        )
    )
    return [(int(a), int(s)) for a, s in rows]
