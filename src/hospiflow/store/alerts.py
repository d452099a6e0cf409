"""Alerts in the store: one row per *episode* of a run at red or in tension.

An episode starts when a check finds a condition (``hospiflow.alerts.conditions``)
active and no open alert of that kind for that run, and ends once checks have
found it clear for an hour of the data's clock (``QUIET_MS``; ``ended_ms`` is when
it cleared). While it lasts the row's ``open_key`` (``"run:kind"``) is set,
and the column is unique: whichever process checks, however often, and across
restarts (the state lives here, not in memory), an episode raises one alert. A
check finding the condition again after it cleared starts a new episode.

Acknowledging records who (the token's name) and when; a second acknowledgement
keeps the first. Webhook deliveries record their state (``off`` when no webhook
is configured, ``pending``, ``sent``, ``failed``), attempts and last error, so
failures are visible in the API and the page.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.alerts.conditions import Condition
from hospiflow.errors import NotFoundError
from hospiflow.store import schema

__all__ = [
    "acknowledge",
    "alert_rows",
    "get",
    "observe",
    "pending_deliveries",
    "record_delivery",
]

WEBHOOK_STATES = ("off", "pending", "sent", "failed")
QUIET_MS = 3_600_000  # an episode ends after an hour clear (data clock)


def _key(run_id: int, kind: str) -> str:
    return f"{run_id}:{kind}"


def observe(
    connection: Connection,
    run_id: int,
    condition: Condition,
    now_ms: int,
    webhook: bool,
    quiet_ms: int = QUIET_MS,
) -> int | None:
    """Record one check of ``condition`` on ``run_id``: the new alert's id when an
    episode starts, else None (still open, still clear, or just ended).

    An episode ends once the condition has stayed clear for ``quiet_ms`` of the
    data's clock (an hour by default): a queue hovering around the threshold is
    one episode, not an alert at every crossing. ``connection`` must be a writer
    inside a transaction; a concurrent checker that raised the same episode first
    makes this one a no-op (the unique key).
    """
    a = schema.alerts
    key = _key(run_id, condition.kind)
    found = connection.execute(sa.select(a.c.id, a.c.ended_ms).where(a.c.open_key == key)).first()
    if found is not None:
        open_id, cleared = int(found[0]), found[1]
        if condition.active and cleared is not None:  # back before the quiet time: same episode
            connection.execute(sa.update(a).where(a.c.id == open_id).values(ended_ms=None))
        elif not condition.active and cleared is None:  # clear: the quiet time starts
            connection.execute(
                sa.update(a).where(a.c.id == open_id).values(ended_ms=condition.data_ms)
            )
        elif not condition.active and condition.data_ms - int(cleared) >= quiet_ms:
            connection.execute(sa.update(a).where(a.c.id == open_id).values(open_key=None))
        return None
    if not condition.active:
        return None
    try:
        with connection.begin_nested():
            return int(
                connection.execute(
                    sa.insert(a)
                    .values(
                        run_id=run_id,
                        kind=condition.kind,
                        level=condition.level,
                        reason=condition.reason,
                        details=condition.details,
                        data_ms=condition.data_ms,
                        raised_ms=now_ms,
                        open_key=key,
                        webhook_state="pending" if webhook else "off",
                    )
                    .returning(a.c.id)
                ).scalar_one()
            )
    except sa.exc.IntegrityError:
        return None  # another checker raised this episode a moment ago


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


def get(connection: Connection, alert_id: int) -> dict[str, Any]:
    """One alert's row; ``NotFoundError`` when there is none."""
    a = schema.alerts
    row = connection.execute(sa.select(a).where(a.c.id == alert_id)).first()
    if row is None:
        raise NotFoundError(f"no alert {alert_id}", where="alert_id", alert_id=alert_id)
    return _row(row)


def alert_rows(
    connection: Connection,
    run_id: int | None = None,
    acknowledged: bool | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts, newest first; of one run or all, acknowledged or not or both."""
    a = schema.alerts
    stmt = sa.select(a).order_by(a.c.id.desc()).limit(limit)
    if run_id is not None:
        stmt = stmt.where(a.c.run_id == run_id)
    if acknowledged is True:
        stmt = stmt.where(a.c.acknowledged_ms.is_not(None))
    elif acknowledged is False:
        stmt = stmt.where(a.c.acknowledged_ms.is_(None))
    return [_row(r) for r in connection.execute(stmt)]


def pending_deliveries(connection: Connection) -> list[dict[str, Any]]:
    """Alerts whose webhook delivery has not finished (``pending``), oldest first."""
    a = schema.alerts
    stmt = sa.select(a).where(a.c.webhook_state == "pending").order_by(a.c.id)
    return [_row(r) for r in connection.execute(stmt)]


def acknowledge(
    connection: Connection, alert_id: int, by: str, now_ms: int, note: str | None = None
) -> dict[str, Any]:
    """Mark an alert acknowledged by ``by`` at ``now_ms`` (the first acknowledgement
    stands); the alert's row after it."""
    a = schema.alerts
    get(connection, alert_id)
    connection.execute(
        sa.update(a)
        .where(a.c.id == alert_id, a.c.acknowledged_ms.is_(None))
        .values(acknowledged_ms=now_ms, acknowledged_by=by, note=note)
    )
    return get(connection, alert_id)


def record_delivery(
    connection: Connection,
    alert_id: int,
    state: str,
    attempts: int,
    error: str | None,
    now_ms: int,
) -> None:
    """What the webhook made of an alert: ``sent`` or ``failed`` (or still ``pending``)."""
    if state not in WEBHOOK_STATES:
        raise ValueError(f"unknown webhook state {state!r}")
    a = schema.alerts
    connection.execute(
        sa.update(a)
        .where(a.c.id == alert_id)
        .values(
            webhook_state=state,
            webhook_attempts=attempts,
            webhook_error=None if error is None else error[:500],
            webhook_ms=now_ms,
        )
    )
