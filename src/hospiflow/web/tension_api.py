"""The tension endpoints under ``/api/v1/runs/{id}/tension``: thin over
:mod:`hospiflow.store.tension` (daily inputs, stored and refreshed when the visits
change) and :mod:`hospiflow.tension` (levels, status, crowding scores).

``/tension`` answers the FEDORU daily indicators HET1-HET6 of the run's days with
their levels (0-4 against the same weekday of the previous weeks, mean + k SD)
and the global level; an indicator the data do not allow has null values and a
``reason``. ``/tension/now`` answers the hourly view: the department status
under the one saturation rule (the Now view's) and the NEDOCS and EDWIN scores,
each with its value and band or the inputs it lacks.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from apiflask import Schema, fields, validators

from hospiflow.store import sites as store_sites
from hospiflow.store import tension as store
from hospiflow.tension import scores
from hospiflow.tension.het import INDICATORS, HetSettings, assess
from hospiflow.web import data, observed
from hospiflow.web.components import BOOL, INT, OPT_NUM, OPT_STR, STR, TRUE, arr, obj
from hospiflow.web.context import get_db, state
from hospiflow.web.endpoints import Blueprint, limited, no_query, query, refuse_repeated_parameters

bp = Blueprint("tension", __name__, tag="tension")
bp.before_request(refuse_repeated_parameters)

E400 = "Malformed or unknown query parameter"
E404 = "No such run"
LEVEL = {"type": "integer", "minimum": -1, "maximum": 4, "description": "0-4; -1 unknown"}
INDICATOR = obj(
    {
        "code": STR,
        "key": STR,
        "label": STR,
        "higher_is_worse": BOOL,
        "reason": {**OPT_STR, "description": "Why it is not available; null when it is"},
        "values": arr(OPT_NUM),
        "levels": arr(LEVEL),
        "mean": arr(OPT_NUM, description="Mean of the reference days"),
        "sd": arr(OPT_NUM, description="Standard deviation of the reference days"),
    }
)
DAILY = obj(
    {
        "ok": TRUE,
        "run_id": INT,
        "timezone": STR,
        "settings": obj(
            {
                "k": {"type": "number"},
                "reference_weeks": INT,
                "min_reference_days": INT,
                "global_indicators": INT,
                "global_level": INT,
            }
        ),
        "rule": STR,
        "days": arr(STR, description="Local dates (YYYY-MM-DD)"),
        "indicators": arr(INDICATOR),
        "global": arr(LEVEL, description="Highest level reached by 3 indicators; -1 unknown"),
        "tension": arr(BOOL, description="Global tension: 3 indicators at level 3 or more"),
        "known_indicators": arr(INT),
        "version": STR,
    }
)
SCORE = obj(
    {
        "value": OPT_NUM,
        "band": OPT_STR,
        "missing": arr(STR, description="Inputs the data do not hold"),
        "reason": OPT_STR,
        "reference": STR,
    }
)
HOURLY = obj(
    {
        "ok": TRUE,
        "run_id": INT,
        "timezone": STR,
        "as_of": {"type": ["string", "null"]},
        "status": {"type": "object", "description": "As in /now's department_status"},
        "nedocs": SCORE,
        "edwin": SCORE,
    }
)


def _response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class TensionQuery(Schema):
    k = fields.Float(
        load_default=1.0,
        validate=validators.Range(min=0.1, max=10),
        metadata={"description": "Standard deviations per level (level j at mean + j*k*SD)."},
    )
    reference_weeks = fields.Integer(
        load_default=52,
        validate=validators.Range(min=4, max=520),
        metadata={"description": "Weeks of the same weekday each day is compared with."},
    )


def _date(local_midnight_ms: int) -> str:
    return datetime.fromtimestamp(local_midnight_ms / 1000, UTC).date().isoformat()


def _num(x: float) -> float | None:
    return float(round(x, 4)) if math.isfinite(x) else None


@bp.get("/runs/<int:run_id>/tension")
@query(bp, TensionQuery)
@bp.doc(responses={200: _response(DAILY, "Daily HET indicators"), 400: E400, 404: E404})
def daily(run_id: int, args: dict[str, Any]) -> dict[str, Any]:
    """The FEDORU "hôpital en tension" indicators HET1-HET6 of every day of the run, their
    levels against the site's own history and the global tension level (see
    `hospiflow.tension.het`). Computed from the visits, stored, and recomputed when
    the visits change."""
    row = data.read_run(get_db(), run_id)
    settings = HetSettings(k=args["k"], reference_weeks=args["reference_weeks"])

    def build() -> dict[str, Any]:
        connection = get_db()
        inputs = store.daily(connection, run_id, writer=state().write_engine())
        unavailable = store.availability(connection, run_id)
        result = assess(inputs.values, unavailable, settings)
        indicators: list[dict[str, Any]] = []
        for ind in INDICATORS:
            got = result["indicators"][ind.key]
            indicators.append(
                {
                    "code": ind.code,
                    "key": ind.key,
                    "label": ind.label,
                    "higher_is_worse": ind.higher_is_worse,
                    "reason": got["reason"],
                    "values": [_num(x) for x in got["value"]],
                    "levels": [int(x) for x in got["level"]],
                    "mean": [_num(x) for x in got["mean"]],
                    "sd": [_num(x) for x in got["sd"]],
                }
            )
        levels = result["global"]
        known = [
            sum(1 for i in indicators if i["levels"][d] >= 0)
            for d in range(len(inputs.days_local_ms))
        ]
        return {
            "ok": True,
            "run_id": run_id,
            "timezone": row["timezone"],
            "settings": {
                "k": settings.k,
                "reference_weeks": settings.reference_weeks,
                "min_reference_days": settings.min_reference_days,
                "global_indicators": settings.global_indicators,
                "global_level": settings.global_level,
            },
            "rule": (
                f"level j (1-4) from mean + j x {settings.k:g} SD of the same weekday over the "
                f"previous {settings.reference_weeks} weeks (beds available: mean - j x k SD); "
                f"global tension when {settings.global_indicators} indicators reach level "
                f"{settings.global_level}"
            ),
            "days": [_date(int(d)) for d in inputs.days_local_ms],
            "indicators": indicators,
            "global": [int(x) for x in levels],
            "tension": [bool(x) for x in result["tension"]],
            "known_indicators": known,
            "version": inputs.version,
        }

    return limited(build)


def _scores(run: data.RunContext, now: dict[str, Any], at_ms: int | None) -> tuple[dict, dict]:
    """NEDOCS and EDWIN with what the data hold at ``at_ms`` (the resource samples of the
    patient flow, the visits, the site's declared spaces); the rest named as missing."""
    connection = get_db()
    known: dict[str, Any] = dict.fromkeys((*scores.NEDOCS_INPUTS, *scores.EDWIN_INPUTS))
    if at_ms is not None:
        known.update(store.crowding_inputs(connection, run.id, at_ms))
    if known["treatment_spaces"] is None:
        site = store_sites.site_of_run(connection, run.id)
        known["treatment_spaces"] = site.get("capacity_spaces") if site else None
    known["doctors_on_duty"] = now["totals"].get("doctors_on_duty")
    out = []
    for name, needed, reference in (
        ("nedocs", scores.NEDOCS_INPUTS, "Weiss et al., Acad Emerg Med 2004;11:38-50"),
        ("edwin", scores.EDWIN_INPUTS, "Bernstein et al., Acad Emerg Med 2003;10:938-942"),
    ):
        missing = scores.missing(known, needed)
        value = band = None
        if not missing and name == "nedocs":
            value, band = scores.nedocs(*(known[k] for k in needed))
        elif not missing:
            value, band = scores.edwin(*(known[k] for k in needed))
        reason = f"not available: the data do not hold {', '.join(missing)}" if missing else None
        out.append(
            {
                "value": value,
                "band": band,
                "missing": missing,
                "reason": reason,
                "reference": reference,
            }
        )
    return out[0], out[1]


@bp.get("/runs/<int:run_id>/tension/now")
@bp.doc(responses={200: _response(HOURLY, "Status and crowding scores now"), 404: E404})
@no_query
def now(run_id: int) -> dict[str, Any]:
    """The department status now under the one saturation rule (the Now view's: which
    specialty and which rule), and the NEDOCS and EDWIN scores or the inputs they lack."""
    from hospiflow.web.api import _config, _context

    run = _context(run_id)

    def build() -> dict[str, Any]:
        make = observed.now_payload if data.is_observed(run.row) else data.now_payload
        payload = make(get_db(), run, _config())
        at = payload["as_of"]
        at_ms = None if at is None else int(datetime.fromisoformat(at).timestamp() * 1000)
        nedocs, edwin = _scores(run, payload, at_ms)
        return {
            "ok": True,
            "run_id": run_id,
            "timezone": run.tz,
            "as_of": payload["as_of"],
            "status": payload["department_status"],
            "nedocs": nedocs,
            "edwin": edwin,
        }

    return limited(build)
