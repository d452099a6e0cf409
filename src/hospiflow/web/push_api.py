"""REST push of live visits into a site: JSON visit records, or FHIR R4 Encounters.

``POST /api/v1/sites/{site_id}/visits`` takes ``{"visits": [...]}`` (the
``PushVisits`` schema: the fields of ``hospiflow.records.VisitRecord``) and
``POST /api/v1/sites/{site_id}/fhir`` a FHIR R4 Bundle or NDJSON of
Encounters (read by ``hospiflow.ingest.fhir``, so pushed and imported FHIR
mean the same). Both need an administrator token, as imports do.

Each request is one batch, applied all-or-nothing in one transaction by
``hospiflow.feeds.apply.SiteFeed.push``: the answer lists every item as
``accepted`` (a new visit), ``updated`` (a correction of a stored visit id),
``duplicate`` (sent before: idempotent by visit id) or ``quarantined`` with
its reason, field and message. Items are checked here by hand rather than
with a marshmallow schema: a bad item is quarantined, not the whole batch
refused, and a batch of 1,000 costs no per-field schema machinery. The
schema is still declared for the OpenAPI document.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apiflask import Schema, fields, validators
from flask import current_app, request

from hospiflow.errors import HospiflowError, NotFoundError
from hospiflow.feeds.apply import SiteFeed
from hospiflow.ingest.formats import ReadOptions
from hospiflow.records import DISPOSITION_LABELS, ICD9, ICD10, Rejection, VisitRecord
from hospiflow.store import sites as store_sites
from hospiflow.web.api import E401, E403
from hospiflow.web.auth import actor, requires_admin
from hospiflow.web.components import COMPONENTS, INT, OPT_STR, STR, arr, obj, ok
from hospiflow.web.context import state
from hospiflow.web.endpoints import (
    BadJson,
    Blueprint,
    Responses,
    no_query,
    refuse_repeated_parameters,
)
from hospiflow.web.schemas import BIGINT

bp = Blueprint("push", __name__, tag="sites")
bp.before_request(refuse_repeated_parameters)

log = logging.getLogger("hospiflow.feeds")
MAX_ITEMS = 10_000  # visits (or lines) in one batch
_FIELDS = frozenset(VisitRecord._fields) - {"source"}
ROLLUP_SECONDS = 5.0  # pushed visits reach the hourly/daily views within about this
_TIMES = ("arrival", "first_seen", "departure")
_SYSTEMS = {"icd10": ICD10, "icd9": ICD9}

COMPONENTS["PushResult"] = obj(
    {
        "ok": {"type": "boolean", "const": True},
        "batch_id": INT,
        "accepted": INT,
        "updated": INT,
        "duplicates": INT,
        "quarantined": INT,
        "results": arr(
            obj(
                {
                    "index": INT,
                    "status": {
                        "type": "string",
                        "enum": ["accepted", "updated", "duplicate", "quarantined"],
                    },
                },
                {"reason": STR, "field": OPT_STR, "message": STR, "source": STR},
            )
        ),
    }
)


class PushedVisit(Schema):
    visit_id = fields.String(
        required=True,
        validate=validators.Length(min=1, max=200),
        metadata={"description": "The hospital's visit number (pseudonymised, never stored)."},
    )
    arrival = fields.String(
        required=True,
        metadata={"description": "ISO 8601; without an offset, the site's local time."},
    )
    first_seen = fields.String(allow_none=True, metadata={"description": "First doctor contact."})
    departure = fields.String(allow_none=True)
    patient_id = fields.String(allow_none=True, metadata={"description": "Pseudonymised."})
    acuity = fields.Integer(allow_none=True, validate=validators.Range(min=0, max=10))
    disposition = fields.String(
        allow_none=True,
        validate=validators.OneOf(sorted(DISPOSITION_LABELS)),
    )
    diagnosis = fields.String(allow_none=True, metadata={"description": "ICD-10 (or ICD-9) code."})
    diagnosis_system = fields.String(allow_none=True, validate=validators.OneOf(["icd10", "icd9"]))
    specialty = fields.String(allow_none=True)
    doctor_id = fields.String(allow_none=True, metadata={"description": "Pseudonymised."})
    birth_date = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD; an age."})
    age_years = fields.Integer(allow_none=True)
    sex = fields.String(allow_none=True, validate=validators.OneOf(["F", "M", "U"]))
    postcode = fields.String(allow_none=True, metadata={"description": "Its first 2 chars kept."})


class PushVisits(Schema):
    visits = fields.List(
        fields.Nested(PushedVisit),
        required=True,
        validate=validators.Length(min=1, max=MAX_ITEMS),
    )


RESPONSES: Responses = {
    200: ok("PushResult", "What became of each item (the batch is committed)"),
    400: "Not JSON, not a batch, or over the batch size",
    401: E401,
    403: E403,
    404: "No such site",
    413: "The body is over MAX_CONTENT_LENGTH",
    422: "The site's pseudonymisation key is not on this server",
}

_lock = threading.Lock()


def _feed(site_id: int, fmt: str) -> tuple[SiteFeed, threading.Lock]:
    """The site's writer in this app (kept: its caches spare a query or two per batch)."""
    engine = state().write_engine()
    with _lock:
        feeds = current_app.extensions.setdefault("hospiflow.feeds", {})
        feed = feeds.get(site_id)
        if feed is None or feed.format != fmt:
            feed = SiteFeed(engine, site_id, format=fmt)
            feeds[site_id] = feed
            # the site's push lock rides on its feed (SiteFeed declares none)
            feed.lock = threading.Lock()  # type: ignore[attr-defined]
        return feed, feed.lock


