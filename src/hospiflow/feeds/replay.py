"""Replay a site's stored history through a live feed, as if it were happening now.

``replay`` reads the site's visits arriving in ``[start, start + days)``
(already pseudonymised: the replay carries no raw identifier, only the
stored pseudonyms, which the receiving site pseudonymises again), turns
them into events (arrival, first seen, admission, departure: the HL7
writer's ``A04``/``A08``/``A01``/``A03``) and sends each when its time comes,
``speed`` times faster than it happened, with times rewritten so the window's
first arrival happens now. Over MLLP each event is an ADT message; over REST each tick
pushes the visits whose events came due, as they are known so far (a visit
pushed again with its departure is a correction, by visit id).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hospiflow.feeds.client import MllpClient
from hospiflow.ingest import hl7v2
from hospiflow.records import Disposition, VisitRecord
from hospiflow.store import schema, sites


@dataclass
class ReplayStats:
    visits: int = 0
    events: int = 0
    sent: int = 0
    refused: int = 0
    late_seconds: float = 0.0  # how far behind schedule the slowest event was


def history(engine: Engine, site: str | int, start: datetime, days: float) -> list[VisitRecord]:
    """The site's stored visits arriving in the window, as records (pseudonyms as ids)."""
    with engine.connect() as connection:
        row = sites.get_site(connection, site)
        if row["run_id"] is None:
            return []
        v = schema.visits
        begin = round(start.timestamp() * 1000)
        end = begin + round(days * 86_400_000)
        rows = connection.execute(
            sa.select(
                v.c.visit_key,
                v.c.pseudonym,
                v.c.arrival_ms,
                v.c.wait_min,
                v.c.departure_ms,
                v.c.disposition,
                v.c.icd10,
                v.c.diagnosis_system,
                v.c.age_years,
                v.c.sex,
                v.c.acuity,
                v.c.patient_no,
            )
            .where(v.c.run_id == row["run_id"], v.c.arrival_ms >= begin, v.c.arrival_ms < end)
            .order_by(v.c.arrival_ms)
        ).all()
    zone = ZoneInfo(row["timezone"])
    out = []
    for key, pseudonym, arrival, wait, departure, disp, code, system, age, sex, acuity, no in rows:
        arrived = datetime.fromtimestamp(arrival / 1000, zone)
        out.append(
            VisitRecord(
                arrival=arrived,
                visit_id=key or f"run{row['run_id']}-{no}",
                patient_id=pseudonym,
                first_seen=arrived + timedelta(minutes=wait) if wait is not None else None,
                departure=datetime.fromtimestamp(departure / 1000, zone) if departure else None,
                disposition=Disposition(disp) if disp else None,
                diagnosis=code,
                diagnosis_system=system,
                age_years=age,
                sex=sex,
                acuity=acuity,
            )
        )
    return out


def _shift(record: VisitRecord, moved: Callable[[datetime], datetime]) -> VisitRecord:
    return record._replace(
        arrival=moved(record.arrival),
        first_seen=moved(record.first_seen) if record.first_seen else None,
        departure=moved(record.departure) if record.departure else None,
    )


def schedule(
    records: list[VisitRecord], start: datetime, speed: float, now: datetime
) -> list[tuple[datetime, str, VisitRecord]]:
    """(when to send, event, the visit with times moved to now) in time order.

    The first arrival of the window happens now (the quiet hours before it are skipped).
    """
    if records:
        start = max(start, min(r.arrival for r in records))
    moved = lambda t: now + (t - start) / speed  # noqa: E731
    events = []
    for record in records:
        shifted = _shift(record, moved)
        for moment, event in hl7v2._events(shifted):
            events.append((moment, hl7v2._ORDER[event], event, shifted))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(moment, event, record) for moment, _order, event, record in events]


def replay_mllp(
    plan: list[tuple[datetime, str, VisitRecord]],
    host: str,
    port: int,
    timezone: str,
    stats: ReplayStats,
) -> None:
    zone = ZoneInfo(timezone)
    with MllpClient(host, port) as client:
        for number, (moment, event, record) in enumerate(plan, 1):
            late = _wait_until(moment)
            stats.late_seconds = max(stats.late_seconds, late)
            control = f"RP{int(time.time())}-{number}"
            segments = hl7v2._segments(record, event, moment, control, zone, "REPLAY")
            code, _text = client.send("\r".join(segments).encode())
            stats.sent += 1
            if code != "AA":
                stats.refused += 1


def replay_rest(
    plan: list[tuple[datetime, str, VisitRecord]],
    url: str,
    token: str,
    site_id: int,
    stats: ReplayStats,
    tick_seconds: float = 0.5,
) -> None:
    """Push, every tick, the visits whose events came due (as known so far)."""
    known: dict[str, dict[str, Any]] = {}
    index = 0
    while index < len(plan):
        _wait_until(plan[index][0])
        due = datetime.now(UTC) + timedelta(seconds=tick_seconds)
        batch: dict[str, dict[str, Any]] = {}
        while index < len(plan) and plan[index][0] <= due and len(batch) < 1000:
            moment, event, record = plan[index]
            item = known.setdefault(record.visit_id or "", _item(record))
            if event == "A08" and record.first_seen:
                item["first_seen"] = record.first_seen.isoformat()
            elif event == "A03" and record.departure:
                item["departure"] = record.departure.isoformat()
                if record.disposition:
                    item["disposition"] = record.disposition.name.lower()
            elif event == "A01":
                item["disposition"] = "admitted"
            batch[record.visit_id or ""] = dict(item)
            index += 1
        body = json.dumps({"visits": list(batch.values())}).encode()
        request = urllib.request.Request(
            f"{url.rstrip('/')}/api/v1/sites/{site_id}/visits",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - our server
            result = json.loads(answer.read())
        stats.sent += len(batch)
        stats.refused += result["quarantined"]


def _item(record: VisitRecord) -> dict[str, Any]:
    return {
        "visit_id": record.visit_id,
        "patient_id": record.patient_id,
        "arrival": record.arrival.isoformat(),
        "diagnosis": record.diagnosis,
        "diagnosis_system": record.diagnosis_system,
        "age_years": record.age_years,
        "sex": record.sex,
        "acuity": record.acuity,
    }


def _wait_until(moment: datetime) -> float:
    """Sleep until ``moment``; how late we already were (seconds)."""
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)
        return 0.0
    return -delay
