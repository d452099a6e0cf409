"""``SiteFeed``: live visit records and ADT messages into one site's observed run.

The import pipeline (``hospiflow.ingest.pipeline``) takes a whole extract and
rebuilds the run's rollups in its transaction. A feed takes a few visits or
one message at a time and must answer within milliseconds, so it shares the
pipeline's row builder (``_Visits.row``: pseudonyms, age, département,
diagnosis mapping, the plausibility checks) and writes with its own small
transactions:

* ``push(items)`` (REST): a batch of ``VisitRecord``s, all-or-nothing, each
  item answered ``accepted`` (new), ``updated`` (a correction of a stored
  visit id), ``duplicate`` (same content) or ``quarantined`` (with reason);
* ``apply_messages(messages)`` (MLLP): parsed ADT messages, each recorded
  by its MSH-10 control id in ``feed_messages`` in the same transaction, so
  a retransmitted message is answered as before and never applied twice. A
  message about a visit not stored yet (a discharge before its registration)
  is *held* in ``feed_held`` (pseudonymised) and applied when the visit
  appears, or quarantined by ``expire_held`` after a time limit.

Both keep ``runs`` (visit count, span, ``finished_at_ms``: the API's cache
version and the SSE stream's change signal, the next patient number) and
``feed_state`` (last message time, rollups due) current in the same
transaction. Each transaction first locks the run's patient-number counter
(``store.patient_numbers``): another feed of the site (another process) or an
import may have numbered visits since this one's last transaction, so nothing
about the numbers is kept between transactions. Rollups are rebuilt by
``refresh_rollups`` every few seconds rather than per message.

Message rules follow ``hospiflow.ingest.hl7v2`` (the file reader), applied in
arrival order: A04/A08 register or update (PV1-44 arrival, else the A04's
event time; an A04/A08 with PV1-7 filled gives the first-seen time), A01/A06
mark the visit admitted (and create it when PV1-44 is there), A03 discharges
(PV1-45, else the event time; disposition from PV1-36, else admitted or home),
A13 cancels the discharge, A11 cancels (deletes) the visit, A02 updates the
fields it carries. Messages of another patient class are ignored unless
their visit is stored.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.ingest import hl7v2
from hospiflow.ingest.diagnoses import load_diagnosis_map
from hospiflow.ingest.formats import ReadOptions
from hospiflow.ingest.pipeline import (
    QUARANTINE_COLUMNS,
    VISIT_COLUMNS,
    _describe,
    _Visits,
)
from hospiflow.ingest.pseudonym import Pseudonymiser, load_key
from hospiflow.records import Disposition, Rejection, VisitRecord
from hospiflow.store import patient_numbers, rollups, schema, sites
from hospiflow.store.timeconv import now_ms
from hospiflow.store.writer import insert_rows

log = logging.getLogger("hospiflow.feeds")

MS_PER_MIN = 60_000
_KEY = VISIT_COLUMNS.index("visit_key")
_ARRIVAL = VISIT_COLUMNS.index("arrival_ms")
_LOCAL = VISIT_COLUMNS.index("arrival_local_ms")
_REGISTER = frozenset(("A04", "A08"))
_ADMIT = frozenset(("A01", "A06"))
_CREATES = frozenset(("A04", "A08", "A01", "A06"))
# columns a message sets when it carries the field (never the times: events decide those)
_GIVEN = {
    "pseudonym": "patient_id",
    "age_years": "birth_date",
    "sex": "sex",
    "area": "postcode",
    "doctor_key": "doctor",
    "specialty_idx": "specialty",
}
_DIAGNOSIS_COLUMNS = ("pathology_idx", "icd10", "diagnosis_system", "specialty_idx")


@dataclass(frozen=True, slots=True)
class Bad:
    """A message that could not be read: its control id (if any) and why."""

    control_id: str
    event: str
    location: str
    reason: str
    field: str | None
    message: str
    raw: str  # identifiers already redacted
    reject: bool = False  # AR (not processed at all) rather than AE
    sender: tuple[str, str] = ("", "")  # MSH-3, MSH-4: the ACK goes back to them


@dataclass(frozen=True, slots=True)
class Message:
    """A readable ADT message (raw fields: never stored, logged or held as such)."""

    control_id: str
    event: str
    location: str
    fields: Any  # hl7v2._Message; None for a message of another patient class
    sender: tuple[str, str] = ("", "")  # MSH-3, MSH-4: the ACK goes back to them


@dataclass(slots=True)
class Outcome:
    """What became of one message: applied, held, ignored, duplicate or quarantined."""

    status: str
    reason: str | None = None
    field: str | None = None
    message: str | None = None

    @property
    def ack(self) -> str:
        """The MSA-1 acknowledgment code (HL7 v2.5 table 0008)."""
        if self.status != "quarantined":
            return "AA"
        return "AR" if self.reason in ("unsupported_event", "bad_message") else "AE"


@dataclass
class PushSummary:
    """A REST batch's answer: per-item results and the counts."""

    batch_id: int | None = None
    accepted: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "results": self.results,
        }


