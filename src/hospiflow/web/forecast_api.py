"""The forecast endpoints under ``/api/v1/runs/{id}/forecast``: what the store holds.

They read the run's latest forecast (``hospiflow forecast run``, refreshed every
simulated hour in live mode) and its stored backtest, written by
:mod:`hospiflow.store.forecasts`; they never fit anything. Same conventions as the
rest of the API: ``{"ok": true, ...}``, errors ``{"error": {...}}``, unknown or
repeated parameters refused (400), ISO 8601 times with the run's offset. A run
without a forecast answers 404 with the code ``no_forecast`` (and the command that
makes one). Series are columnar: ``hours`` (or ``days``) once, then one array of
values per series, in the same order.

``/forecast/status`` is the headline: P(the Now status is red) in each of the next 8
hours and P(FEDORU tension) tomorrow, on the Now status's own rule, with the Brier
skill of each fit backtested on the last days of the history (null and a note when
the data do not allow one). ``/forecast/risk`` is an earlier warning, a queue forming
(>= 1 waiting per doctor), which the dashboard never calls saturation.

A site's observed run (visits only: no doctors, no roster) has a census risk instead
of the queue's (:mod:`hospiflow.forecast.census_risk`): ``/forecast/risk`` answers
one hospital-wide row (key ``all``) with the census drivers and names the
``saturation_definition``; ``/forecast/staffing`` answers 200 with empty series,
``lacks: ["doctors"]`` and a ``message`` (there is nothing to advise, which is no
error); ``/forecast`` and ``/forecast/backtest`` add ``saturation_definition`` and
``lacks``. Simulated runs' answers carry none of these keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiflask import Schema, fields, validators
from flask import current_app
from marshmallow import RAISE

from hospiflow.errors import NotFoundError
from hospiflow.forecast.history import predecessor
from hospiflow.store import forecasts as store
from hospiflow.web import data
from hospiflow.web.components import (
    BOOL,
    INT,
    ISO,
    NUM,
    OPT_INT,
    OPT_NUM,
    OPT_STR,
    STR,
    TRUE,
    arr,
    obj,
)
from hospiflow.web.context import get_db
from hospiflow.web.endpoints import Blueprint, limited, no_query, refuse_repeated_parameters
from hospiflow.web.timeutil import utc_iso

bp = Blueprint("forecast", __name__, tag="forecast")

E400 = "Malformed or unknown query parameter"
E404 = "No such run, or no forecast (code `no_forecast`) or backtest (`no_backtest`) for it yet"


ALL = {"key": "all", "name": "All specialties"}
QUEUE_DRIVER_NAMES = ("arrivals", "doctors", "utilisation", "waiting")
CENSUS_DRIVER_NAMES = ("arrivals", "expected_present", "threshold")
NOT_IN_DATA = "not in this data"


class NoForecast(NotFoundError):
    code = "no_forecast"


class NoBacktest(NotFoundError):
    code = "no_backtest"


# --------------------------------------------------------------------------- schemas

NUMS = arr(NUM)
OPT_NUMS = arr(OPT_NUM)
MATRIX = {**arr(OPT_NUMS), "description": "One array per specialty (rows), one value per hour"}
SPECIALTY = obj({"key": STR, "name": STR})
HEADER = {
    "ok": TRUE,
    "run_id": INT,
    "timezone": STR,
    "generated_at": ISO,
    "origin": {**ISO, "description": "The first forecast hour"},
}
SERIES = obj(
    {
        "key": {**STR, "description": "Specialty code, or 'all'"},
        "name": STR,
        "mean": NUMS,
        "quantiles": {
            "type": "object",
            "description": "Level ('0.05' ... '0.95') -> one value per hour (or day)",
            "additionalProperties": NUMS,
        },
    }
)
LACKS = {
    **arr(STR),
    "description": "Observed runs only: what the site's data never hold (here 'doctors')",
}
SATURATION_DEFINITION = {
    "type": ["string", "null"],
    "description": "Observed runs only: the census definition of a saturated hour, "
    "'census>=capacity (N spaces)' or 'census>=p95 (X)' (null: no departure times, no census)",
}
FORECAST = obj(
    {
        **HEADER,
        "model": STR,
        "by": {"type": "string", "enum": ["none", "specialty"]},
        "horizon": INT,
        "quantile_levels": NUMS,
        "hours": arr(ISO),
        "series": arr(SERIES),
        "days": arr(ISO),
        "daily": arr(SERIES),
        "occupancy": {
            "type": ["object", "null"],
            "description": "Expected patients present (hospital) at the start of the next hours",
            "properties": {
                "hours": arr(ISO),
                "present": NUMS,
                "low": {**NUMS, "description": "Quantile 0.05 (absent: no band stored)"},
                "high": {**NUMS, "description": "Quantile 0.95"},
            },
            "required": ["hours", "present"],
            "additionalProperties": False,
        },
        "calibration": {"type": "object"},
    },
    {"saturation_definition": SATURATION_DEFINITION, "lacks": LACKS},
)
SETTINGS = obj({"waiting_per_doctor": NUM, "target_probability": NUM, "max_doctors": NUM})
QUEUE_DRIVERS = obj(
    {
        "arrivals": MATRIX,
        "doctors": MATRIX,
        "utilisation": MATRIX,
        "waiting": MATRIX,
    }
)
CENSUS_DRIVERS = {
    **obj(
        {
            "arrivals": {**MATRIX, "description": "Forecast arrivals of the hour (one row: all)"},
            "expected_present": {
                **MATRIX,
                "description": "Projected patients present, averaged over the hour",
            },
            "threshold": {**MATRIX, "description": "The census that makes the hour saturated"},
        }
    ),
    "description": "Observed runs: the census drivers",
}
RISK = obj(
    {
        **HEADER,
        "rule": {**STR, "description": "The definition of a saturated hour"},
        "calibration": {"type": "object", "description": "Where the calibration comes from"},
        "hours": arr(ISO),
        "specialties": {
            **arr(SPECIALTY),
            "description": "One row per specialty; observed runs: one hospital-wide row, 'all'",
        },
        "probability": MATRIX,
        "drivers": {"oneOf": [QUEUE_DRIVERS, CENSUS_DRIVERS]},
    },
    {
        "settings": {**SETTINGS, "description": "Simulated runs: the queue thresholds"},
        "saturation_definition": SATURATION_DEFINITION,
        "definition": {
            **obj({"threshold": NUM, "capacity": OPT_INT, "text": STR}),
            "description": "Observed runs: the threshold, the declared capacity (null: p95)",
        },
        "lacks": LACKS,
    },
)
STAFFING = obj(
    {
        **HEADER,
        "hours": arr(ISO),
        "specialties": arr(SPECIALTY),
        "rostered": MATRIX,
        "advised": MATRIX,
        "gap": MATRIX,
        "probability_rostered": MATRIX,
        "probability_advised": MATRIX,
        "reachable": arr(arr(BOOL)),
    },
    {
        "rule": {**STR, "description": "Simulated runs: the saturation rule advised against"},
        "settings": SETTINGS,
        "lacks": LACKS,
        "message": {
            **STR,
            "description": "Observed runs: 'not in this data: ...' (every series is empty)",
        },
    },
)
BACKTEST = obj(
    {
        "ok": TRUE,
        "run_id": INT,
        "timezone": STR,
        "generated_at": ISO,
        "arrivals": {"type": "object", "description": "test_start, test_end, best, models"},
        "risk": {"type": ["object", "null"]},
        "occupancy": {"type": ["object", "null"]},
        "note": {"type": ["string", "null"]},
        "scored_run_id": {
            "type": "integer",
            "description": "The run whose history was scored: this one or the history it continues",
        },
    },
    {"saturation_definition": SATURATION_DEFINITION, "lacks": LACKS},
)


RED_SKILL = obj(
    {
        "hours_ahead": INT,
        "brier_skill": {
            **OPT_NUM,
            "description": "1 - Brier / Brier of the hour-of-week base rate, on the test days",
        },
        "brier": NUM,
        "cases": INT,
    }
)
STATUS_RED = obj(
    {
        "from": {**ISO, "description": "The hour whose status the risk starts from (now)"},
        "hours": {**arr(ISO), "description": "The next 8 hours (their start)"},
        "probability": {**NUMS, "description": "P(department status red) in each hour"},
        "hour_of_week_rate": {**NUMS, "description": "Share of red hours at that hour of week"},
        "now": obj(
            {
                "red": BOOL,
                "load": {**NUM, "description": "Worst load now over the red threshold (1 = red)"},
            }
        ),
        "rule": {**STR, "description": "The Now status's rule the risk forecasts"},
        "basis": {
            "type": "string",
            "enum": ["queue", "capacity", "census_percentiles"],
            "description": "Waiting per doctor on duty, or (observed sites) patients present",
        },
        "skill": {**arr(RED_SKILL), "description": "Backtest of the same fit, per horizon"},
        "mean_brier_skill": OPT_NUM,
        "test_days": {**INT, "description": "Days of the backtest (the last of the history)"},
        "test_base_rate": {**NUM, "description": "Share of red hours in those days"},
    }
)
STATUS_TENSION = obj(
    {
        "day": {**STR, "description": "The local day (YYYY-MM-DD) the risk is for"},
        "from_day": {**STR, "description": "The last complete day it starts from"},
        "probability": {**NUM, "description": "P(FEDORU global tension level >= 3 that day)"},
        "day_of_week_rate": NUM,
        "today": obj({"level": INT, "tension": BOOL}),
        "rule": STR,
        "brier_skill": {**OPT_NUM, "description": "Over the day-of-week base rate, test days"},
        "brier": NUM,
        "test_days": INT,
        "test_base_rate": NUM,
        "cases": INT,
    },
    {
        "not_available": {
            "type": "object",
            "additionalProperties": STR,
            "description": "HET inputs the data lack, with the reason",
        }
    },
)
REASON = {
    "type": ["string", "null"],
    "enum": [
        "short_history",
        "never_seen",
        "always_seen",
        "last_unknown",
        "no_state",
        "no_census",
        "predates",
        "other",
        None,
    ],
    "description": "The note as a stable code (null when the risk is there)",
}
STATUS = obj(
    {
        **HEADER,
        "rule": {
            **obj({"amber_waiting_per_doctor": NUM, "red_waiting_per_doctor": NUM}),
            "description": "The status thresholds the forecast used",
        },
        "matches_now": {
            **BOOL,
            "description": "Whether they are this server's Now status thresholds (an "
            "observed site: always, both use the census basis)",
        },
        "red": {"oneOf": [STATUS_RED, {"type": "null"}]},
        "red_note": {**OPT_STR, "description": "Why there is no red risk (null when there is)"},
        "tension": {"oneOf": [STATUS_TENSION, {"type": "null"}]},
        "tension_note": {**OPT_STR, "description": "Why there is no tension risk"},
        "red_reason": REASON,
        "tension_reason": REASON,
    }
)


def _response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class ForecastQuery(Schema):
    horizon = fields.Integer(
        load_default=168,
        validate=validators.Range(min=1, max=168),
        metadata={"description": "Hours ahead to return (1-168)."},
    )
    by = fields.String(
        load_default="none",
        validate=validators.OneOf(("none", "specialty")),
        metadata={"description": "'none': the hospital total only; 'specialty': and each one."},
    )


# --------------------------------------------------------------------------- helpers


bp.before_request(refuse_repeated_parameters)


def _run(run_id: int) -> dict[str, Any]:
    return data.read_run(get_db(), run_id)


def _header(run: dict[str, Any]) -> dict[str, Any]:
    header = store.latest_header(get_db(), run["id"], "forecast")
    if header is None:
        raise NoForecast(
            f"run {run['id']} has no forecast yet: run `hospiflow forecast run --run {run['id']}` "
            "(live runs refresh theirs every simulated hour once they have two weeks of history)",
            where="run_id",
            run_id=run["id"],
        )
    return header


def _base(run: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    tz = run["timezone"]
    return {
        "ok": True,
        "run_id": int(run["id"]),
        "timezone": tz,
        "generated_at": utc_iso(header["generated_at_ms"], tz),
        "origin": utc_iso(header["origin_ms"], tz),
    }


def _specialties(run_id: int, codes: list[str]) -> list[dict[str, str]]:
    from hospiflow.store import queries

    names = {r["code"]: r["name"] for r in queries.run_catalog(get_db(), run_id)["specialties"]}
    return [{"key": code, "name": names.get(code, code)} for code in codes]


def _matrix(
    rows: list[tuple], n_spec: int, targets: list[int], value: Callable[[tuple], Any]
) -> list[list[Any]]:
    where = {t: i for i, t in enumerate(targets)}
    out: list[list[Any]] = [[None] * len(targets) for _ in range(n_spec)]
    for row in rows:
        s = row[1]
        if s is not None and 0 <= s < n_spec and row[0] in where:
            out[s][where[row[0]]] = value(row)
    return out


def _hours(rows: list[tuple], horizon: int | None = None) -> list[int]:
    targets = sorted({int(r[0]) for r in rows})
    return targets[:horizon] if horizon is not None else targets


def _series(
    rows: list[tuple], levels: list[float], keys: list[dict[str, str]], by: str
) -> tuple[list[int], list[dict[str, Any]]]:
    targets = _hours(rows)
    where = {t: i for i, t in enumerate(targets)}
    wanted = [None] if by == "none" else [None, *range(len(keys))]
    out = []
    for spec in wanted:
        mean = [0.0] * len(targets)
        bands = {f"{q:g}": [0.0] * len(targets) for q in levels}
        for target, s, value, quantiles in rows:
            if s != spec or target not in where:
                continue
            i = where[target]
            mean[i] = round(float(value), 3)
            for q, v in zip(levels, quantiles or [], strict=False):
                bands[f"{q:g}"][i] = float(v)
        key = ALL if spec is None else keys[spec]
        out.append({**key, "mean": mean, "quantiles": bands})
    return targets, out


def _occupancy_band(
    rows: list[tuple], levels: list[float]
) -> tuple[list[float], list[float]] | None:
    """The 90 % band (quantiles 0.05 and 0.95) of patients present, when the forecast
    stored one (forecasts made before it was, have none)."""
    where = [
        next((i for i, q in enumerate(levels) if abs(q - b) < 1e-9), None) for b in (0.05, 0.95)
    ]
    if None in where or not all(isinstance(r[3], list) and r[3] for r in rows):
        return None
    low, high = where
    return [float(r[3][low]) for r in rows], [float(r[3][high]) for r in rows]


def _observed(run: dict[str, Any], payload: dict[str, Any]) -> bool:
    """A site's observed run (visits only): its forecast payload says what it lacks."""
    return data.is_observed(run) or "lacks" in payload


