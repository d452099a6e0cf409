"""The server side of alerts: a periodic check of the live runs and fed sites.

``AlertWatcher`` (started by ``hospiflow serve``, so ``demo`` too) looks every
``ALERT_CHECK_SECONDS`` at each run that is still being written: a live
simulation (``kind`` live, ``running``) and the observed run of every site with
a live feed. For each it computes what the dashboard shows, with the same code
(``now``'s department status, ``/tension/now``'s NEDOCS, ``/tension``'s HET
global level of the latest day), turns them into conditions
(``hospiflow.alerts.conditions``) and records them (``hospiflow.store.alerts``:
one alert per episode, whatever the number of checks or processes). New alerts
go to the webhook (``ALERT_WEBHOOK``), which retries in a thread of its own:
neither the check nor the simulation ever waits on it.

The check reads through the app's engines inside an app context, so it sees
exactly what a request would; a check that fails (a busy store) is logged and
tried again at the next tick.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from hospiflow.alerts.conditions import (
    Condition,
    het_condition,
    nedocs_condition,
    status_condition,
)
from hospiflow.alerts.webhook import Webhook
from hospiflow.store import alerts as store
from hospiflow.store import schema
from hospiflow.store import tension as store_tension
from hospiflow.store.timeconv import now_ms
from hospiflow.tension.het import HetSettings, assess
from hospiflow.web import data, observed
from hospiflow.web.context import get_db, state
from hospiflow.web.timeutil import utc_iso

log = logging.getLogger("hospiflow.alerts")

EXTENSION = "hospiflow.alerts"


def watched_runs(connection: sa.Connection) -> list[int]:
    """Runs still being written: running live simulations and fed sites' observed runs."""
    r, s, f = schema.runs, schema.sites, schema.feed_state
    live = sa.select(r.c.id).where(r.c.kind == "live", r.c.status == "running")
    fed = (
        sa.select(s.c.run_id)
        .select_from(s.join(f, f.c.site_id == s.c.id))
        .where(s.c.run_id.is_not(None), f.c.last_message_ms.is_not(None))
    )
    return sorted({int(x) for x in connection.execute(sa.union(live, fed)).scalars()})


def _ms(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso).timestamp() * 1000)


def conditions(run_id: int) -> list[Condition]:
    """The three conditions of one run as of its data (inside an app context)."""
    from hospiflow.web.api import _config, _context
    from hospiflow.web.tension_api import _date, _scores

    run = _context(run_id)
    connection = get_db()
    make = observed.now_payload if data.is_observed(run.row) else data.now_payload
    payload = make(connection, run, _config())
    at_ms = _ms(payload["as_of"])
    if at_ms is None:
        return []  # no data yet
    found = [status_condition(payload["department_status"], at_ms)]
    nedocs, _edwin = _scores(run, payload, at_ms)
    if nedocs["value"] is not None:
        found.append(nedocs_condition(nedocs, at_ms))
    inputs = store_tension.daily(connection, run_id, writer=state().write_engine())
    if len(inputs.days_local_ms):
        result = assess(
            inputs.values, store_tension.availability(connection, run_id), HetSettings()
        )
        day = int(inputs.days_local_ms[-1])
        found.append(
            het_condition(_date(day), int(result["global"][-1]), bool(result["tension"][-1]), at_ms)
        )
    return found


def payload_of(row: dict[str, Any], timezone: str, site: dict[str, Any] | None) -> dict[str, Any]:
    """What the webhook receives (and what ``/alerts`` lists): run/site, level, reason, time."""
    return {
        "id": int(row["id"]),
        "run_id": int(row["run_id"]),
        "site": site,
        "kind": row["kind"],
        "level": row["level"],
        "reason": row["reason"],
        "time": utc_iso(int(row["data_ms"]), timezone),
        "raised_at": utc_iso(int(row["raised_ms"]), timezone),
        "ended": utc_iso(row["ended_ms"], timezone),
        "open": row["open_key"] is not None,
        "details": row["details"],
        "acknowledged": None
        if row["acknowledged_ms"] is None
        else {
            "at": utc_iso(int(row["acknowledged_ms"]), timezone),
            "by": row["acknowledged_by"],
            "note": row["note"],
        },
        "webhook": {
            "state": row["webhook_state"],
            "attempts": int(row["webhook_attempts"]),
            "error": row["webhook_error"],
            "at": utc_iso(row["webhook_ms"], timezone),
        },
    }


