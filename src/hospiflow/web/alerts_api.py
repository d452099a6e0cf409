"""``/api/v1/alerts``: the alerts raised by the server's check, and their acknowledgement.

Thin over :mod:`hospiflow.store.alerts` (rows, episodes, acknowledgement) and
:mod:`hospiflow.web.alerting` (the check and the JSON of an alert).
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields, validators
from flask import current_app

from hospiflow.errors import NotFoundError
from hospiflow.store import alerts as store
from hospiflow.store.timeconv import now_ms
from hospiflow.web.alerting import EXTENSION, describe
from hospiflow.web.auth import actor, requires_admin
from hospiflow.web.components import BOOL, INT, OPT_STR, STR, TRUE, arr, obj
from hospiflow.web.context import get_db, state
from hospiflow.web.endpoints import (
    Blueprint,
    json_object,
    limited,
    query,
    refuse_repeated_parameters,
)
from hospiflow.web.schemas import BIGINT

bp = Blueprint("alerts", __name__, tag="alerts")
bp.before_request(refuse_repeated_parameters)

OPT_TIME = {"type": ["string", "null"], "format": "date-time"}
ALERT = obj(
    {
        "id": INT,
        "run_id": INT,
        "site": {
            "type": ["object", "null"],
            "description": "The site whose feed the run holds; null for a simulation",
        },
        "kind": {
            "type": "string",
            "enum": ["status", "het", "nedocs"],
            "description": "status: department red; het: FEDORU global tension; "
            "nedocs: NEDOCS overcrowded or worse",
        },
        "level": STR,
        "reason": {**STR, "description": "In words, in English (the page words it itself)"},
        "time": {**STR, "format": "date-time", "description": "Data clock: the episode start"},
        "raised_at": {**STR, "format": "date-time", "description": "Server clock"},
        "ended": {**OPT_TIME, "description": "Data clock: when it cleared; null while open"},
        "open": BOOL,
        "details": {"type": "object", "description": "The status, score or day behind it"},
        "acknowledged": {
            "type": ["object", "null"],
            "properties": {"at": STR, "by": STR, "note": OPT_STR},
        },
        "webhook": obj(
            {
                "state": {"type": "string", "enum": list(store.WEBHOOK_STATES)},
                "attempts": INT,
                "error": OPT_STR,
                "at": OPT_TIME,
            }
        ),
    }
)
LIST = obj(
    {
        "ok": TRUE,
        "alerts": arr(ALERT),
        "webhook": {**BOOL, "description": "Whether HOSPIFLOW_ALERT_WEBHOOK is set"},
        "checking": {**BOOL, "description": "Whether this server checks for alerts"},
    }
)
ONE = obj({"ok": TRUE, "alert": ALERT})


def _response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class AlertsQuery(Schema):
    run_id = fields.Integer(
        validate=validators.Range(min=1, max=BIGINT),
        metadata={"description": "Only this run's alerts"},
    )
    acknowledged = fields.Boolean(
        metadata={"description": "true: acknowledged only; false: not yet; absent: both"}
    )
    limit = fields.Integer(load_default=50, validate=validators.Range(min=1, max=500))


class AcknowledgeBody(Schema):
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validators.Length(max=500),
        metadata={"description": "What was done (optional)"},
    )


@bp.get("/alerts")
@query(bp, AlertsQuery)
@bp.doc(responses={200: _response(LIST, "Alerts, newest first"), 400: "Bad parameter"})
def alerts(args: dict[str, Any]) -> dict[str, Any]:
    """Alerts raised when a live run or a fed site turned red or crossed a tension
    threshold (one per episode), newest first, with their acknowledgement and the
    webhook's delivery state."""

    def build() -> dict[str, Any]:
        connection = get_db()
        rows = store.alert_rows(
            connection, args.get("run_id"), args.get("acknowledged"), args["limit"]
        )
        return {
            "ok": True,
            "alerts": describe(connection, rows),
            "webhook": bool(current_app.config.get("ALERT_WEBHOOK")),
            "checking": EXTENSION in current_app.extensions,
        }

    return limited(build)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@bp.doc(
    security="BearerAuth",
    responses={
        200: _response(ONE, "The alert, acknowledged (the first acknowledgement stands)"),
        400: "Malformed JSON or an unknown key",
        401: "Missing or wrong bearer token",
        403: "Writes disabled, or a viewer's token",
        404: "No such alert",
    },
)
@requires_admin
@json_object
@bp.input(AcknowledgeBody, location="json", arg_name="body")
def acknowledge(alert_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Acknowledge an alert: who (the token's name) and when are recorded."""
    if not 0 < alert_id <= BIGINT:  # beyond the database's integer: no such alert, not a 500
        raise NotFoundError(f"no alert {alert_id}", where="alert_id", alert_id=alert_id)
    with state().write_engine().begin() as writer:
        row = store.acknowledge(writer, alert_id, actor(), now_ms(), body.get("note"))
        (item,) = describe(writer, [row])
    return {"ok": True, "alert": item}
