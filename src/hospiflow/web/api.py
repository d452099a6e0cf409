"""The REST API under ``/api/v1``: thin views over ``web.data``'s payloads.

Every GET opens (through ``get_db``) one read-only connection from the app's
pool, runs its statements inside ``time_limit`` and answers
``{"ok": true, ...}``; errors answer ``{"error": {"code", "message",
"details"}}``. Unknown query parameters, and parameters given twice, are
refused with 400.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import Any

from flask import Response, current_app, request, stream_with_context

from hospiflow import __version__
from hospiflow.errors import NotFoundError, ScenarioError, StoreError
from hospiflow.forecast.history import predecessor
from hospiflow.simulation import limits
from hospiflow.simulation.scenario import (
    BUILTIN_CATALOGS,
    load_scenario,
    scenario_from_dict,
    scenario_to_dict,
)
from hospiflow.store import forecasts as forecast_store
from hospiflow.store import queries
from hospiflow.store import runs as store_runs
from hospiflow.store import sites as store_sites
from hospiflow.store.engine import time_limit
from hospiflow.store.timeconv import now_ms
from hospiflow.web import data, front, nowcontext, observed
from hospiflow.web.auth import Unauthorized, WritesDisabled, actor, auth, requires_admin
from hospiflow.web.cache import Answer
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
from hospiflow.web.schemas import (
    BIGINT,
    ArrivalsQuery,
    AvailabilityQuery,
    CensusQuery,
    EventsQuery,
    HourOfWeekQuery,
    LongestQuery,
    PageQuery,
    RangeQuery,
    RunsQuery,
    SimulationRequest,
    StreamQuery,
    WaitsQuery,
)
from hospiflow.web.timeutil import BadRequest, utc_iso

bp = Blueprint("api", __name__, tag="hospiflow")

E400 = "Malformed or unknown query parameter, or a range over the limits"
E404 = "No such run (or report)"
REPORTS = (
    "hourly_detail",
    "daily_pathology_stats",
    "treatments",
    "monthly_summary",
    "performance_metrics",
)


__all__ = ["Unauthorized", "WritesDisabled", "bp", "requires_token"]
E401 = "Missing or wrong bearer token"
E403 = "A viewer's token (`forbidden`), or no admin token on the server (`writes_disabled`)"


class Conflict(StoreError):
    code = "conflict"
    http_status = 409


bp.before_request(refuse_repeated_parameters)


@bp.before_request
def _known_answer() -> Response | None:
    """A complete run's answer already given for this exact URL: sent before validation.

    Only answers that passed validation were kept, under the request's full
    path, so the same path would validate again the same way; the run's row
    stays in ``state().runs`` only while it is complete and cannot grow. This
    skips the query schema, the run's context and a pool connection: on a
    dashboard's repeated requests those were most of the time spent.
    """
    run_id = (request.view_args or {}).get("run_id")
    if request.method != "GET" or run_id is None:
        return None
    row = state().runs.get(run_id)
    if row is None or row["status"] != "complete" or row["kind"] in data.GROWING_KINDS:
        return None
    wanted = _gzip_wanted()
    key = (run_id, f"{data.run_version(row)}|{request.full_path}" + ("|gzip" if wanted else ""))
    hit = state().cache.get(key)
    return _answer(hit, run_id) if hit is not None else None


requires_token = requires_admin  # the write endpoints' guard (an administrator token)


def _config() -> dict[str, Any]:
    return current_app.config


def _context(run_id: int) -> data.RunContext:
    """The run (404 if absent) with its cached catalog and data end."""
    st = state()
    connection = get_db()
    with time_limit(connection, _config()["QUERY_SECONDS"]):
        row = st.runs.get(run_id) or data.read_run(connection, run_id)
        if row["status"] != "running" and row["kind"] not in data.GROWING_KINDS:
            st.runs[run_id] = row
        version = data.run_version(row)
        cached = st.catalogs.get(run_id)
        if cached is None or cached[0] != version:
            catalog = data.load_run_catalog(connection, run_id, row.get("parameters") or {})
            cached = st.catalogs[run_id] = (version, catalog)
        return data.RunContext(row, cached[1], data.data_end(connection, row))


GZIP_MIN_BYTES = 2048  # smaller answers gain nothing from compression


def _gzip_wanted() -> bool:
    """Whether the client accepts gzip (``gzip;q=0`` refuses it), by Werkzeug's parsing."""
    return request.accept_encodings["gzip"] > 0


