"""The Flask application factory: settings, JSON, errors, database engines, docs.

``create_app(config)`` follows Flask's tutorial (flaskr): no global state,
test configuration injected. Settings come from ``config``, then
``HOSPIFLOW_*`` environment variables, then the defaults of ``SETTINGS``
(a table, Datasette style: name, default, one line of help).

One read-only engine (a pool) per app serves the GET endpoints; each
Server-Sent Events stream holds a read-only connection of its own; writes
(delete, what-if simulations, site imports) go through a writer engine and the
runner's background threads. Who may read and write is ``web.auth``'s business.
"""

from __future__ import annotations

import base64
import decimal
import hashlib
import importlib.util
import json
import logging
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import Flask, Response, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from hospiflow import __version__
from hospiflow.errors import HospiflowError
from hospiflow.store.engine import create_engine_for, resolve_database_url
from hospiflow.web.auth import Auth, check_read
from hospiflow.web.cache import FreshCache, ResponseCache
from hospiflow.web.components import COMPONENTS, ERROR
from hospiflow.web.context import State, close_db, get_db, state

__all__ = ["API_PREFIX", "SETTINGS", "create_app", "get_db", "state"]

log = logging.getLogger("hospiflow.web")

API_PREFIX = "/api/v1"
ENV_TOKEN = "HOSPIFLOW_API_TOKEN"
ENV_TOKEN_FILE = "HOSPIFLOW_API_TOKEN_FILE"

SETTINGS: tuple[tuple[str, Any, str], ...] = (
    ("DATABASE_URL", None, "Store URL (default: $HOSPIFLOW_DATABASE_URL, else ./hospiflow.db)"),
    ("API_TOKEN", None, "An administrator bearer token (others: `hospiflow token create`)"),
    ("API_TOKEN_FILE", None, "File holding the administrator bearer token (first line)"),
    (
        "READS_NEED_TOKEN",
        False,
        "Every API read needs a viewer or admin token (forced off loopback)",
    ),
    ("MAX_CONTENT_LENGTH", 2**20, "Largest request body but an import upload, in bytes"),
    ("MAX_IMPORT_BYTES", 200 * 2**20, "Largest import upload (POST /sites/{id}/imports), bytes"),
    ("CORS_ORIGINS", (), "Origins allowed to call the API from a browser (CORS off if empty)"),
    ("MAX_PAGE_SIZE", 1000, "Largest `limit` of /treatments and /events"),
    ("MAX_RANGE_DAYS", 3660, "Longest time range a query may cover, in days"),
    ("MAX_BUCKETS", 10_000, "Most buckets in one time series (hours in ~14 months)"),
    ("QUERY_SECONDS", 10.0, "Time limit of one database query, in seconds"),
    ("CACHE_MB", 64, "Memory for the answers of complete runs (they never change)"),
    ("LIVE_CACHE_SECONDS", 0.5, "How long a running run's `now` answer is reused (0: never)"),
    ("POOL_SIZE", 16, "Read connections kept open (about the server's thread count)"),
    ("MAX_SIMULATION_DAYS", 1830, "Longest what-if simulation accepted, in days"),
    ("MAX_JOBS", 2, "What-if simulations running at once; more are refused with 409"),
    (
        "MAX_SIMULATION_PATIENTS",
        1_000_000,
        "Work budget of one what-if: expected patients, warm-up included (422 over it)",
    ),
    ("SSE_POLL_SECONDS", 0.25, "How often a stream looks for new events"),
    ("SSE_HEARTBEAT_SECONDS", 15.0, "Comment line sent on an idle stream"),
    ("FEED_STALE_SECONDS", 300.0, "A live site's feed is stale after this silence (seconds)"),
    ("SSE_BATCH", 500, "Most events a stream reads per poll"),
    ("AMBER_WAITING_PER_DOCTOR", 4.0, "Status amber: patients waiting per doctor on duty"),
    ("RED_WAITING_PER_DOCTOR", 8.0, "Status red: patients waiting per doctor on duty"),
    ("ALERT_WEBHOOK", None, "URL that receives each new alert as a JSON POST (retried)"),
    ("ALERT_CHECK_SECONDS", 5.0, "How often `serve` checks live runs and fed sites for alerts"),
)