def describe(connection: sa.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alert rows as JSON, with their run's time zone and site."""
    ids = sorted({int(r["run_id"]) for r in rows})
    zones: dict[int, str] = {}
    sites: dict[int, dict[str, Any]] = {}
    if ids:
        r, s = schema.runs, schema.sites
        zones = dict(
            connection.execute(sa.select(r.c.id, r.c.timezone).where(r.c.id.in_(ids))).all()
        )
        for site_id, name, run_id in connection.execute(
            sa.select(s.c.id, s.c.name, s.c.run_id).where(s.c.run_id.in_(ids))
        ):
            sites[int(run_id)] = {"id": int(site_id), "name": str(name)}
    return [
        payload_of(row, zones.get(int(row["run_id"]), "UTC"), sites.get(int(row["run_id"])))
        for row in rows
    ]


class AlertWatcher:
    """Checks the runs being written every ``every`` seconds, in a thread of its own."""

    def __init__(self, app: Flask, every: float | None = None) -> None:
        self.app = app
        self.every = float(every if every is not None else app.config["ALERT_CHECK_SECONDS"])
        url = app.config.get("ALERT_WEBHOOK") or None
        self.webhook = Webhook(str(url), self._record) if url else None
        self.stopped = threading.Event()
        self.checks = 0
        self.last_error: str | None = None
        self.thread = threading.Thread(target=self._loop, name="hospiflow-alerts", daemon=True)
        app.extensions[EXTENSION] = self

    def _record(self, alert_id: int, state_: str, attempts: int, error: str | None) -> None:
        with state(self.app).write_engine().begin() as writer:
            store.record_delivery(writer, alert_id, state_, attempts, error, now_ms())

    def check(self) -> list[int]:
        """One pass over the watched runs; the ids of the alerts it raised."""
        raised: list[int] = []
        with self.app.app_context():
            for run_id in watched_runs(get_db()):
                try:
                    found = conditions(run_id)
                except Exception as error:  # noqa: BLE001 - one run's failure spares the rest
                    self.last_error = f"run {run_id}: {error}"
                    log.warning("alert check of run %s failed: %s", run_id, error)
                    continue
                raised += self.record(run_id, found)
        self.checks += 1
        return raised

    def record(self, run_id: int, found: list[Condition]) -> list[int]:
        """Store one run's conditions; queue the new alerts for the webhook."""
        now = now_ms()
        new: list[int] = []
        with state(self.app).write_engine().begin() as writer:
            for condition in found:
                alert_id = store.observe(writer, run_id, condition, now, self.webhook is not None)
                if alert_id is not None:
                    new.append(alert_id)
                    log.warning("alert %s on run %s: %s", alert_id, run_id, condition.reason)
        if new and self.webhook is not None:
            with state(self.app).reader.connect() as connection:
                rows = [store.get(connection, i) for i in new]
                for item in describe(connection, rows):
                    self.webhook.send(item["id"], item)
        return new

    def start(self) -> AlertWatcher:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(30)
        if self.webhook is not None:
            self.webhook.close()

    def _loop(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                self.check()
            except Exception as error:  # noqa: BLE001 - a busy store: try again next tick
                self.last_error = str(error)
                log.warning("alert check failed: %s", error)


__all__ = ["EXTENSION", "AlertWatcher", "conditions", "describe", "watched_runs"]