def _json_response(body: bytes, gzipped: bool) -> Response:
    response = Response(body, mimetype="application/json")
    response.vary.add("Accept-Encoding")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    return response


def _encode(body: bytes, gzip_wanted: bool) -> tuple[bytes, bool]:
    if gzip_wanted and len(body) >= GZIP_MIN_BYTES:
        return gzip.compress(body, compresslevel=5), True
    return body, False


def _answer(answer: Answer, run_id: int | None = None, ttl: float | None = None) -> Response:
    """A complete run's answer: ETag, revalidate each time, 304 when the client has it.

    Not ``max-age``: a deleted run's id can be given to a new run, so a client
    must ask (and gets 304, no body, while it is the same answer). With
    ``run_id`` the front layer may keep it: for good, or ``ttl`` seconds (a
    site's observed run, which another process's import can change).
    """
    if run_id is not None:
        front.mark(run_id, ttl)
    if request.if_none_match.contains(answer.etag):
        response = Response(status=304)
        response.vary.add("Accept-Encoding")
    else:
        response = _json_response(answer.body, answer.gzipped)
    response.set_etag(answer.etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _cached(run: data.RunContext, build: Callable[[], dict[str, Any]]) -> Response:
    """The payload as JSON (gzipped for clients that accept it, when large).

    A complete run never changes, so its answers are kept (LRU), already
    encoded: a cached three-year series costs a lookup, not a serialisation.
    A site's observed run grows with each import: its answers are kept under
    the version of the run (its last import) they were computed for.
    """
    immutable = run.row["status"] == "complete" and run.row["kind"] != "live"
    growing = run.row["kind"] in data.GROWING_KINDS
    ttl = _config()["LIVE_CACHE_SECONDS"] if growing else None  # a URL, one answer
    cache = state().cache
    wanted = _gzip_wanted()
    key = (run.id, f"{data.run_version(run.row)}|{request.full_path}" + ("|gzip" if wanted else ""))
    if immutable:
        hit = cache.get(key)
        if hit is not None:
            return _answer(hit, run.id, ttl)
    body, gzipped = _encode(current_app.json.dumps(limited(build)).encode(), wanted)
    if immutable:
        answer = Answer.of(body, gzipped)
        cache.put(key, answer)
        return _answer(answer, run.id, ttl)
    return _json_response(body, gzipped)


def _progress(row: dict[str, Any]) -> float | None:
    jobs = state().jobs
    if row["status"] == "running" and row["id"] in jobs.progress:
        return jobs.progress[row["id"]]
    return data.estimate_progress(get_db(), row)


# --------------------------------------------------------------------------- service


@bp.get("/health")
@bp.doc(responses={200: ok("Health", "The API and its store answer"), 503: "Store unavailable"})
@no_query
def health() -> dict[str, Any]:
    """Health check: the store answers a query; a live run this server runs is alive.

    `live_run_id` names the live run only while it runs; one that died (its
    writer refused, its thread ended) is named by `live_error` instead.
    """
    with time_limit(get_db(), 2.0):
        get_db().exec_driver_sql("SELECT 1")
    st = state()
    live_error = getattr(st.live, "failure", None)
    backend = "sqlite" if st.url.startswith("sqlite") else "postgresql"
    return {
        "ok": True,
        "version": __version__,
        "database": backend,
        "writes_enabled": auth().admin_exists(),
        "live_run_id": None if live_error else getattr(st.live, "run_id", None),
        "live_error": live_error,
        "time": utc_iso(now_ms(), "UTC"),
    }


@bp.get("/catalog")
@bp.doc(responses={200: ok("Catalog", "The built-in catalog")})
@no_query
def builtin_catalog() -> dict[str, Any]:
    """The built-in catalog: specialties and pathologies with ICD-10 codes, names fr/en."""
    return data.builtin_catalog_payload()


# --------------------------------------------------------------------------- runs


@bp.get("/runs")
@query(bp, RunsQuery)
@bp.doc(responses={200: ok("RunList", "Every run, newest first"), 400: E400})
def list_runs(args: dict[str, Any]) -> dict[str, Any]:
    """Runs: simulations, imports and live feeds, newest first, with status and progress.

    `source` says whether a run's data are simulated or a site's observed visits
    (then `site` names it and `lacks` lists what such data never hold).
    """
    connection = get_db()
    with time_limit(connection, _config()["QUERY_SECONDS"]):
        rows = store_runs.list_runs(connection, args.get("status"))
        if args.get("kind"):
            rows = [r for r in rows if r["kind"] == args["kind"]]
        owners = {s["run_id"]: s for s in store_sites.list_sites(connection) if s["run_id"]}
        runs = [
            data.run_json(
                r, _progress(r), as_of_ms=data.data_as_of(connection, r), site=owners.get(r["id"])
            )
            for r in rows
        ]
        if args.get("source"):
            runs = [r for r in runs if r["source"] == args["source"]]
        return {"ok": True, "runs": runs}


@bp.get("/runs/<int:run_id>")
@bp.doc(responses={200: ok("RunDetail", "The run with its parameters"), 400: E400, 404: E404})
@no_query
def get_run(run_id: int) -> dict[str, Any]:
    """One run: parameters, status, progress (0..1 while simulating), time zone, span."""
    connection = get_db()
    with time_limit(connection, _config()["QUERY_SECONDS"]):
        row = data.read_run(connection, run_id)
        as_of = data.data_as_of(connection, row)
        site = store_sites.site_of_run(connection, run_id)
        run = data.run_json(row, _progress(row), as_of_ms=as_of, detail=True, site=site)
        run["parameters"] = _public_parameters(run["parameters"])
        run["forecast"] = _forecast_status(connection, row)
        return {"ok": True, "run": run}


def _public_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """A run's parameters without the server's folders: a custom catalog by file name only."""
    catalog = parameters.get("catalog")
    if isinstance(catalog, str) and catalog not in BUILTIN_CATALOGS:
        return {**parameters, "catalog": PurePath(catalog).name}
    return parameters


def _forecast_status(connection: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Whether the run has a stored forecast and backtest (a live run: its history's)."""
    run_id = int(row["id"])
    forecast = forecast_store.latest_header(connection, run_id, "forecast")
    backtest = forecast_store.latest_header(connection, run_id, "backtest")
    scored = run_id
    before = predecessor(connection, row) if backtest is None else None
    if before is not None:
        backtest = forecast_store.latest_header(connection, before, "backtest")
        scored = before
    tz = row["timezone"]
    return {
        "generated_at": utc_iso(forecast["generated_at_ms"], tz) if forecast else None,
        "backtest_generated_at": utc_iso(backtest["generated_at_ms"], tz) if backtest else None,
        "backtest_run_id": scored if backtest else None,
    }


@bp.delete("/runs/<int:run_id>")
@bp.doc(
    security="BearerAuth",
    responses={
        200: ok("Deleted", "The run and everything it wrote are gone"),
        400: E400,
        401: E401,
        403: E403,
        404: E404,
        409: "The run is still running",
    },
)
@requires_token
@no_query
def delete_run(run_id: int) -> dict[str, Any]:
    """Delete a run and everything it wrote (not while it runs)."""
    st = state()
    connection = get_db()
    row = data.read_run(connection, run_id)
    live = st.live
    orphan = store_runs.orphan_reason(queries.run(connection, run_id), now_ms())
    if (
        (row["status"] == "running" and orphan is None)
        or st.jobs.is_running(run_id)
        or (live is not None and getattr(live, "run_id", None) == run_id)
    ):
        raise Conflict(
            f"run {run_id} is still running; stop it first (a run whose writer crashed "
            f"can be removed with `hospiflow db delete-run {run_id}`)",
            where="run_id",
            run_id=run_id,
        )
    connection.rollback()
    with st.write_engine().begin() as writer:
        store_runs.delete_run(writer, run_id, actor())
    st.runs.pop(run_id, None)
    st.catalogs.pop(run_id, None)
    st.cache.drop_run(run_id)
    return {"ok": True, "deleted": run_id}


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


@bp.post("/runs")
@bp.doc(
    security="BearerAuth",
    responses={
        202: ok("Accepted", "The simulation started; follow it at status_url"),
        400: "Malformed JSON or an unknown key",
        401: E401,
        403: E403,
        409: "Too many simulations running",
        422: "A valid request for an impossible scenario",
    },
)
@requires_token
@no_query
@json_object
@bp.input(SimulationRequest, location="json", arg_name="body")
def create_run(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Start a what-if simulation in the background; returns its run id at once."""
    changes = body.get("changes") or {}
    if "catalog" in changes and changes["catalog"] not in BUILTIN_CATALOGS:
        raise ScenarioError(
            f"must be a built-in catalog ({', '.join(BUILTIN_CATALOGS)})",
            where="changes.catalog",
        )
    base = scenario_to_dict(load_scenario(body["base"]))
    scenario = scenario_from_dict(_merge(base, changes), where="changes")
    limit = _config()["MAX_SIMULATION_DAYS"]
    if scenario.days > limit:
        raise ScenarioError(
            f"at most {limit:g} days can be simulated through the API, got {scenario.days:g}",
            where="changes.time.days",
            max_days=limit,
        )
    limits.check_budget(
        scenario, _config()["MAX_SIMULATION_PATIENTS"], where="changes.arrivals.rate_per_hour"
    )
    run_id = state().jobs.start(scenario, body.get("label") or "", _config()["MAX_JOBS"])
    url = f"/api/v1/runs/{run_id}"
    return {"ok": True, "run_id": run_id, "status_url": url}, 202, {"Location": url}


# --------------------------------------------------------------------------- the state now


@bp.get("/runs/<int:run_id>/now")
@bp.doc(responses={200: ok("Now", "The latest state per specialty"), 400: E400, 404: E404})
@no_query
def now(run_id: int) -> Response:
    """The run's current state per specialty: patients, doctors, waits, saturation.

    `as_of` is the newest state sample (the end, for a finished run). A running
    run's answer is reused for `LIVE_CACHE_SECONDS` (half a second by default).

    A site's observed run (`source: observed`) is described as of its data end
    (the newest arrival or departure): patients present, waiting (when the data
    have first-seen times, else null), longest present, arrivals in the last hour
    against the usual for this hour of the week; doctor figures are null and
    named in `not_in_data`; saturation compares patients present with the site's
    capacity, or without one with its own 90th/97th percentiles of hourly census
    (`thresholds.basis`).
    """
    fresh = state().fresh
    key = (run_id, request.full_path + ("|gzip" if _gzip_wanted() else ""))
    hit = fresh.get(key)
    if hit is not None:
        return _json_response(hit[1:], gzipped=hit[:1] == b"z")
    run = _context(run_id)
    build = observed.now_payload if data.is_observed(run.row) else data.now_payload
    live = data.is_observed(run.row) and observed.is_live(get_db(), run.id)  # changes with time
    if live:
        body = current_app.json.dumps(limited(lambda: build(get_db(), run, _config())))
        response = _json_response(*_encode(body.encode(), _gzip_wanted()))
    else:
        response = _cached(run, lambda: build(get_db(), run, _config()))
    if run.row["status"] == "running" or live:
        front.mark(run_id, _config()["LIVE_CACHE_SECONDS"])
        gzipped = response.headers.get("Content-Encoding") == "gzip"
        fresh.put(key, (b"z" if gzipped else b"-") + response.get_data())
    return response


@bp.get("/runs/<int:run_id>/now/context")
@bp.doc(
    responses={
        200: ok("NowContext", "Each key figure an hour ago and usual; the next hours"),
        400: E400,
        404: E404,
    }
)
@no_query
def now_context(run_id: int) -> Response:
    """What the Now view shows beside the state: each key figure an hour before `as_of`
    and its usual for this hour of the week (the previous 8 weeks the data cover:
    `usual_weeks`), and the next hours from the stored forecast: expected arrivals per
    hour and patients present at each hour's end, each with its 90 % band (a live run
    without a forecast of its own uses its history run's while it covers the coming
    hours; else `forecast` is null and `forecast_missing` says why)."""
    run = _context(run_id)
    return _cached(run, lambda: nowcontext.context_payload(get_db(), run, _config()))


@bp.get("/runs/<int:run_id>/now/longest")
@query(bp, LongestQuery)
@bp.doc(responses={200: ok("NowLongest", "The patients present longest"), 400: E400, 404: E404})
def now_longest(run_id: int, args: dict[str, Any]) -> Response:
    """The patients present longest at `as_of` (pseudonymous number, pathology, specialty,
    acuity when known, arrival, minutes present) and how many are present. A simulated
    run's patients come from its trace (acuity only once their visit is written); a
    site's from its visits."""
    run = _context(run_id)
    return _cached(run, lambda: nowcontext.longest_payload(get_db(), run, _config(), args["limit"]))


# --------------------------------------------------------------------------- arrivals


@bp.get("/runs/<int:run_id>/arrivals")
@query(bp, ArrivalsQuery)
@bp.doc(responses={200: ok("Arrivals", "Arrivals per bucket"), 400: E400, 404: E404})
def arrivals(run_id: int, args: dict[str, Any]) -> Response:
    """Arrivals per local hour, day, week or month, in total or per specialty or pathology."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config(), args["bucket"])
    return _cached(
        run, lambda: data.arrivals_payload(get_db(), run, rng, args["bucket"], args["by"])
    )


@bp.get("/runs/<int:run_id>/arrivals/hour-of-week")
@query(bp, HourOfWeekQuery)
@bp.doc(responses={200: ok("HourOfWeek", "168 values per series"), 400: E400, 404: E404})
def arrivals_hour_of_week(run_id: int, args: dict[str, Any]) -> Response:
    """Arrivals per local hour of the week (0 = Monday 00:00) and their mean rate per hour."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config())
    return _cached(run, lambda: data.hour_of_week_payload(get_db(), run, rng, args["by"]))


@bp.get("/runs/<int:run_id>/arrivals/seasonality")
@query(bp, RangeQuery)
@bp.doc(responses={200: ok("Seasonality", "Monthly arrivals per pathology"), 400: E400, 404: E404})
def arrivals_seasonality(run_id: int, args: dict[str, Any]) -> Response:
    """Monthly arrivals per pathology, and the mean per calendar month (seasonal profile)."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config(), "month")
    return _cached(run, lambda: data.seasonality_payload(get_db(), run, rng))


@bp.get("/runs/<int:run_id>/catalog")
@bp.doc(responses={200: ok("Catalog", "The run's specialties and pathologies"), 404: E404})
@no_query
def run_catalog(run_id: int) -> dict[str, Any]:
    """The run's specialties (with doctors on the roster) and pathologies (ICD-10, fr/en)."""
    return data.run_catalog_payload(_context(run_id))


# --------------------------------------------------------------------------- census


@bp.get("/runs/<int:run_id>/census")
@query(bp, CensusQuery)
@bp.doc(responses={200: ok("Census", "Patients present per hour"), 400: E400, 404: E404})
def census(run_id: int, args: dict[str, Any]) -> Response:
    """Patients present in the department: the time-weighted mean of each hour.

    Computed from the visits' arrivals and departures, so it exists for
    observed data as for simulations.
    """
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config(), "hour")
    return _cached(run, lambda: data.census_payload(get_db(), run, rng))


@bp.get("/runs/<int:run_id>/census/hour-of-week")
@query(bp, RangeQuery)
@bp.doc(responses={200: ok("CensusHourOfWeek", "168 mean censuses"), 400: E400, 404: E404})
def census_hour_of_week(run_id: int, args: dict[str, Any]) -> Response:
    """Mean patients present per local hour of the week (0 = Monday 00:00)."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config())
    return _cached(run, lambda: data.census_hour_of_week_payload(get_db(), run, rng))


# --------------------------------------------------------------------------- doctors


@bp.get("/runs/<int:run_id>/doctors/availability")
@query(bp, AvailabilityQuery)
@bp.doc(responses={200: ok("Availability", "Mean doctors on duty and busy"), 400: E400, 404: E404})
def doctors_availability(run_id: int, args: dict[str, Any]) -> Response:
    """Doctors on duty vs busy (and patients waiting), mean per bucket and specialty."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config(), args["bucket"])
    return _cached(
        run, lambda: data.availability_payload(get_db(), run, rng, args["bucket"], args["by"])
    )


@bp.get("/runs/<int:run_id>/doctors/hour-of-week")
@query(bp, RangeQuery)
@bp.doc(
    responses={200: ok("DoctorsHourOfWeek", "Utilisation per hour of week"), 400: E400, 404: E404}
)
def doctors_hour_of_week(run_id: int, args: dict[str, Any]) -> Response:
    """Doctor utilisation (busy / on duty) per local hour of the week and specialty."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config())
    return _cached(run, lambda: data.doctors_hour_of_week_payload(get_db(), run, rng))


# --------------------------------------------------------------------------- waits, KPIs


@bp.get("/runs/<int:run_id>/waits")
@query(bp, WaitsQuery)
@bp.doc(responses={200: ok("Waits", "Wait and length-of-stay statistics"), 400: E400, 404: E404})
def waits(run_id: int, args: dict[str, Any]) -> Response:
    """Door-to-doctor wait and length of stay (mean, p50, p90), share seen within a target, LWBS.

    Counted over the visits arriving in each bucket; `bucket=none` gives one
    value for the whole range.
    """
    run = _context(run_id)
    bucket = args["bucket"]
    rng = data.resolve_range(
        run, args.get("start"), args.get("end"), _config(), None if bucket == "none" else bucket
    )
    return _cached(
        run,
        lambda: data.waits_payload(get_db(), run, rng, bucket, args["by"], args["target_minutes"]),
    )


@bp.get("/runs/<int:run_id>/kpis")
@query(bp, RangeQuery)
@bp.doc(responses={200: ok("Kpis", "Headline performance figures"), 400: E400, 404: E404})
def kpis(run_id: int, args: dict[str, Any]) -> Response:
    """Headline figures over a range: arrivals, LWBS, waits, utilisation, queue length."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config())
    return _cached(run, lambda: data.kpis_payload(get_db(), run, rng))


# --------------------------------------------------------------------------- lists


def _page_size(args: dict[str, Any]) -> int:
    limit = args["limit"]
    maximum = _config()["MAX_PAGE_SIZE"]
    if limit > maximum:
        raise BadRequest(f"must be at most {maximum}, got {limit}", where="limit", maximum=maximum)
    return limit


def _csv_response(
    run: data.RunContext,
    header: tuple[str, ...],
    fetch: Callable[[Any, tuple[int, int] | None], Any],
    to_item: Callable[[dict[str, Any], data.RunContext], dict[str, Any]],
    after: tuple[int, int] | None,
    filename: str,
) -> Response:
    st = state()
    seconds = _config()["QUERY_SECONDS"]

    connection = st.reader.connect()
    try:  # the first page now: a store that cannot be read answers in the JSON error shape
        with time_limit(connection, seconds):
            first = fetch(connection, after)
        connection.rollback()
    except BaseException:
        connection.close()
        raise

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        page = first
        try:
            while True:
                for row in page.rows:
                    item = to_item(row, run)
                    writer.writerow(["" if item[c] is None else item[c] for c in header])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if page.next is None:
                    return
                with time_limit(connection, seconds):
                    page = fetch(connection, page.next)
                connection.rollback()
        finally:
            connection.close()

    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/runs/<int:run_id>/treatments")
@query(bp, PageQuery)
@bp.doc(
    responses={
        200: ok("Treatments", "One page of treatments (or all of them as CSV)", csv=True),
        400: E400,
        404: E404,
    }
)
def treatments(run_id: int, args: dict[str, Any]) -> Any:
    """Treatments by start time, keyset-paginated (`next` cursor); `format=csv` streams them all."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config())
    specialty = run.catalog.specialty_idx(args["specialty"]) if "specialty" in args else None
    limit = _page_size(args)
    after = data.decode_cursor(args.get("cursor"))

    def fetch(connection: Any, position: tuple[int, int] | None, size: int = limit) -> Any:
        return queries.treatments_page(
            connection, run.id, rng.start_ms, rng.end_ms, position, size, specialty
        )

    return _paged(run, args, after, fetch, data.TREATMENT_CSV, data.treatment_item, "treatments")


def _paged(
    run: data.RunContext,
    args: dict[str, Any],
    after: tuple[int, int] | None,
    fetch: Callable[..., Any],
    csv_columns: Any,
    item: Callable[..., dict[str, Any]],
    name: str,
) -> Any:
    """One keyset page as JSON, or (``format=csv``) every row from the cursor on as CSV."""
    if args["format"] == "csv":
        return _csv_response(
            run,
            csv_columns,
            lambda c, p: fetch(c, p, 5000),
            item,
            after,
            f"run-{run.id}-{name}.csv",
        )
    page = limited(lambda: fetch(get_db(), after))
    return {
        "ok": True,
        "run_id": run.id,
        "items": [item(r, run) for r in page.rows],
        "next": data.encode_cursor(page.next),
    }


@bp.get("/runs/<int:run_id>/events")
@query(bp, EventsQuery)
@bp.doc(
    responses={
        200: ok("Events", "One page of the trace (or all of it as CSV)", csv=True),
        400: E400,
        404: E404,
    }
)
def events(run_id: int, args: dict[str, Any]) -> Any:
    """The full trace by time, filtered by kind and specialty, keyset-paginated; CSV export."""
    run = _context(run_id)
    rng = data.resolve_range(run, args.get("start"), args.get("end"), _config())
    specialty = run.catalog.specialty_idx(args["specialty"]) if "specialty" in args else None
    kinds = data.parse_kinds(args.get("kind"))
    limit = _page_size(args)
    after = data.decode_cursor(args.get("cursor"))

    def fetch(connection: Any, position: tuple[int, int] | None, size: int = limit) -> Any:
        return queries.events_page(
            connection, run.id, rng.start_ms, rng.end_ms, position, size, kinds, specialty
        )

    return _paged(run, args, after, fetch, data.EVENT_CSV, data.event_item, "events")


# --------------------------------------------------------------------------- reports


@bp.get("/runs/<int:run_id>/reports/<string:name>")
@bp.doc(
    responses={
        200: {
            "description": "The report as CSV (columns in docs/reports.md)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        404: E404,
        409: "The run is not complete yet",
    }
)
@no_query
def report(run_id: int, name: str) -> Response:
    """One of the five CSV reports of a run: hourly_detail, daily_pathology_stats,
    treatments, monthly_summary, performance_metrics (`.csv` optional)."""
    from hospiflow.store import reports as store_reports

    stem = name[:-4] if name.endswith(".csv") else name
    if stem not in REPORTS:
        raise NotFoundError(
            f"no report {name!r} (reports: {', '.join(REPORTS)})", where="name", name=name
        )
    if not 0 < run_id <= BIGINT:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    connection = state().reader.connect()
    try:  # the first chunk now: a store that cannot be read answers in the JSON error shape
        chunks = store_reports.iter_report_csv(connection, run_id, stem)
        first = next(chunks, "")
    except BaseException:
        connection.close()
        raise

    def body() -> Iterator[str]:
        try:
            yield first
            yield from chunks
        finally:
            connection.close()

    response = Response(body(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="run-{run_id}-{stem}.csv"'
    return response


# --------------------------------------------------------------------------- stream


@bp.get("/runs/<int:run_id>/stream")
@query(bp, StreamQuery)
@bp.doc(
    responses={
        200: {
            "description": (
                "Server-Sent Events: `trace` (id = event id; data = an Event), `state` "
                "(data = the `now` payload, when a new state sample lands), `end` (the run "
                "finished). Resume with the `Last-Event-ID` header."
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        400: E400,
        404: E404,
    }
)
def stream(run_id: int, args: dict[str, Any]) -> Response:
    """Live stream of a run's new events and state (Server-Sent Events; resumable).

    When reads need a token, a browser's EventSource (which cannot send an
    Authorization header) passes it as `?access_token=`.
    """
    from hospiflow.web.stream import event_stream

    header = request.headers.get("Last-Event-ID")
    after: int | None = args.get("last_event_id")
    if header is not None:
        try:
            after = int(header.strip())
        except ValueError:
            raise BadRequest("must be an event id", where="Last-Event-ID") from None
        if not 0 <= after <= BIGINT:
            raise BadRequest("must be an event id", where="Last-Event-ID")
    run = _context(run_id)
    kinds = data.parse_kinds(args.get("kind"))
    body = event_stream(state(), run, after, kinds, dict(_config()))
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
