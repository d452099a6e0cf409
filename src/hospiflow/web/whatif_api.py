"""Replicated what-ifs: ``POST /whatifs`` starts one, ``GET /whatifs/{id}`` follows it.

Thin over :mod:`hospiflow.whatif`: the request names a built-in base scenario (or
gives a whole scenario in the TOML file's structure, such as a calibrated one),
a change set and how much to simulate; the job runs the paired replications in
the app's process pool (``web.jobs``) and its answer is the baseline, the change
and the difference with its 95 % interval for every measure. Nothing is stored.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields, validators
from flask import current_app

from hospiflow.errors import NotFoundError, ScenarioError
from hospiflow.simulation.scenario import (
    BUILTIN_CATALOGS,
    BUILTIN_SCENARIOS,
    Scenario,
    load_scenario,
    scenario_from_dict,
)
from hospiflow.web.auth import requires_admin
from hospiflow.web.components import BOOL, INT, NUM, OPT_NUM, STR, TRUE, arr, obj
from hospiflow.web.context import state
from hospiflow.web.data import status_rule
from hospiflow.web.endpoints import Blueprint, json_object, no_query, refuse_repeated_parameters
from hospiflow.whatif.changes import change_set_from_dict
from hospiflow.whatif.compare import (
    MAX_REPLICATIONS,
    MAX_WEEKS,
    MIN_REPLICATIONS,
    WhatIfSettings,
    prepare,
    run_whatif,
)

bp = Blueprint("whatifs", __name__, tag="what-if")
bp.before_request(refuse_repeated_parameters)

MEASURE = obj(
    {
        "key": STR,
        "label": STR,
        "unit": STR,
        "lower_is_better": BOOL,
        "baseline": OPT_NUM,
        "change": OPT_NUM,
        "difference": {**OPT_NUM, "description": "change - baseline, mean over the pairs"},
        "low": {**OPT_NUM, "description": "95 % paired-t interval of the difference"},
        "high": OPT_NUM,
        "pairs": INT,
        "significant": {**BOOL, "description": "the interval excludes 0"},
    }
)
RESULT = obj(
    {
        "base": STR,
        "changes": arr(STR, description="What changed, one line each"),
        "replications": INT,
        "weeks": NUM,
        "warmup_days": NUM,
        "confidence": NUM,
        "method": STR,
        "seconds": NUM,
        "measures": arr(MEASURE),
    }
)
JOB = obj(
    {
        "ok": TRUE,
        "whatif": obj(
            {
                "id": INT,
                "status": {"type": "string", "enum": ["running", "complete", "failed"]},
                "done": {**INT, "description": "Runs finished (both arms)"},
                "total": INT,
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "result": {"oneOf": [RESULT, {"type": "null"}]},
                "error": {
                    "oneOf": [obj({"code": STR, "message": STR}), {"type": "null"}],
                },
            }
        ),
    }
)
ACCEPTED = obj({"ok": TRUE, "whatif_id": INT, "status_url": STR})


def _response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class WhatIfRequest(Schema):
    base = fields.String(
        load_default="default",
        validate=validators.OneOf(BUILTIN_SCENARIOS),
        metadata={"description": "The built-in scenario the changes apply to."},
    )
    scenario = fields.Dict(
        metadata={
            "description": "A whole scenario in the TOML file's structure (e.g. a calibrated "
            "one), used instead of base; built-in catalogs only."
        }
    )
    changes = fields.Dict(
        load_default=dict,
        metadata={
            "description": "doctors [{specialty, start, end, change, days}], spaces (n or "
            "{area: n}), ward_beds (n or {ward: n}), arrivals_percent, diagnostics_factor, "
            "discharge_hours_earlier, ward_stay_hours, boarding_hours_sooner",
            "example": {
                "doctors": [
                    {"specialty": "cardiology", "start": "18:00", "end": "02:00", "change": 1}
                ],
                "spaces": 4,
            },
        },
    )
    replications = fields.Integer(
        load_default=20, validate=validators.Range(min=MIN_REPLICATIONS, max=MAX_REPLICATIONS)
    )
    weeks = fields.Float(load_default=8.0, validate=validators.Range(min=0.1, max=MAX_WEEKS))


def _base(body: dict[str, Any]) -> Scenario:
    raw = body.get("scenario")
    if raw is None:
        return load_scenario(body["base"])
    catalog = raw.get("catalog", "default")
    if catalog not in BUILTIN_CATALOGS:
        raise ScenarioError(
            f"must be a built-in catalog ({', '.join(BUILTIN_CATALOGS)})",
            where="scenario.catalog",
        )
    return scenario_from_dict(raw, where="scenario")


@bp.post("/whatifs")
@bp.doc(
    security="BearerAuth",
    responses={
        202: _response(ACCEPTED, "Started; follow it at status_url"),
        400: "Malformed JSON or an unknown key",
        401: "Missing or wrong bearer token",
        403: "Writes are disabled, or the token is a viewer's",
        409: "Too many simulations running",
        422: "An impossible change set or scenario, or over the work budget",
    },
)
@requires_admin
@no_query
@json_object
@bp.input(WhatIfRequest, location="json", arg_name="body")
def start(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Start a replicated what-if: paired replications of the base and the changed scenario.

    Every refusal of the change set names its field (`changes.doctors[0].specialty`)."""
    config = current_app.config
    base = _base(body)
    changes = change_set_from_dict(body["changes"])
    settings = WhatIfSettings(replications=body["replications"], weeks=body["weeks"])
    jobs = state().jobs
    rule = status_rule(config)
    budget = float(config["MAX_SIMULATION_PATIENTS"])
    if 7 * settings.weeks > config["MAX_SIMULATION_DAYS"]:
        raise ScenarioError(
            f"at most {config['MAX_SIMULATION_DAYS']:g} days can be simulated through the API, "
            f"got {7 * settings.weeks:g}",
            where="weeks",
        )
    prepare(base, changes, settings, budget)  # a bad change set is a 422 now, not in the job

    def work(job: Any) -> dict[str, Any]:
        job.total = 2 * settings.replications

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        return run_whatif(base, changes, settings, progress, jobs.pool(), rule, budget).as_dict()

    job = jobs.start_whatif(work, config["MAX_JOBS"])
    url = f"/api/v1/whatifs/{job.id}"
    return {"ok": True, "whatif_id": job.id, "status_url": url}, 202, {"Location": url}


@bp.get("/whatifs/<int:whatif_id>")
@bp.doc(responses={200: _response(JOB, "The what-if, its progress and result"), 404: "No such"})
@no_query
def show(whatif_id: int) -> dict[str, Any]:
    """A replicated what-if: running (with progress), complete (with the differences) or
    failed (with the reason). Kept in memory for the newest 50."""
    job = state().jobs.whatifs.get(whatif_id)
    if job is None:
        raise NotFoundError(
            f"no what-if {whatif_id} (kept in memory: the newest 50)", where="whatif_id"
        )
    return {"ok": True, "whatif": job.as_dict()}