class JSONProvider(DefaultJSONProvider):
    """Compact JSON; datetimes as ISO 8601 with offset, naive datetimes refused.

    Flask's default renders datetimes as HTTP dates and calls naive ones GMT;
    an API for a hospital in one time zone must never guess.
    """

    compact = True
    sort_keys = False
    ensure_ascii = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            if o.tzinfo is None or o.utcoffset() is None:
                raise TypeError(f"naive datetime {o.isoformat()} has no time zone")
            return o.isoformat()
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, decimal.Decimal):
            return float(o)
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; a body nested too deeply for the parser is invalid JSON (400), not a 500."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def _read_token(config: dict[str, Any]) -> str | None:
    token = config.get("API_TOKEN")
    if token is None:
        token = os.environ.get(ENV_TOKEN)
    path = config.get("API_TOKEN_FILE") or os.environ.get(ENV_TOKEN_FILE)
    if token is None and path:
        try:
            token = Path(path).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as error:
            raise HospiflowError(
                f"cannot read the API token file: {error}", where=str(path)
            ) from None
    token = None if token is None else str(token).strip()
    return token or None


def _flag(value: Any) -> bool:
    """A boolean setting from config (a bool) or the environment (a string)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


DETAIL_CHARS = 200  # an error never echoes more of a request than this per detail


def _bounded(details: dict[str, Any]) -> dict[str, Any]:
    """Error details with every long value cut: a 1M-value list is not sent back."""
    bounded = {}
    for key, value in details.items():
        text = json.dumps(value, ensure_ascii=False, default=str)
        bounded[key] = value if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"
    return bounded


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _first_leaf(tree: Any, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], str]:
    """The dotted path and message of the first error in a marshmallow error tree."""
    if isinstance(tree, dict):
        for key, sub in tree.items():
            return _first_leaf(sub, (*path, str(key)))
    if isinstance(tree, list) and tree:
        if all(isinstance(item, str) for item in tree):
            return path, tree[0]
        return _first_leaf(tree[0], path)
    return path, str(tree)


def _validation_message(detail: dict[str, Any]) -> tuple[str, str]:
    """A one-line message and code for a marshmallow/webargs error tree."""
    path, text = _first_leaf(detail)
    location, name = (path[0], ".".join(path[1:])) if path else ("request", "")
    noun = "key" if location == "json" else "parameter"
    if text == "Unknown field.":
        return f"unknown_{noun}", f"{location}: unknown {noun} '{name}'"
    return "invalid_parameter", f"{location}: {name}: {text}"


def _register_errors(app: APIFlask) -> None:
    @app.error_processor
    def _http_error(error: HTTPError) -> tuple[dict[str, Any], int, Any]:
        status = error.status_code
        detail = error.detail if isinstance(error.detail, dict) else {}
        if status == 400 and detail and error.message == app.config["VALIDATION_ERROR_DESCRIPTION"]:
            code, message = _validation_message(detail)
        else:
            code = {
                400: "bad_request",
                401: "unauthorized",
                403: "forbidden",
                404: "not_found",
                405: "method_not_allowed",
                409: "conflict",
                413: "too_large",
                415: "unsupported_media_type",
                422: "unprocessable",
            }.get(status, "http_error")
            message = error.message or "error"
        if detail.get("json") == ["Invalid JSON body."]:
            code, message = "bad_json", "the request body is not valid JSON"
        return _error_body(code, message, _bounded(_jsonable(detail))), status, error.headers

    @app.errorhandler(HospiflowError)
    def _our_error(error: HospiflowError) -> tuple[dict[str, Any], int]:
        details = _jsonable({**({"where": error.where} if error.where else {}), **error.details})
        return _error_body(error.code, str(error)[:2000], _bounded(details)), error.http_status

    @app.errorhandler(sa.exc.DatabaseError)
    def _store_unavailable(error: sa.exc.DatabaseError) -> Any:
        where = {"where": database_name(state().url)}
        text = str(error.orig).lower()
        if read_only_failure(error):
            log.warning("store read-only: %s", error.orig.__class__.__name__)
            return _error_body(
                "store_read_only",
                "the store is read-only: this change cannot be written (check the "
                "database's permissions, or that it is not a read-only replica)",
                where,
            ), 503
        if "malformed" in text or "not a database" in text:
            log.error("store damaged: %s", error.orig)
            return _error_body(
                "store_damaged",
                "the store's database is damaged and cannot be read (restore it from a backup)",
                where,
            ), 503
        if isinstance(error, sa.exc.OperationalError | sa.exc.InternalError):
            log.warning("store unavailable: %s", error.orig.__class__.__name__)
            return _error_body("store_unavailable", "the store cannot be read right now"), 503
        return _unexpected(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPException):  # routed here by Flask for non-API paths
            return error
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error_body("internal_error", "unexpected server error"), 500


def read_only_failure(error: BaseException) -> bool:
    """Whether a database error says the store refuses writes (SQLite or PostgreSQL)."""
    text = str(getattr(error, "orig", error)).lower()
    return "readonly database" in text or "read-only transaction" in text


def database_name(url: str) -> str:
    """The store's name for messages: a SQLite file's name, a PostgreSQL database's name."""
    parsed = sa.make_url(url)
    return Path(parsed.database or "").name or parsed.get_backend_name()


