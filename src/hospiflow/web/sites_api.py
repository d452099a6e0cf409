"""Sites (hospitals) and their observed visits under ``/api/v1``: list, quality, imports, export.

A site's imported visits form one run (``source: observed``) that every run
endpoint reads like a simulation. Here: the sites themselves, what their data
hold and lack (``/quality``, counts only, viewers may read it), and what only
an administrator may do: create a site, upload files to import, read the
quarantined rows (``raw`` has identifiers redacted by the readers, but it is
still a hospital's row), export a run's visits, read the audit log. Every
write and every export is recorded in the audit log with the token's name.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from apiflask import Schema, fields, validators
from flask import Response, current_app
from werkzeug.utils import secure_filename

from hospiflow.errors import NotFoundError
from hospiflow.ingest.formats import FORMATS, IngestError, ReadOptions
from hospiflow.store import observed as store_observed
from hospiflow.store import sites as store_sites
from hospiflow.web import data
from hospiflow.web.api import E401, E403
from hospiflow.web.auth import actor, requires_admin
from hospiflow.web.components import ok
from hospiflow.web.context import get_db, state
from hospiflow.web.endpoints import (
    Blueprint,
    json_object,
    limited,
    no_query,
    query,
    refuse_repeated_parameters,
)
from hospiflow.web.schemas import BIGINT
from hospiflow.web.timeutil import BadRequest, utc_iso, wall

bp = Blueprint("sites", __name__, tag="sites")

E400 = "Malformed or unknown parameter"
E404 = "No such site (or run)"
ADMIN = {401: E401, 403: E403}
WRITABLE = tuple(name for name, entry in FORMATS.items() if entry[2] is not None)
# what an export answers: media type and file extension per format
EXPORT_MEDIA = {
    "csv": ("text/csv", "csv"),
    "rpu": ("text/csv", "csv"),
    "mimic-ed": ("text/csv", "csv"),
    "hl7": ("text/plain", "hl7"),
    "fhir": ("application/fhir+json", "json"),  # a collection Bundle
}
CHUNK = 64 * 1024


# --------------------------------------------------------------------------- parameters


class QuarantineQuery(Schema):
    reason = fields.String(
        validate=validators.Length(min=1, max=100),
        metadata={"description": "Only rows set aside for this reason (e.g. bad_time)."},
    )
    limit = fields.Integer(load_default=100, validate=validators.Range(min=1, max=1000))
    cursor = fields.String(
        validate=validators.Length(min=1, max=200),
        metadata={"description": "The `next` value of the previous page (opaque)."},
    )


class AuditQuery(Schema):
    limit = fields.Integer(load_default=200, validate=validators.Range(min=1, max=1000))


class ExportQuery(Schema):
    format = fields.String(
        required=True,
        validate=validators.OneOf(WRITABLE),
        metadata={"description": "The file format written (see `hospiflow import --help`)."},
    )


class SiteRequest(Schema):
    name = fields.String(required=True, validate=validators.Length(min=1, max=100))
    timezone = fields.String(
        load_default="Europe/Paris",
        validate=validators.Length(min=1, max=64),
        metadata={"description": "IANA time zone of the site's wall clocks."},
    )
    code = fields.String(
        allow_none=True,
        validate=validators.Length(max=50),
        metadata={"description": "FINESS, ODS or another code (written in RPU exports)."},
    )
    capacity_spaces = fields.Integer(
        allow_none=True,
        validate=validators.Range(min=1, max=10_000),
        metadata={"description": "Treatment spaces (boxes): the `now` saturation's basis."},
    )


class ImportForm(Schema):
    format = fields.String(
        required=True,
        validate=validators.OneOf(tuple(FORMATS)),
        metadata={"description": "How to read the files."},
    )
    files = fields.List(
        fields.File(),
        required=True,
        validate=validators.Length(min=1, max=100),
        metadata={"description": "One or more files of that format."},
    )
    mapping = fields.File(metadata={"description": "A mapping file (format csv)."})
    settings = fields.String(
        validate=validators.Length(max=10_000),
        metadata={"description": "Format settings as a JSON object (see the format's docs)."},
    )
    allow_future = fields.Boolean(
        load_default=False,
        metadata={"description": "Accept arrivals in the future (date-shifted research data)."},
    )


bp.before_request(refuse_repeated_parameters)


def _site_id(site_id: int) -> int:
    if not 0 < site_id <= BIGINT:
        raise NotFoundError(f"no site {site_id}", where="site_id")
    return site_id


# --------------------------------------------------------------------------- payloads


def site_json(row: dict[str, Any], span: tuple[int | None, int | None]) -> dict[str, Any]:
    """A site as the API shows it (its observed run's size and arrival span)."""
    tz = row["timezone"]
    return {
        "id": int(row["id"]),
        "name": row["name"],
        "timezone": tz,
        "code": row["code"],
        "capacity_spaces": row["capacity_spaces"],
        "created_at": utc_iso(row["created_at_ms"], tz),
        "run_id": None if row["run_id"] is None else int(row["run_id"]),
        "visits": int(row.get("visits_count") or 0),
        "first_arrival": utc_iso(span[0], tz),
        "last_arrival": utc_iso(span[1], tz),
        "source": "observed",
    }


def _sites(connection: Any, site_id: int | None = None) -> list[dict[str, Any]]:
    rows = store_sites.list_sites(connection)
    if site_id is not None:
        rows = [r for r in rows if int(r["id"]) == site_id]
        if not rows:
            raise NotFoundError(f"no site {site_id}", where="site_id", site_id=site_id)
    return [
        site_json(
            r,
            store_observed.arrival_span(connection, int(r["run_id"]))
            if r["run_id"] is not None
            else (None, None),
        )
        for r in rows
    ]


def _day(local: int) -> str:
    return wall(local).date().isoformat()


def quality_json(site: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """``store.quality.site_quality`` with times as ISO 8601 in the site's zone."""
    tz = site["timezone"]
    return {
        "ok": True,
        "site_id": site["id"],
        "run_id": report["run_id"],
        "visits": int(report.get("visits") or 0),
        "quarantined": int(report["quarantined"]),
        "quarantine_by_reason": report["quarantine_by_reason"],
        "quarantine_by_day": [
            {"day": _day(r["day_local_ms"]), "reason": r["reason"], "count": r["count"]}
            for r in report["quarantine_by_day"]
        ],
        "imports": [
            {
                "id": int(b["id"]),
                "format": b["format"],
                "files": [str(f) for f in b["files"] or []],
                "actor": b["actor"],
                "started_at": utc_iso(b["started_at_ms"], tz),
                "status": b["status"],
                "summary": b["summary"] if isinstance(b["summary"], dict) else {},
            }
            for b in report["imports"]
        ],
        "unmapped_codes": report["unmapped_codes"],
        "completeness": report["completeness"],
    }


# --------------------------------------------------------------------------- sites


@bp.get("/sites")
@bp.doc(responses={200: ok("SiteList", "Every site, oldest first")})
@no_query
def list_sites() -> dict[str, Any]:
    """Sites: the hospitals whose own visits are imported, with their data's span."""
    return {"ok": True, "sites": limited(lambda: _sites(get_db()))}


@bp.get("/sites/<int:site_id>")
@bp.doc(responses={200: ok("SiteDetail", "The site"), 404: E404})
@no_query
def get_site(site_id: int) -> dict[str, Any]:
    """One site: time zone, code, capacity, its observed run and span."""
    site_id = _site_id(site_id)
    return {"ok": True, "site": limited(lambda: _sites(get_db(), site_id)[0])}


@bp.get("/sites/<int:site_id>/quality")
@bp.doc(responses={200: ok("SiteQuality", "What the site's data hold and lack"), 404: E404})
@no_query
def site_quality(site_id: int) -> Response:
    """Data quality: imports, quarantined rows by reason and day, unmapped codes, completeness.

    Counts only (no row content): viewers may read it.
    """
    from hospiflow.store.quality import site_quality as quality

    site_id = _site_id(site_id)

    def version() -> str:
        # what the report depends on changes only with an import (a batch) or when
        # the observed run is deleted (the site's run_id)
        run_id, batch_id = store_sites.quality_version(get_db(), site_id)
        return f"quality|{batch_id}|{run_id}"

    key = (-site_id, limited(version))  # negative: never a run's id
    cache = state().cache
    body = cache.get(key)
    if body is None:

        def build() -> dict[str, Any]:
            site = store_sites.get_site(get_db(), site_id)
            return quality_json(site, quality(get_db(), site_id))

        body = current_app.json.dumps(limited(build)).encode()
        cache.put(key, body)
    return Response(body, mimetype="application/json")


@bp.get("/sites/<int:site_id>/fidelity")
@bp.doc(responses={200: ok("SiteFidelity", "The twin's fidelity to the site"), 404: E404})
@no_query
def site_fidelity(site_id: int) -> dict[str, Any]:
    """Twin fidelity: the newest validation of the site's calibrated twin on held-out weeks
    (``hospiflow calibrate --validate``), each criterion with its value, target and verdict."""
    from hospiflow.store.calibrations import latest_validation

    site_id = _site_id(site_id)

    def build() -> dict[str, Any]:
        site = store_sites.get_site(get_db(), site_id)
        row = latest_validation(get_db(), site_id)
        return {"ok": True, "site_id": site_id, "fidelity": fidelity_json(row, site["timezone"])}

    return limited(build)


@bp.get("/sites/<int:site_id>/calibration")
@bp.doc(responses={200: ok("SiteCalibration", "The site's newest fit"), 404: E404})
@no_query
def site_calibration(site_id: int) -> dict[str, Any]:
    """The newest fit of the site's twin (``hospiflow calibrate --out`` or ``--validate``):
    what it was fitted on, what the data could not give, and the fit beside the data
    (arrivals by hour of the week, care time by pathology) for the dashboard's plots."""
    from hospiflow.store.calibrations import latest_calibration

    site_id = _site_id(site_id)

    def build() -> dict[str, Any]:
        site = store_sites.get_site(get_db(), site_id)
        row = latest_calibration(get_db(), site_id)
        return {
            "ok": True,
            "site_id": site_id,
            "calibration": calibration_json(row, site["timezone"]),
        }

    return limited(build)


def calibration_json(row: dict[str, Any] | None, timezone: str) -> dict[str, Any] | None:
    """A stored fit as the API shows it; ``plots`` is null for fits stored before them."""
    if row is None:
        return None
    details = row["details"] or {}
    return {
        "id": int(row["id"]),
        "kind": row["kind"],
        "created_at": utc_iso(int(row["created_at_ms"]), timezone),
        "fitted_from": details.get("fitted_from"),
        "fitted_before": row["until_local"],
        "not_estimated": _not_estimated(details),
        "plots": details.get("plots"),
    }


def _not_estimated(details: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"item": m["item"], "default": m["default"], "reason": m["reason"]}
        for m in details.get("not_estimated", [])
    ]


def fidelity_json(row: dict[str, Any] | None, timezone: str) -> dict[str, Any] | None:
    """A stored validation as the API shows it (no scenario text: it is in the store);
    ``series`` is null for validations stored before it."""
    if row is None:
        return None
    details = row["details"] or {}
    return {
        "id": int(row["id"]),
        "created_at": utc_iso(int(row["created_at_ms"]), timezone),
        "fitted_before": row["until_local"],
        "holdout_end": details.get("holdout_end"),
        "holdout_weeks": int(row["holdout_weeks"] or 0),
        "replications": int(row["replications"] or 0),
        "passed": bool(row["passed"]),
        "criteria": [
            {
                "key": c.get("key", ""),
                "name": c["name"],
                "value": float(c["value"]),
                "target": c["target"],
                "unit": c["unit"],
                "passed": bool(c["passed"]),
            }
            for c in row["criteria"] or []
        ],
        "not_estimated": _not_estimated(details),
        "series": details.get("series"),
    }


@bp.get("/sites/<int:site_id>/quarantine")
@query(bp, QuarantineQuery)
@bp.doc(
    security="BearerAuth",
    responses={200: ok("Quarantine", "One page of set-aside rows"), 400: E400, **ADMIN, 404: E404},
)
@requires_admin
def quarantine(site_id: int, args: dict[str, Any]) -> dict[str, Any]:
    """Rows an import set aside, newest first: where, which field, why, the redacted row.

    Administrators only: even redacted, a row is a hospital's record.
    """
    site_id = _site_id(site_id)
    position = data.decode_cursor(args.get("cursor"))

    def build() -> dict[str, Any]:
        store_sites.get_site(get_db(), site_id)
        rows, after = store_observed.quarantine_page(
            get_db(),
            site_id,
            reason=args.get("reason"),
            after_id=None if position is None else position[1],
            limit=args["limit"],
        )
        return {
            "ok": True,
            "site_id": site_id,
            "items": [
                {
                    "id": int(r["id"]),
                    "batch_id": int(r["batch_id"]),
                    "location": r["location"],
                    "field": r["field"],
                    "reason": r["reason"],
                    "message": r["message"],
                    "raw": r["raw"],
                }
                for r in rows
            ],
            "next": data.encode_cursor(None if after is None else (0, after)),
        }

    return limited(build)


@bp.post("/sites")
@bp.doc(
    security="BearerAuth",
    responses={
        201: ok("SiteDetail", "The site, created with its pseudonymisation key"),
        400: "Malformed JSON or an unknown key",
        **ADMIN,
        422: "A name already taken, an unknown time zone",
    },
)
@requires_admin
@no_query
@json_object
@bp.input(SiteRequest, location="json", arg_name="body")
def create_site(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a site and its pseudonymisation key (kept outside the database)."""
    from hospiflow.ingest.pseudonym import create_key

    store_sites.check_timezone(body["timezone"])
    with state().write_engine().begin() as connection:
        site = store_sites.create_site(
            connection,
            body["name"],
            body["timezone"],
            code=body.get("code"),
            capacity_spaces=body.get("capacity_spaces"),
        )
        create_key(site["name"])
        store_sites.audit(connection, actor(), "site_create", f"site:{site['name']}")
    url = f"/api/v1/sites/{site['id']}"
    return {"ok": True, "site": site_json(site, (None, None))}, 201, {"Location": url}


def _available(format: str) -> None:
    """Refuse a format whose module this installation lacks (422, not a crash)."""
    module = FORMATS[format][0]
    if importlib.util.find_spec(f"hospiflow.ingest.{module}") is None:
        raise IngestError(
            f"format {format!r} is not available in this installation", where="format"
        )


def _save(uploads: list[Any], folder: Path) -> list[Path]:
    """Write the uploads into ``folder`` under safe, distinct names."""
    paths: list[Path] = []
    for number, upload in enumerate(uploads, start=1):
        name = secure_filename(upload.filename or "") or f"upload-{number}"
        if any(p.name == name for p in paths):
            name = f"{number}-{name}"
        path = folder / name
        upload.save(path)
        paths.append(path)
    return paths


def _settings(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise BadRequest("must be a JSON object", where="settings") from None
    if not isinstance(value, dict):
        raise BadRequest("must be a JSON object", where="settings")
    return value


@bp.post("/sites/<int:site_id>/imports")
@bp.doc(
    security="BearerAuth",
    responses={
        200: ok("ImportResult", "What the import did (it is complete when this answers)"),
        400: E400,
        **ADMIN,
        404: E404,
        413: "The upload is over MAX_IMPORT_BYTES",
        422: "Files that cannot be read in that format, a wrong mapping or setting",
    },
)
@requires_admin
@no_query
@bp.input(ImportForm, location="form_and_files", arg_name="form")
def import_files(site_id: int, form: dict[str, Any]) -> dict[str, Any]:
    """Import uploaded files into the site, synchronously (multipart/form-data).

    Visits are pseudonymised with the site's key, bad rows quarantined, a
    re-import adds nothing; all of it in one transaction. Answers the import's
    summary: read, imported, updated, duplicates, quarantined by reason.
    """
    from hospiflow.ingest.formats import import_reader as reader
    from hospiflow.ingest.pipeline import import_items

    site_id = _site_id(site_id)
    with state().reader.connect() as connection:
        site = store_sites.get_site(connection, site_id)
    fmt = form["format"]
    settings = _settings(form.get("settings"))
    _available(fmt)
    read = reader(fmt)
    with tempfile.TemporaryDirectory(prefix="hospiflow-upload-") as folder:
        paths = _save(form["files"], Path(folder))
        mapping = None
        if form.get("mapping") is not None:
            (Path(folder) / "mapping").mkdir()
            mapping = _save([form["mapping"]], Path(folder) / "mapping")[0]
        options = ReadOptions(timezone=site["timezone"], mapping=mapping, settings=settings)
        try:
            summary = import_items(
                state().write_engine(),
                site_id,
                read(paths, options),
                format=fmt,
                files=[p.name for p in paths],
                actor=actor(),
                allow_future=form["allow_future"],
            )
        except UnicodeError:
            raise IngestError(f"the files cannot be decoded as {fmt}", where="files") from None
    return {"ok": True, "import": summary.as_dict()}


# --------------------------------------------------------------------------- audit, export


@bp.get("/audit")
@query(bp, AuditQuery)
@bp.doc(security="BearerAuth", responses={200: ok("Audit", "Newest first"), 400: E400, **ADMIN})
@requires_admin
def audit(args: dict[str, Any]) -> dict[str, Any]:
    """The audit log: who created, imported, exported or deleted what, when, how many rows."""
    rows = limited(lambda: store_sites.audit_entries(get_db(), args["limit"]))
    return {
        "ok": True,
        "entries": [
            {
                "id": int(r["id"]),
                "at": utc_iso(r["at_ms"], "UTC"),
                "actor": r["actor"],
                "action": r["action"],
                "target": r["target"],
                "rows": int(r["rows"]),
                "details": r["details"] if isinstance(r["details"], dict) else {},
            }
            for r in rows
        ],
    }


def _chunks(handle: IO[str]) -> Iterator[str]:
    with contextlib.closing(handle):
        while chunk := handle.read(CHUNK):
            yield chunk


@bp.get("/runs/<int:run_id>/export")
@query(bp, ExportQuery)
@bp.doc(
    security="BearerAuth",
    responses={
        200: {
            "description": "Every visit of the run in that format, as a download",
            "content": {
                # JSON media (the FHIR Bundle) parse as an object; the others are text
                media: {"schema": {"type": "object" if media.endswith("json") else "string"}}
                for media in sorted({m for m, _ext in EXPORT_MEDIA.values()})
            },
        },
        400: E400,
        **ADMIN,
        404: "No such run",
        422: "A format this installation cannot write",
    },
)
@requires_admin
def export(run_id: int, args: dict[str, Any]) -> Response:
    """A run's visits in a hospital format (pseudonyms as identifiers); recorded in the audit.

    Written to a temporary file first, so an error is a JSON answer, not a cut download.
    """
    from hospiflow.ingest.export import export_run

    fmt = args["format"]
    row = limited(lambda: data.read_run(get_db(), run_id))
    site = limited(lambda: store_sites.site_of_run(get_db(), run_id))
    get_db().rollback()
    _available(fmt)
    handle = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")
    try:
        written = export_run(
            state().write_engine(),
            int(row["id"]),
            fmt,
            handle,
            site_code=site["code"] if site else None,
            actor=actor(),
        )
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    media, extension = EXPORT_MEDIA.get(fmt, ("text/plain", "txt"))
    response = Response(_chunks(handle), mimetype=media)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="run-{run_id}-{fmt}.{extension}"'
    )
    response.headers["X-Visits"] = str(written)
    return response