def _site(site_id: int) -> dict[str, Any]:
    if not 0 < site_id <= BIGINT:
        raise NotFoundError(f"no site {site_id}", where="site_id")
    with state().reader.connect() as connection:
        return store_sites.get_site(connection, site_id)


def _push(site_id: int, items: list[VisitRecord | Rejection], fmt: str) -> dict[str, Any]:
    feed, lock = _feed(site_id, fmt)
    with lock:
        feed.actor = actor()
        summary = feed.push(items)
    _refresh_later(feed)
    return {"ok": True, **summary.as_dict()}


@bp.post("/sites/<int:site_id>/visits")
@bp.doc(security="BearerAuth", responses=RESPONSES)
@requires_admin
@no_query
@bp.input(PushVisits, location="json", arg_name="body", validation=False)
def push_visits(site_id: int, body: Any = None) -> dict[str, Any]:
    """Push a batch of visits (JSON), applied at once; idempotent by `visit_id`.

    Every item is answered in `results` (same order): `accepted`, `updated`
    (a stored visit id with new content), `duplicate` (sent before, or again
    later in this batch) or `quarantined` with `reason`, `field` and `message`.
    Raw identifiers are pseudonymised with the site's key and never stored.
    """
    site = _site(site_id)
    # the body as the input decorator already parsed it (parsing 1,000 visits twice
    # cost a batch ~15 ms); anything else is read again to be refused below
    payload = body if isinstance(body, dict) else request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("visits"), list):
        raise BadJson('the body must be a JSON object {"visits": [...]}', where="body")
    unknown = set(payload) - {"visits"}
    if unknown:
        raise BadJson(f"unknown key {sorted(unknown)[0]!r}", where="body")
    raw = payload["visits"]
    if not 1 <= len(raw) <= MAX_ITEMS:
        raise BadJson(f"a batch holds 1 to {MAX_ITEMS} visits", where="visits")
    zone = ZoneInfo(site["timezone"])
    items = [_record(i, item, zone) for i, item in enumerate(raw)]
    return _push(site_id, items, "push-json")


@bp.post("/sites/<int:site_id>/fhir")
@bp.doc(
    security="BearerAuth",
    responses=RESPONSES,
)
@requires_admin
@no_query
def push_fhir(site_id: int) -> dict[str, Any]:
    """Push FHIR R4 Encounters: a Bundle (`application/fhir+json`) or NDJSON
    (`application/fhir+ndjson`), with the Patients and Conditions they reference
    when the Bundle holds them. Read as `hospiflow import --format fhir` reads
    files; the batch is applied at once, every Encounter answered in `results`
    (`source` names its line or entry)."""
    from hospiflow.ingest import fhir

    site = _site(site_id)
    body = request.get_data(cache=False)
    if not body.strip():
        raise BadJson("the body is empty", where="body")
    with tempfile.TemporaryDirectory(prefix="hospiflow-push-") as folder:
        path = Path(folder) / "push.ndjson"
        path.write_bytes(body)
        options = ReadOptions(timezone=site["timezone"])
        try:
            read = fhir.read([path], options)
            items = [i for i in read if isinstance(i, VisitRecord | Rejection)]
        except UnicodeError:
            raise BadJson("the body is not UTF-8 text", where="body") from None
    if len(items) > MAX_ITEMS:
        raise BadJson(f"a batch holds at most {MAX_ITEMS} encounters", where="body")
    return _push(site_id, items, "push-fhir")