def _register_cors(app: Flask) -> None:
    origins = app.config["CORS_ORIGINS"]
    if isinstance(origins, str):
        origins = [o.strip() for o in origins.split(",") if o.strip()]
    allowed = frozenset(origins)
    if not allowed:
        return

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and request.path.startswith(API_PREFIX) and (origin in allowed or "*" in allowed):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Expose-Headers"] = "Location"
        return response


CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        # Plotly.js writes style rules and SVG style attributes at run time (there is
        # no strict-CSP build: plotly.js#2355, #7543); a style cannot run code
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""Only the app's own scripts, styles and connections; never framed (clickjacking).
An inline script runs only if the page's policy carries its hash (``_policy``)."""
PATIENT_ENDPOINTS = frozenset(
    {
        "api.treatments",
        "api.events",
        "api.now",
        "api.now_longest",
        "api.stream",
        "sites.quarantine",
        "sites.export",
    }
)
"""Answers that list patients (pseudonymous): never kept by a browser or a proxy."""
_INLINE_SCRIPT = re.compile(rb"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def _script_hashes(body: bytes) -> list[str]:
    """CSP hashes of an HTML page's inline scripts (Swagger UI's start-up script).

    Allowing exactly these bytes keeps ``'unsafe-inline'`` out of ``script-src``.
    """
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(code).digest()).decode() + "'"
        for code in _INLINE_SCRIPT.findall(body)
        if code.strip()
    ]


def _policy(response: Response) -> str:
    """The page's policy: ``CSP`` plus the hashes of its own inline scripts, if any."""
    if response.mimetype != "text/html" or response.is_streamed:
        return CSP
    scripts = _script_hashes(response.get_data())
    if not scripts:
        return CSP
    return CSP.replace("script-src 'self'", "script-src 'self' " + " ".join(scripts))


def _register_security(app: Flask) -> None:
    """Security headers on every answer; the import endpoint's larger body limit."""

    @app.before_request
    def _import_limit() -> None:
        if request.endpoint == "sites.import_files":
            request.max_content_length = app.config["MAX_IMPORT_BYTES"]

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = _policy(response)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        if request.endpoint in PATIENT_ENDPOINTS:
            headers["Cache-Control"] = "no-store"
        return response


def _register_docs_assets(app: APIFlask) -> None:
    """Swagger UI from the ``swagger-ui-bundle-v2`` wheel: nothing from a CDN."""
    import swagger_ui_bundle

    folder = str(swagger_ui_bundle.swagger_ui_path)

    @app.get("/api/docs/assets/<path:filename>")
    @app.doc(hide=True)
    def docs_asset(filename: str) -> Response:
        return send_from_directory(folder, filename, max_age=86_400)

    base = "/api/docs/assets/"
    app.config.update(
        SWAGGER_UI_CSS=base + "swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=base + "swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=base + "swagger-ui-standalone-preset.js",
        DOCS_FAVICON=base + "favicon-32x32.png",
        # Swagger UI would otherwise send the document to an online validator
        SWAGGER_UI_CONFIG={"validatorUrl": None},
    )