def _observed_keys(payload: dict[str, Any]) -> dict[str, Any]:
    """What an observed run's answers add: the census definition and what the data lack."""
    return {
        "saturation_definition": payload.get("saturation_definition"),
        "lacks": [str(x) for x in payload.get("lacks") or ["doctors"]],
    }


# --------------------------------------------------------------------------- views


@bp.get("/runs/<int:run_id>/forecast")
@bp.input(ForecastQuery, location="query", arg_name="args", unknown=RAISE)
@bp.doc(
    responses={
        200: _response(FORECAST, "Hourly arrivals (mean, quantiles) and daily totals"),
        400: E400,
        404: E404,
    }
)
def forecast(run_id: int, args: dict[str, Any]) -> dict[str, Any]:
    """Arrivals forecast of the next hours (mean and quantiles 0.05-0.95), daily totals of the
    next 28 days, and the patients present over the next 8 hours."""
    run = _run(run_id)

    def build() -> dict[str, Any]:
        header = _header(run)
        payload = header["payload"] or {}
        levels = [float(q) for q in payload.get("quantile_levels", [])]
        tz = run["timezone"]
        keys = _specialties(run_id, payload.get("specialties", []))
        hourly = store.read_rows(get_db(), run_id, "arrivals")
        cut = _hours(hourly, args["horizon"])
        hourly = [r for r in hourly if r[0] in set(cut)]
        hours, series = _series(hourly, levels, keys, args["by"])
        days, daily = _series(
            store.read_rows(get_db(), run_id, "arrivals_daily"), levels, keys, args["by"]
        )
        occupancy_rows = [r for r in store.read_rows(get_db(), run_id, "occupancy") if r[1] is None]
        occupancy = None
        if occupancy_rows:
            band = _occupancy_band(occupancy_rows, levels)
            occupancy = {
                "hours": [utc_iso(r[0], tz) for r in occupancy_rows],
                "present": [round(float(r[2]), 2) for r in occupancy_rows],
                **({"low": band[0], "high": band[1]} if band else {}),
            }
        return {
            **_base(run, header),
            "model": header["model"],
            "by": args["by"],
            "horizon": len(hours),
            "quantile_levels": levels,
            "hours": [utc_iso(t, tz) for t in hours],
            "series": series,
            "days": [utc_iso(t, tz) for t in days],
            "daily": daily,
            "occupancy": occupancy,
            "calibration": payload.get("calibration") or {},
            **(_observed_keys(payload) if _observed(run, payload) else {}),
        }

    return limited(build)