class SiteFeed:
    """One site's live writer (one per process and site; not thread-safe)."""

    def __init__(
        self,
        engine: Engine,
        site: str | int,
        *,
        actor: str = "feed",
        format: str = "mllp",
        allow_future: bool = False,
        keep_connection: bool = False,
    ) -> None:
        self.engine = engine
        # a listener commits every few milliseconds: one connection kept for its life
        # spares a pool checkout and its events per transaction (``close`` returns it)
        self.keep_connection = keep_connection
        self._connection: Connection | None = None
        with engine.connect() as connection:
            self.site = sites.get_site(connection, site)
        self.site_id = int(self.site["id"])
        self.actor = actor
        self.format = format
        self.allow_future = allow_future
        self.pseudo = Pseudonymiser(load_key(self.site["name"]))
        self.diagnoses = load_diagnosis_map()
        self.settings = hl7v2._settings(ReadOptions(timezone=self.site["timezone"]))
        self._visits: _Visits | None = None
        self._next_patient: int | None = None
        self._session_batch: int | None = None  # the MLLP session's batch (quarantine rows)
        self._held_keys: set[str] | None = None

    # ------------------------------------------------------------------ transactions

    def close(self) -> None:
        """Return the kept connection (a ``keep_connection`` feed); a later write reopens it."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction on the kept connection, or on one from the pool."""
        if not self.keep_connection:
            with self.engine.begin() as connection:
                yield connection
            return
        if self._connection is None or self._connection.invalidated:
            self.close()
            self._connection = self.engine.connect()
        try:
            with self._connection.begin():
                yield self._connection
        except BaseException:
            self.close()  # whatever broke the transaction may have broken the connection
            raise

    @contextmanager
    def _transaction(self) -> Iterator[tuple[Connection, int, _Visits]]:
        had_run = self.site["run_id"] is not None
        try:
            with self._begin() as connection:
                run_id = sites.observed_run(connection, self.site)
                locked = _lock_row(connection, run_id)
                if locked is None:  # the run was deleted since: the site starts a new one
                    self.site["run_id"], self._visits = None, None
                    run_id = sites.observed_run(connection, self.site)
                    locked = _lock_row(connection, run_id)
                self._next_patient = patient_numbers.checked(locked, run_id)
                visits = self._visits
                if visits is None:
                    visits = _Visits(
                        connection,
                        run_id,
                        self.site["timezone"],
                        self.pseudo,
                        self.diagnoses,
                        self.allow_future,
                    )
                    self._visits = visits
                else:
                    visits.connection = connection
                    if not self.allow_future:
                        visits.latest_ms = now_ms() + 24 * 3_600_000
                if self._held_keys is None:
                    h = schema.feed_held
                    self._held_keys = {
                        k
                        for (k,) in connection.execute(
                            sa.select(h.c.visit_key).where(h.c.site_id == self.site_id)
                        )
                    }
                yield connection, run_id, visits
        except BaseException:
            # what the rolled-back transaction created or cached is gone
            self._visits = None
            self._next_patient = None
            self._session_batch = None
            self._held_keys = None
            if not had_run:
                self.site["run_id"] = None
            raise

    def _batch(self, connection: Connection, summary: dict[str, Any]) -> int:
        return int(
            connection.execute(
                schema.import_batches.insert()
                .values(
                    site_id=self.site_id,
                    format=self.format,
                    files=[],
                    actor=self.actor,
                    started_at_ms=now_ms(),
                    finished_at_ms=now_ms(),
                    status="complete",
                    summary=summary,
                )
                .returning(schema.import_batches.c.id)
            ).scalar_one()
        )

    def _quarantine(
        self, connection: Connection, batch_id: int, rejections: Sequence[Rejection]
    ) -> None:
        rows = [
            (
                self.site_id,
                batch_id,
                r.location[:500],
                r.field,
                r.reason,
                r.message[:1000],
                r.raw[:4000],
                None,
            )
            for r in rejections
        ]
        _sql_many(connection, _INSERT_QUARANTINE, rows)  # not COPY: a pipeline refuses it

    def _touch(
        self, connection: Connection, run_id: int, times: list[int], added: int, messages: int
    ) -> None:
        """The run's count, span, version and next patient number, and the site's feed
        state, after a write (relative updates: one statement each, right whoever else
        writes the run; the patient counter as is: this transaction has held it since its
        start)."""
        at = now_ms()
        version = max(at, int(self._last_version or 0) + 1)
        self._last_version = version
        numbered = self._next_patient
        if times:
            first, last = min(times), max(times)
            values = (added, added, first, first, last, last, version, numbered, run_id)
            _sql(connection, _RUN_SPAN, values)
        else:
            _sql(connection, _RUN_COUNT, (added, added, version, numbered, run_id))
        _sql(connection, _STATE_UPSERT, (self.site_id, at, messages, True))

    _last_version: int | None = None

    # ------------------------------------------------------------------ REST batches

    def push(self, items: Sequence[VisitRecord | Rejection]) -> PushSummary:
        """Apply one batch of visits at once (all or nothing); per-item results."""
        summary = PushSummary()
        with self._transaction() as (connection, run_id, visits):
            results: list[dict[str, Any]] = [{} for _ in items]
            rejections: list[Rejection] = []
            latest: dict[str, tuple[int, tuple[Any, ...]]] = {}
            for index, item in enumerate(items):
                row = visits.row(item) if isinstance(item, VisitRecord) else item
                if isinstance(row, Rejection):
                    rejections.append(row)
                    results[index] = _quarantined(index, row)
                    continue
                key = row[_KEY]
                if key in latest:  # twice in one batch: the later one wins
                    earlier = latest[key][0]
                    results[earlier] = {"index": earlier, "status": "duplicate"}
                latest[key] = (index, row)
            existing = _stored(connection, run_id, list(latest))
            new: list[tuple[Any, ...]] = []
            changed: list[dict[str, Any]] = []
            times: list[int] = []
            for key, (index, row) in latest.items():
                stored = existing.get(key)
                if stored is None:
                    new.append((row[0], self._take_patient(), *row[2:]))
                    results[index] = {"index": index, "status": "accepted"}
                elif tuple(stored[1:]) == row[2:]:
                    results[index] = {"index": index, "status": "duplicate"}
                    continue
                else:
                    changed.append(
                        {"b_id": stored[0], **dict(zip(VISIT_COLUMNS[2:], row[2:], strict=True))}
                    )
                    results[index] = {"index": index, "status": "updated"}
                times.append(row[_ARRIVAL])
                departure = row[VISIT_COLUMNS.index("departure_ms")]
                if departure is not None:
                    times.append(departure)
            insert_rows(connection, "visits", VISIT_COLUMNS, new)
            _update_visits(connection, changed)
            for result in results:
                status = result["status"]
                if status == "accepted":
                    summary.accepted += 1
                elif status == "updated":
                    summary.updated += 1
                elif status == "duplicate":
                    summary.duplicates += 1
                else:
                    summary.quarantined += 1
            counts = {
                "read": len(items),
                "imported": summary.accepted,
                "updated": summary.updated,
                "duplicates": summary.duplicates,
                "quarantined": summary.quarantined,
            }
            summary.batch_id = self._batch(connection, counts)
            self._quarantine(connection, summary.batch_id, rejections)
            self._touch(connection, run_id, times, len(new), len(items))
            sites.audit(
                connection,
                self.actor,
                "push",
                f"site:{self.site['name']}",
                len(new) + len(changed),
                {"batch_id": summary.batch_id, "format": self.format, **counts},
            )
        for item, result in zip(items, results, strict=True):
            where = item.source if isinstance(item, VisitRecord) else item.location
            if where:
                result["source"] = where
        summary.results = results
        return summary

    def _take_patient(self) -> int:
        """The next patient number of the run (its counter is locked: ``_transaction``)."""
        number = self._next_patient
        assert number is not None, "a patient number outside a feed transaction"
        self._next_patient = number + 1
        return number

    # ------------------------------------------------------------------ ADT messages

    def apply_messages(self, items: Sequence[Message | Bad]) -> list[Outcome]:
        """Apply parsed messages in order, in one transaction; what became of each.

        Optimistic about control ids: a retransmission is rare (a sender whose
        connection broke before its ACK), so the transaction first assumes none and
        lets ``feed_messages``' primary key say otherwise; then it is rolled back and
        done again looking each id up first (one statement, on PostgreSQL one round
        trip, spared per message)."""
        try:
            return self._apply_messages(items, look_up=False)
        except (sqlite3.IntegrityError, psycopg.IntegrityError):
            return self._apply_messages(items, look_up=True)

    def _apply_messages(self, items: Sequence[Message | Bad], look_up: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._transaction() as (connection, run_id, visits):
            ids = [item.control_id for item in items if item.control_id]
            seen = _known_messages(connection, self.site_id, ids) if look_up else {}
            rejections: list[Rejection] = []
            records: list[tuple[Any, ...]] = []
            work = _Work(connection, run_id, self.site_id)
            for item in items:
                known = seen.get(item.control_id) if item.control_id else None
                if known is not None:  # retransmitted: answered as before, not applied
                    outcomes.append(known)
                    continue
                if isinstance(item, Bad):
                    outcome = Outcome("quarantined", item.reason, item.field, item.message)
                    rejections.append(
                        Rejection(item.location, item.reason, item.message, item.field, item.raw)
                    )
                    event = item.event
                else:
                    outcome, rejection = self._apply_one(work, visits, item)
                    if rejection is not None:
                        rejections.append(rejection)
                    event = item.event
                outcomes.append(outcome)
                if item.control_id:
                    answer = ""
                    if outcome.status == "quarantined":
                        parts = (outcome.reason, outcome.field, outcome.message)
                        answer = "\t".join(p or "" for p in parts)
                    seen[item.control_id] = _answer(outcome.status, answer)
                    records.append(
                        (
                            self.site_id,
                            item.control_id[:200],
                            now_ms(),
                            event[:8],
                            outcome.status,
                            answer[:500],
                        )
                    )
            if rejections and self._session_batch is None:
                self._session_batch = self._batch(connection, {"source": "feed"})
            with _pipeline(connection) as raw:  # what is written and not read: one round trip
                _sql_many(connection, _INSERT_MESSAGE, records)
                if rejections:
                    assert self._session_batch is not None
                    self._quarantine(connection, self._session_batch, rejections)
                self._touch(connection, run_id, work.times, work.added, len(items))
                if raw is not None:
                    # queued with them: the pipeline's closing sync is the one round trip
                    # (psycopg then sees the transaction closed: SQLAlchemy's commit is a no-op)
                    _sql(connection, "COMMIT")
        return outcomes

    def _apply_one(
        self, work: _Work, visits: _Visits, item: Message
    ) -> tuple[Outcome, Rejection | None]:
        m = item.fields
        if m is None:
            return Outcome("ignored"), None
        change, problem = self._change(visits, m)
        if problem is not None:
            return _bad(item, problem), problem
        key = change["visit_key"]
        stored = work.visit(key)
        emergency = m.patient_class in self.settings.classes
        if stored is None and not emergency:
            return Outcome("ignored"), None  # another class's visit (a hospital-wide feed)
        if stored is None and m.event in _CREATES and change.get("arrival") is not None:
            row = change["row"]
            created = dict(zip(VISIT_COLUMNS, row, strict=True))
            created["patient_no"] = self._take_patient()
            created["id"] = None
            stored = created
        elif stored is None:
            if m.event == "A11":  # nothing to cancel (a held change is dropped with it)
                work.drop_held(key, self._held_keys)
                return Outcome("applied"), None
            work.hold(key, _held(change))
            assert self._held_keys is not None
            self._held_keys.add(key)
            return Outcome("held"), None
        if m.event == "A11":
            work.delete(stored)
            work.drop_held(key, self._held_keys)
            return Outcome("applied"), None
        merged, problem = self._merge(visits, stored, _held(change))
        if problem is not None:
            return _bad(item, problem), problem
        if self._held_keys and key in self._held_keys:
            for held in work.take_held(key):
                attempt, trouble = self._merge(visits, merged, held)
                if trouble is None:
                    merged = attempt
                else:
                    work.rejections.append(trouble)
            self._held_keys.discard(key)
        work.save(merged)
        return Outcome("applied"), None

    def _change(self, visits: _Visits, m: Any) -> tuple[dict[str, Any], Rejection | None]:
        """The message as pseudonymised column values (nothing raw survives this)."""
        given_arrival = m.arrival
        if given_arrival is None and m.event == "A04":
            given_arrival = m.time  # live registration: the message is the arrival
        record = VisitRecord(
            arrival=given_arrival or m.departure or m.time,
            source="",
            visit_id=m.visit_id,
            patient_id=m.patient_id,
            diagnosis=m.diagnosis[0] if m.diagnosis else None,
            diagnosis_system=m.diagnosis[1] if m.diagnosis else None,
            specialty=m.specialty,
            doctor_id=m.doctor,
            birth_date=m.birth_date,
            sex=m.sex,
            postcode=m.postcode,
        )
        row = visits.row(record)
        if isinstance(row, Rejection):
            return {}, row
        values = dict(zip(VISIT_COLUMNS, row, strict=True))
        sets: dict[str, Any] = {}
        for column, source in _GIVEN.items():
            if getattr(m, source) is not None:
                sets[column] = values[column]
        if m.diagnosis:
            for column in _DIAGNOSIS_COLUMNS:
                if column != "specialty_idx" or m.specialty is None:
                    sets[column] = values[column]
        time_ms = round(m.time.timestamp() * 1000)
        change: dict[str, Any] = {
            "event": m.event,
            "visit_key": values["visit_key"],
            "time_ms": time_ms,
            "set": sets,
            "row": row,
            "arrival": None,
            "first_seen_ms": None,
            "departure_ms": None,
            "code": m.disposition,
        }
        if given_arrival is not None and (m.event in _REGISTER or m.event in _ADMIT):
            change["arrival"] = [values["arrival_ms"], values["arrival_local_ms"]]
            change["arrival_rank"] = 2 if m.event in _REGISTER else 1
        if m.event in _REGISTER and m.doctor_filled:
            change["first_seen_ms"] = time_ms
        if m.event == "A03":
            departure = m.departure or m.time
            change["departure_ms"] = round(departure.timestamp() * 1000)
        return change, None

    def _merge(
        self, visits: _Visits, stored: dict[str, Any], change: dict[str, Any]
    ) -> tuple[dict[str, Any], Rejection | None]:
        """``stored`` with ``change`` applied, or why that would make an impossible visit."""
        row = dict(stored)
        arrival = row["arrival_ms"]
        seen = None if row["wait_min"] is None else arrival + round(row["wait_min"] * MS_PER_MIN)
        event = change["event"]
        row.update(change["set"])
        if change.get("arrival") is not None and (
            stored.get("id") is None or change.get("arrival_rank") == 2
        ):
            row["arrival_ms"], row["arrival_local_ms"] = change["arrival"]
        first_seen = change.get("first_seen_ms")
        if first_seen is not None and (seen is None or first_seen < seen):
            seen = first_seen
        disposition = row["disposition"]
        if event in _ADMIT and row["departure_ms"] is None:
            disposition = int(Disposition.ADMITTED)
        elif event == "A03":
            row["departure_ms"] = change["departure_ms"]
            code = change.get("code")
            if code is None:
                admitted = disposition == Disposition.ADMITTED
                disposition = int(Disposition.ADMITTED if admitted else Disposition.DISCHARGED)
            elif code == "07" and code not in self.settings.codes:
                left = Disposition.LEFT_WITHOUT_BEING_SEEN
                disposition = int(Disposition.DISCHARGED if seen is not None else left)
            else:
                chosen = self.settings.codes.get(code)
                disposition = int(chosen) if chosen is not None else None
        elif event == "A13":
            row["departure_ms"] = None
            disposition = int(Disposition.ADMITTED) if disposition == Disposition.ADMITTED else None
        row["disposition"] = disposition
        arrival, departure = row["arrival_ms"], row["departure_ms"]
        problem = visits._check(arrival, departure, seen)
        if problem is not None:
            reason, field_name, message = problem
            return stored, Rejection(f"visit {change['event']}", reason, message, field_name)
        row["wait_min"] = None if seen is None else (seen - arrival) / MS_PER_MIN
        row["los_min"] = None if departure is None else (departure - arrival) / MS_PER_MIN
        return row, None

    def expire_held(self, max_age_seconds: float) -> int:
        """Quarantine held changes older than ``max_age_seconds``; how many."""
        limit = now_ms() - int(max_age_seconds * 1000)
        h = schema.feed_held
        with self._transaction() as (connection, _run_id, _visits):
            rows = connection.execute(
                sa.select(h.c.id, h.c.visit_key, h.c.change).where(
                    h.c.site_id == self.site_id, h.c.received_at_ms < limit
                )
            ).all()
            if not rows:
                return 0
            rejections = [
                Rejection(
                    f"feed: held {change.get('event')}",
                    "orphan_message",
                    f"{change.get('event')} for a visit that no registration (A04/A01) "
                    f"created within {max_age_seconds:g} s",
                    "PV1-19",
                    f"event={change.get('event')}",
                )
                for _id, _key, change in rows
            ]
            if self._session_batch is None:
                self._session_batch = self._batch(connection, {"source": "feed"})
            self._quarantine(connection, self._session_batch, rejections)
            ids = [r[0] for r in rows]
            for start in range(0, len(ids), 900):
                connection.execute(h.delete().where(h.c.id.in_(ids[start : start + 900])))
            keys = {r[1] for r in rows}
        if self._held_keys is not None:
            self._held_keys -= keys
        return len(rows)

    def refresh_rollups(self) -> bool:
        """Rebuild the run's rollups if a feed wrote visits since the last rebuild."""
        f = schema.feed_state
        with self.engine.begin() as connection:
            claimed = connection.execute(
                f.update()
                .where(f.c.site_id == self.site_id, f.c.rollups_dirty.is_(True))
                .values(rollups_dirty=False)
            ).rowcount
            if not claimed:
                return False
            run_id = sites.get_site(connection, self.site_id)["run_id"]
            if run_id is not None:
                rollups.from_visits(connection, int(run_id))
        return True


_MESSAGE_COLUMNS = ("site_id", "control_id", "received_at_ms", "event", "status", "answer")
_INSERT_MESSAGE = (
    f"INSERT INTO feed_messages ({', '.join(_MESSAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_MESSAGE_COLUMNS))})"
)
_INSERT_QUARANTINE = (
    f"INSERT INTO quarantine ({', '.join(QUARANTINE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(QUARANTINE_COLUMNS))})"
)
_SQL: dict[tuple[str, str], str] = {}


def _driver_sql(connection: Connection, sql: str) -> str:
    """``sql`` (``?`` placeholders) in the driver's parameter style."""
    style = connection.dialect.paramstyle
    text = _SQL.get((style, sql))
    if text is None:
        text = sql if style == "qmark" else sql.replace("%", "%%").replace("?", "%s")
        _SQL[(style, sql)] = text
    return text


def _lock_row(connection: Connection, run_id: int) -> tuple[Any, ...] | None:
    """The run's counter row, locked until the transaction ends (``store.patient_numbers``),
    as driver SQL like the rest of the per-message path; None if the run is gone (an
    administrator deleted the site's observed run while this feed kept its id).

    One round trip more per transaction on PostgreSQL (15-75 us measured against
    ~600 us for an A04's transaction); sending it in a psycopg pipeline with the
    implicit ``BEGIN`` was slower still (pipeline mode's own enter and sync)."""
    sql = patient_numbers.lock_sql(connection.dialect.name)
    row = _sql(connection, sql, (run_id,)).first()
    return None if row is None else tuple(row)


def _reads(sql: str) -> bool:
    """Whether ``sql`` answers rows (asked of the text: in a pipeline, a cursor's
    description is unknown until its results are fetched)."""
    return sql.startswith("SELECT") or " RETURNING " in sql


@contextmanager
def _pipeline(connection: Connection) -> Iterator[Any]:
    """On PostgreSQL, psycopg's pipeline mode (statements sent together, results read at
    the end; yields the driver connection); elsewhere nothing (yields None). Only for
    statements run through ``_sql``/``_sql_many``: SQLAlchemy reads results at once."""
    if connection.dialect.name != "postgresql":
        yield None
        return
    raw = connection.connection.driver_connection
    with raw.pipeline():  # type: ignore[union-attr]
        yield raw


def _sql_many(connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``sql`` once per row on the DBAPI cursor (psycopg pipelines them: one round trip,
    where ``insert_rows``'s COPY takes two, which a batch of one message feels)."""
    if not rows:
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_driver_sql(connection, sql), rows)
    finally:
        cursor.close()


def _sql(connection: Connection, sql: str, params: Sequence[Any] = ()) -> _Rows:
    """Run ``sql`` (``?`` placeholders) on the transaction's DBAPI connection: the
    per-message path is a few small statements, and SQLAlchemy's per-statement work
    (even ``exec_driver_sql``) cost more than running them."""
    text = _driver_sql(connection, sql)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(text, tuple(params))
        rows = cursor.fetchall() if _reads(sql) else []
    finally:
        cursor.close()
    return _Rows(rows)


class _Rows(list[Any]):
    """What ``_sql`` fetched, with the few ``Result`` methods the callers use."""

    def first(self) -> Any:
        return self[0] if self else None

    def one(self) -> Any:
        if len(self) != 1:
            raise ValueError(f"expected one row, got {len(self)}")
        return self[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


_SELECT_VISIT = (
    f"SELECT id, {', '.join(VISIT_COLUMNS)} FROM visits WHERE run_id = ? AND visit_key = ?"
)
_INSERT_VISIT = (
    f"INSERT INTO visits ({', '.join(VISIT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(VISIT_COLUMNS))}) RETURNING id"
)
_UPDATE_VISIT = f"UPDATE visits SET {', '.join(f'{c} = ?' for c in VISIT_COLUMNS)} WHERE id = ?"
_COUNT = "CASE WHEN visits_count + ? < 0 THEN 0 ELSE visits_count + ? END"
_RUN_COUNT = (
    f"UPDATE runs SET visits_count = {_COUNT}, finished_at_ms = ?, next_patient_no = ? WHERE id = ?"
)
# an empty run's span is the new visits' (its placeholder span is its creation time)
_RUN_SPAN = (
    f"UPDATE runs SET visits_count = {_COUNT}, "
    "start_utc_ms = CASE WHEN visits_count = 0 OR ? < start_utc_ms THEN ? ELSE start_utc_ms END, "
    "end_utc_ms = CASE WHEN visits_count = 0 OR ? > end_utc_ms THEN ? ELSE end_utc_ms END, "
    "finished_at_ms = ?, next_patient_no = ? WHERE id = ?"
)
_STATE_UPSERT = (
    "INSERT INTO feed_state (site_id, last_message_ms, messages, rollups_dirty) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (site_id) DO UPDATE SET "
    "last_message_ms = excluded.last_message_ms, "
    "messages = feed_state.messages + excluded.messages, rollups_dirty = excluded.rollups_dirty"
)


class _Work:
    """The visits one transaction reads and writes, by visit key."""

    def __init__(self, connection: Connection, run_id: int, site_id: int) -> None:
        self.connection = connection
        self.run_id = run_id
        self.site_id = site_id
        self.cache: dict[str, dict[str, Any] | None] = {}
        self.times: list[int] = []
        self.added = 0
        self.rejections: list[Rejection] = []

    def visit(self, key: str) -> dict[str, Any] | None:
        if key not in self.cache:
            found = _sql(self.connection, _SELECT_VISIT, (self.run_id, key)).first()
            self.cache[key] = (
                dict(zip(("id", *VISIT_COLUMNS), found, strict=True)) if found is not None else None
            )
        return self.cache[key]

    def save(self, row: dict[str, Any]) -> None:
        values = [row[c] for c in VISIT_COLUMNS]
        if row.get("id") is None:
            new_id = _sql(self.connection, _INSERT_VISIT, values).scalar_one()
            row = {**row, "id": int(new_id)}
            self.added += 1
        else:
            _sql(self.connection, _UPDATE_VISIT, [*values, row["id"]])
        self.cache[row["visit_key"]] = row
        self.times.append(row["arrival_ms"])
        if row["departure_ms"] is not None:
            self.times.append(row["departure_ms"])

    def delete(self, row: dict[str, Any]) -> None:
        v = schema.visits
        self.connection.execute(v.delete().where(v.c.id == row["id"]))
        self.cache[row["visit_key"]] = None
        self.added -= 1

    def hold(self, key: str, change: dict[str, Any]) -> None:
        self.connection.execute(
            schema.feed_held.insert().values(
                site_id=self.site_id, visit_key=key, received_at_ms=now_ms(), change=change
            )
        )

    def take_held(self, key: str) -> list[dict[str, Any]]:
        h = schema.feed_held
        rows = self.connection.execute(
            sa.select(h.c.id, h.c.change).where(h.c.site_id == self.site_id, h.c.visit_key == key)
        ).all()
        if rows:
            self.connection.execute(h.delete().where(h.c.id.in_([r[0] for r in rows])))
        return sorted((r[1] for r in rows), key=lambda c: c.get("time_ms", 0))

    def drop_held(self, key: str, held_keys: set[str] | None) -> None:
        if held_keys and key in held_keys:
            self.take_held(key)
            held_keys.discard(key)


def _held(change: dict[str, Any]) -> dict[str, Any]:
    """What of a change is kept (JSON, pseudonymised): everything but the full row."""
    return {k: v for k, v in change.items() if k != "row"}


def _bad(item: Message, problem: Rejection) -> Outcome:
    del item
    return Outcome("quarantined", problem.reason, problem.field, problem.message)


def _quarantined(index: int, rejection: Rejection) -> dict[str, Any]:
    return {
        "index": index,
        "status": "quarantined",
        "reason": rejection.reason,
        "field": rejection.field,
        "message": rejection.message,
    }


def _known_messages(connection: Connection, site_id: int, ids: list[str]) -> dict[str, Outcome]:
    """Control ids already taken, with the answer they got (a NACK is given again)."""
    if not ids:
        return {}
    found: dict[str, Outcome] = {}
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        marks = ", ".join("?" * len(part))
        rows = _sql(
            connection,
            "SELECT control_id, status, answer FROM feed_messages "
            f"WHERE site_id = ? AND control_id IN ({marks})",
            (site_id, *part),
        )
        for control_id, status, answer in rows:
            found[control_id] = _answer(status, answer)
    return found


def _answer(status: str, answer: str) -> Outcome:
    if status != "quarantined":
        return Outcome("duplicate")
    reason, _tab, rest = answer.partition("\t")
    field_name, _tab, message = rest.partition("\t")
    return Outcome("quarantined", reason or None, field_name or None, message or None)


_SELECT_STORED = f"SELECT id, {', '.join(VISIT_COLUMNS[2:])} FROM visits WHERE run_id = ? AND "


def _stored(connection: Connection, run_id: int, keys: list[str]) -> dict[str, tuple[Any, ...]]:
    """The stored visits of ``keys`` (driver SQL: SQLAlchemy's rendering of a 900-key
    IN list cost a push more than the query)."""
    existing: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(keys), 900):
        part = keys[start : start + 900]
        marks = ", ".join("?" * len(part))
        sql = f"{_SELECT_STORED}visit_key IN ({marks})"
        for found in _sql(connection, sql, (run_id, *part)):
            existing[found[_KEY - 1]] = tuple(found)
    return existing


def _update_visits(connection: Connection, changed: list[dict[str, Any]]) -> None:
    if not changed:
        return
    v = schema.visits
    connection.execute(
        v.update()
        .where(v.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(name) for name in VISIT_COLUMNS[2:]}),
        changed,
    )


def describe(record: VisitRecord) -> str:
    """What the quarantine may keep of a pushed visit (times and codes, never identifiers)."""
    return _describe(record)


def as_utc_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)