class _ItemError(HospiflowError):
    pass


def _record(index: int, item: Any, zone: ZoneInfo) -> VisitRecord | Rejection:
    """One pushed visit, or why not (what the quarantine may keep: no identifier)."""
    where = f"visits[{index}]"
    if not isinstance(item, dict):
        return Rejection(where, "bad_value", "a visit must be a JSON object")
    unknown = set(item) - _FIELDS
    if unknown:
        name = sorted(unknown)[0]
        return Rejection(where, "unknown_field", f"unknown key {name[:40]!r}", name[:40])
    try:
        values: dict[str, Any] = {}
        for name in ("visit_id", "patient_id", "doctor_id"):
            values[name] = _text(item, name, 200)
        if not values["visit_id"]:
            raise _ItemError("visit_id is required", where="visit_id")
        for name in _TIMES:
            values[name] = _time(item, name, zone)
        if values["arrival"] is None:
            raise _ItemError("arrival is required", where="arrival")
        values["acuity"] = _int(item, "acuity", 0, 10)
        values["age_years"] = _int(item, "age_years", 0, 130)
        disposition = _text(item, "disposition", 40)
        if disposition is not None:
            if disposition.lower() not in DISPOSITION_LABELS:
                raise _ItemError("unknown disposition", where="disposition")
            values["disposition"] = DISPOSITION_LABELS[disposition.lower()]
        values["diagnosis"] = _text(item, "diagnosis", 20)
        system = _text(item, "diagnosis_system", 10)
        if system is not None and system.lower() not in _SYSTEMS:
            raise _ItemError("diagnosis_system is icd10 or icd9", where="diagnosis_system")
        values["diagnosis_system"] = _SYSTEMS.get((system or "").lower())
        values["specialty"] = _text(item, "specialty", 64)
        sex = _text(item, "sex", 1)
        if sex is not None and sex.upper() not in ("F", "M", "U"):
            raise _ItemError("sex is F, M or U", where="sex")
        values["sex"] = sex.upper() if sex else None
        values["postcode"] = _text(item, "postcode", 20)
        birth = _text(item, "birth_date", 10)
        values["birth_date"] = date.fromisoformat(birth) if birth else None
    except _ItemError as error:
        return Rejection(where, "bad_value", str(error), error.where)
    except ValueError:
        return Rejection(where, "bad_value", "birth_date is not YYYY-MM-DD", "birth_date")
    return VisitRecord(source=where, **values)


def _text(item: dict[str, Any], name: str, limit: int) -> str | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if type(value) is not str:
        if isinstance(value, int | float) and not isinstance(value, bool) and name[-3:] == "_id":
            value = str(value)
        else:
            raise _ItemError(f"{name} must be a string", where=name)
    if len(value) > limit:
        raise _ItemError(f"{name} is longer than {limit} characters", where=name)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON \\ud8xx escape
            raise _ItemError(f"{name} is not valid Unicode text", where=name) from None
    return value


def _int(item: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _ItemError(f"{name} must be an integer from {low} to {high}", where=name)
    return value


def _time(item: dict[str, Any], name: str, zone: ZoneInfo) -> datetime | None:
    value = _text(item, name, 40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _ItemError(f"{name} is not an ISO 8601 date-time", where=name) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _refresh_later(feed: SiteFeed) -> None:
    """Rebuild the site's rollups at most every ``ROLLUP_SECONDS``, after a push's commit.

    In the request that finds it due (no background thread outlives the app); the
    pushes in between are gathered into that one rebuild.
    """
    now = time.monotonic()
    if now - getattr(feed, "refreshed_at", 0.0) < ROLLUP_SECONDS:
        return
    feed.refreshed_at = now  # type: ignore[attr-defined]  # set here only, read via getattr
    try:
        feed.refresh_rollups()
    except Exception:  # noqa: BLE001 - the flag stays set: the next push tries again
        log.exception("rollup refresh of site %s failed", feed.site_id)