def _risk_like(
    run: dict[str, Any], header: dict[str, Any], metric: str
) -> tuple[list[int], list[dict], list[tuple]]:
    run_id = int(run["id"])
    payload = header["payload"] or {}
    if not payload.get("risk"):
        why = "the run has no roster"
        if _observed(run, payload):
            why = "the site's visits have no departure times (no census)"
        raise NoForecast(
            f"run {run_id}'s forecast has no saturation risk: {why}",
            where="run_id",
            run_id=run_id,
        )
    keys = _specialties(run_id, payload.get("specialties", []))
    rows = store.read_rows(get_db(), run_id, metric)
    return _hours(rows), keys, rows


def _census_risk(run: dict[str, Any], header: dict[str, Any], rows: list[tuple]) -> dict[str, Any]:
    """An observed run's risk: one hospital-wide row (``all``), P(census >= threshold)
    with its drivers, and the definition that applied."""
    payload = header["payload"] or {}
    hospital = [(r[0], 0, r[2], r[3]) for r in rows if r[1] is None]
    targets = _hours(hospital)

    def driver(name: str) -> list[list[Any]]:
        return _matrix(hospital, 1, targets, lambda r: (r[3] or {}).get(name))

    definition = payload.get("definition")
    return {
        **_base(run, header),
        "rule": payload.get("rule", ""),
        "calibration": payload.get("calibration") or {},
        "hours": [utc_iso(t, run["timezone"]) for t in targets],
        "specialties": [dict(ALL)],
        "probability": _matrix(hospital, 1, targets, lambda r: round(float(r[2]), 4)),
        "drivers": {name: driver(name) for name in CENSUS_DRIVER_NAMES},
        **_observed_keys(payload),
        **({"definition": definition} if isinstance(definition, dict) else {}),
    }