def create_app(config: dict[str, Any] | None = None) -> APIFlask:
    """Build the hospiflow web app (the API; the dashboard's pages when present)."""
    app = APIFlask(
        "hospiflow",
        title="hospiflow API",
        version=__version__,
        spec_path=f"{API_PREFIX}/openapi.json",
        docs_path="/api/docs",
        docs_oauth2_redirect_path=None,
        # Flask takes None (no /static route); APIFlask's hint says str only
        static_folder=None,  # type: ignore[arg-type]
    )
    app.json = JSONProvider(app)
    for name, default, _help in SETTINGS:
        app.config[name] = default
    app.config.from_prefixed_env("HOSPIFLOW", loads=str)
    app.config.update(config or {})
    app.config.update(
        VALIDATION_ERROR_STATUS_CODE=400,
        VALIDATION_ERROR_DESCRIPTION="Invalid request parameters",
        HTTP_ERROR_SCHEMA=ERROR,
        VALIDATION_ERROR_SCHEMA=ERROR,
        AUTO_404_RESPONSE=True,
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
        INFO={
            "description": (
                "Read a hospital's activity (simulated or real) from the hospiflow store: "
                "runs, sites and their imported visits, the live state, arrivals, census, "
                "doctors, waits, the trace, reports, and a Server-Sent Events stream.\n\n"
                "Tokens (`Authorization: Bearer <token>`) have a role: **viewer** (read) or "
                "**admin** (also delete, what-if, sites, imports, exports, audit, quarantine). "
                "Admin endpoints answer 401 without a valid token, 403 `forbidden` with a "
                "viewer token, and 403 `writes_disabled` when the server has no admin token. "
                "Reads are open on a server listening on loopback; with `READS_NEED_TOKEN` "
                "(forced when `hospiflow serve` listens on another interface) every GET but "
                "`/health` and this document needs a token (401 otherwise). The stream "
                "(`/runs/{run_id}/stream`) also takes it as `?access_token=`, since a "
                "browser's EventSource cannot send headers."
            )
        },
    )
    for name in ("MAX_PAGE_SIZE", "MAX_BUCKETS", "POOL_SIZE", "MAX_JOBS", "SSE_BATCH"):
        app.config[name] = int(app.config[name])
    for name in ("MAX_CONTENT_LENGTH", "MAX_IMPORT_BYTES", "MAX_SIMULATION_PATIENTS"):
        app.config[name] = int(float(app.config[name]))
    app.config["READS_NEED_TOKEN"] = _flag(app.config["READS_NEED_TOKEN"])
    floats: tuple[str, ...] = (
        "MAX_RANGE_DAYS",
        "QUERY_SECONDS",
        "MAX_SIMULATION_DAYS",
        "SSE_POLL_SECONDS",
        "LIVE_CACHE_SECONDS",
    )
    floats += ("SSE_HEARTBEAT_SECONDS", "FEED_STALE_SECONDS")
    floats += ("AMBER_WAITING_PER_DOCTOR", "RED_WAITING_PER_DOCTOR", "ALERT_CHECK_SECONDS")
    for name in floats:
        app.config[name] = float(app.config[name])
    url = app.config["DATABASE_URL"] or resolve_database_url()
    app.config["DATABASE_URL"] = url
    token = _read_token(app.config)
    app.config["SATURATION_THRESHOLDS"] = {
        "amber": {"waiting_per_doctor": float(app.config["AMBER_WAITING_PER_DOCTOR"])},
        "red": {"waiting_per_doctor": float(app.config["RED_WAITING_PER_DOCTOR"])},
    }
    pool = app.config["POOL_SIZE"]
    reader = create_engine_for(url, readonly=True, pool_size=pool, max_overflow=pool)

    from hospiflow.web.jobs import Jobs

    app.extensions["hospiflow"] = State(
        url=url,
        reader=reader,
        jobs=Jobs(url),
        token=token,
        cache=ResponseCache(int(app.config["CACHE_MB"] * 2**20)),
        fresh=FreshCache(float(app.config["LIVE_CACHE_SECONDS"])),
    )
    from hospiflow.web.front import Front

    app.wsgi_app = Front(app, app.wsgi_app, app.extensions["hospiflow"].cache)  # type: ignore[method-assign]
    checks = Auth(reader, token)
    app.extensions["hospiflow.auth"] = checks
    app.teardown_appcontext(close_db)
    open_paths = frozenset({f"{API_PREFIX}/health", f"{API_PREFIX}/openapi.json"})
    app.before_request(lambda: check_read(API_PREFIX, open_paths))
    _register_errors(app)
    _register_cors(app)
    _register_security(app)
    _register_docs_assets(app)

    # APIFlask hands the spec over as a dict (SPEC_PROCESSOR_PASS_OBJECT off);
    # its hint also allows a str, which it never passes.
    @app.spec_processor  # type: ignore[arg-type]
    def _components(spec: dict[str, Any]) -> dict[str, Any]:
        spec.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
        return spec

    from hospiflow.web.api import bp as api

    app.register_blueprint(api, url_prefix=API_PREFIX)
    from hospiflow.web.forecast_api import bp as forecast_api

    app.register_blueprint(forecast_api, url_prefix=API_PREFIX)
    from hospiflow.web.sites_api import bp as sites_api

    app.register_blueprint(sites_api, url_prefix=API_PREFIX)
    from hospiflow.web.push_api import bp as push_api

    app.register_blueprint(push_api, url_prefix=API_PREFIX)
    app.register_blueprint(
        importlib.import_module("hospiflow.web.tension_api").bp, url_prefix=API_PREFIX
    )
    app.register_blueprint(
        importlib.import_module("hospiflow.web.alerts_api").bp, url_prefix=API_PREFIX
    )
    app.register_blueprint(
        importlib.import_module("hospiflow.web.summary_api").bp, url_prefix=API_PREFIX
    )
    app.register_blueprint(
        importlib.import_module("hospiflow.web.whatif_api").bp, url_prefix=API_PREFIX
    )
    if importlib.util.find_spec("hospiflow.web.pages") is not None:  # the dashboard
        from hospiflow.web import pages

        app.register_blueprint(pages.pages)
    return app