def _no_staffing(run: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """An observed run's staffing: nothing to advise (no doctors, no roster), said plainly."""
    payload = header["payload"] or {}
    note = str(payload.get("staffing") or NOT_IN_DATA)
    return {
        **_base(run, header),
        "hours": [],
        "specialties": [],
        "rostered": [],
        "advised": [],
        "gap": [],
        "probability_rostered": [],
        "probability_advised": [],
        "reachable": [],
        "lacks": _observed_keys(payload)["lacks"],
        "message": f"{note}: a site's observed visits hold no doctors or rosters, so no "
        "staffing can be advised (the census saturation risk is at /forecast/risk)",
    }


@bp.get("/runs/<int:run_id>/forecast/risk")
@bp.doc(
    responses={
        200: _response(RISK, "Probability of a queue forming per hour and specialty, with drivers"),
        400: E400,
        404: E404,
    }
)
@no_query
def risk(run_id: int) -> dict[str, Any]:
    """Probability of a queue forming (>= 1 waiting per doctor, an early warning below the Now
    status's red, whose risk is ``/forecast/status``) of every coming hour (168) and
    specialty, with its drivers:
    forecast arrivals, rostered doctors, expected utilisation and patients waiting. An
    observed run: one hospital-wide row, P(census >= threshold), with forecast arrivals,
    expected patients present and the threshold."""

    def build() -> dict[str, Any]:
        run = _run(run_id)
        header = _header(run)
        targets, keys, rows = _risk_like(run, header, "saturation")
        payload = header["payload"] or {}
        if _observed(run, payload):
            return _census_risk(run, header, rows)
        n = len(keys)

        def driver(name: str) -> list[list[Any]]:
            return _matrix(rows, n, targets, lambda r: (r[3] or {}).get(name))

        return {
            **_base(run, header),
            "rule": payload.get("rule", ""),
            "settings": payload.get("settings", {}),
            "calibration": payload.get("calibration") or {},
            "hours": [utc_iso(t, run["timezone"]) for t in targets],
            "specialties": keys,
            "probability": _matrix(rows, n, targets, lambda r: round(float(r[2]), 4)),
            "drivers": {name: driver(name) for name in QUEUE_DRIVER_NAMES},
        }

    return limited(build)


@bp.get("/runs/<int:run_id>/forecast/staffing")
@bp.doc(
    responses={
        200: _response(STAFFING, "Advised vs rostered doctors per hour and specialty"),
        400: E400,
        404: E404,
    }
)
@no_query
def staffing(run_id: int) -> dict[str, Any]:
    """Fewest doctors keeping the probability of saturation at or below the target, beside the
    rostered number, for every coming hour and specialty; the gap is advised - rostered. An
    observed run has no doctors: empty series, ``lacks`` and a ``message`` saying so."""

    def build() -> dict[str, Any]:
        run = _run(run_id)
        header = _header(run)
        payload = header["payload"] or {}
        if _observed(run, payload):
            return _no_staffing(run, header)
        targets, keys, rows = _risk_like(run, header, "staffing")
        n = len(keys)

        def extra(name: str) -> list[list[Any]]:
            return _matrix(rows, n, targets, lambda r: (r[3] or {}).get(name))

        reachable = _matrix(rows, n, targets, lambda r: bool((r[3] or {}).get("reachable", True)))
        return {
            **_base(run, header),
            "rule": payload.get("rule", ""),
            "settings": payload.get("settings", {}),
            "hours": [utc_iso(t, run["timezone"]) for t in targets],
            "specialties": keys,
            "rostered": extra("rostered"),
            "advised": _matrix(rows, n, targets, lambda r: float(r[2])),
            "gap": extra("gap"),
            "probability_rostered": extra("probability_rostered"),
            "probability_advised": extra("probability_advised"),
            "reachable": [[bool(v) for v in row] for row in reachable],
        }

    return limited(build)


PREDATES = "the stored forecast predates the status risks: run `hospiflow forecast run --run {id}`"


def _status_red(run: dict[str, Any], found: dict[str, Any]) -> dict[str, Any] | None:
    red = found.get("red")
    if not isinstance(red, dict):
        return None
    tz = run["timezone"]
    rows = store.read_rows(get_db(), int(run["id"]), "status_red")
    return {
        "from": utc_iso(int(red["origin_ms"]), tz),
        "hours": [utc_iso(int(r[0]), tz) for r in rows],
        "probability": [round(float(r[2]), 4) for r in rows],
        "hour_of_week_rate": [float((r[3] or {}).get("base_rate") or 0.0) for r in rows],
        "now": {"red": bool(red["now"]["red"]), "load": round(float(red["now"]["load"]), 3)},
        "rule": str(red["rule"]),
        "basis": str(red.get("basis", "queue")),
        "skill": [
            {k: h[k] for k in ("hours_ahead", "brier_skill", "brier", "cases")}
            for h in red["horizons"]
        ],
        "mean_brier_skill": red.get("mean_brier_skill"),
        "test_days": int(red["test_days"]),
        "test_base_rate": float(red["base_rate"]),
    }


def _status_tension(run: dict[str, Any], found: dict[str, Any]) -> dict[str, Any] | None:
    t = found.get("tension")
    if not isinstance(t, dict):  # none computed (or a forecast older than this risk)
        return None
    rows = store.read_rows(get_db(), int(run["id"]), "tension")
    if not rows:
        return None
    return {
        "day": str(t["day"]),
        "from_day": str(t["from_day"]),
        "probability": round(float(rows[0][2]), 4),
        "day_of_week_rate": float((rows[0][3] or {}).get("base_rate") or 0.0),
        "today": {"level": int(t["today"]["level"]), "tension": bool(t["today"]["tension"])},
        "rule": str(t["rule"]),
        "brier_skill": t.get("brier_skill"),
        "brier": float(t["brier"]),
        "test_days": int(t["test_days"]),
        "test_base_rate": float(t["base_rate"]),
        "cases": int(t["cases"]),
        **({"not_available": t["not_available"]} if t.get("not_available") else {}),
    }


def _reason(found: dict[str, Any], risk: str) -> str:
    from hospiflow.forecast.status_forecast import reason_code

    code = found.get(f"{risk}_reason")
    return str(code) if code else reason_code(str(found.get(f"{risk}_note") or ""))


@bp.get("/runs/<int:run_id>/forecast/status")
@bp.doc(
    responses={
        200: _response(STATUS, "Risk of the Now status turning red, and of tension tomorrow"),
        400: E400,
        404: E404,
    }
)
@no_query
def status(run_id: int) -> dict[str, Any]:
    """The headline risks, on the Now status's own rule: P(the department's status is red) in
    each of the next 8 hours, and P(FEDORU global tension level >= 3) tomorrow, each with the
    Brier skill of its fit backtested on the last days of the history; a risk the data do not
    allow is null, and its note says why."""

    def build() -> dict[str, Any]:
        run = _run(run_id)
        header = _header(run)
        payload = header["payload"] or {}
        found = payload.get("status_risk")
        if not isinstance(found, dict):
            note = PREDATES.format(id=run_id)
            found = {
                "red_note": note,
                "red_reason": "predates",
                "tension_note": note,
                "tension_reason": "predates",
            }
        now_rule = data.status_rule(current_app.config)
        rule = found.get("rule") or now_rule.as_dict()
        red = _status_red(run, found)
        observed = red is not None and red["basis"] != "queue"
        return {
            **_base(run, header),
            "rule": {
                k: float(rule[k]) for k in ("amber_waiting_per_doctor", "red_waiting_per_doctor")
            },
            "matches_now": observed
            or float(rule["red_waiting_per_doctor"]) == now_rule.red_waiting_per_doctor,
            "red": red,
            "red_note": None if red is not None else str(found.get("red_note") or "not stored"),
            "tension": (tension := _status_tension(run, found)),
            "tension_note": None
            if tension is not None
            else str(found.get("tension_note") or "not stored"),
            "red_reason": None if red is not None else _reason(found, "red"),
            "tension_reason": None if tension is not None else _reason(found, "tension"),
        }

    return limited(build)


@bp.get("/runs/<int:run_id>/forecast/backtest")
@bp.doc(
    responses={
        200: _response(BACKTEST, "The run's stored backtest scores"),
        400: E400,
        404: E404,
    }
)
@no_query
def backtest(run_id: int) -> dict[str, Any]:
    """Stored backtest scores (`hospiflow forecast backtest --run`): arrivals (every model of the
    ladder), saturation risk (Brier, skill, reliability) and occupancy (MSE vs persistence)."""

    def build() -> dict[str, Any]:
        run = _run(run_id)
        scored = run_id
        header = store.latest_header(get_db(), run_id, "backtest")
        before = predecessor(get_db(), run) if header is None else None
        if before is not None:  # a live run is judged on the history it continues
            header = store.latest_header(get_db(), before, "backtest")
            scored = before
        if header is None:
            raise NoBacktest(
                f"run {run_id} has no backtest yet: run "
                f"`hospiflow forecast backtest --run {run_id}`",
                where="run_id",
                run_id=run_id,
            )
        payload = header["payload"] or {}
        arrivals = {
            k: payload[k] for k in ("test_start", "test_end", "best", "models") if k in payload
        }
        observed = _observed(run, payload)
        dropped = ("calibration", "settings") if observed else ("calibration",)
        risk = payload.get("risk")
        if isinstance(risk, dict):  # an observed run's census risk has no queue settings
            risk = {k: v for k, v in risk.items() if k not in dropped}
        return {
            "ok": True,
            "run_id": int(run["id"]),
            "timezone": run["timezone"],
            "generated_at": utc_iso(header["generated_at_ms"], run["timezone"]),
            "arrivals": arrivals,
            "risk": risk,
            "occupancy": payload.get("occupancy"),
            "note": payload.get("risk_note"),
            "scored_run_id": scored,
            **(_observed_keys(payload) if observed else {}),
        }

    return limited(build)
