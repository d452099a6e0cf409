"""``/api/v1/runs/{id}/summary``: the printable daily summary's numbers.

Thin over :func:`hospiflow.store.summary.daily_summary`; the day defaults to
"yesterday" of the data's clock (the day before the one holding the latest
record), so a finished run, a live run and an imported site all open on their
last full day. The page is ``/summary?run=N&day=YYYY-MM-DD`` (``web/pages.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from apiflask import Schema, fields

from hospiflow.forecast.history import predecessor
from hospiflow.store.summary import daily_summary
from hospiflow.web import data
from hospiflow.web.components import INT, OPT_STR, STR, TRUE, arr, obj
from hospiflow.web.context import get_db, state
from hospiflow.web.endpoints import Blueprint, limited, query, refuse_repeated_parameters
from hospiflow.web.timeutil import BadRequest, local_ms, utc_iso

bp = Blueprint("summary", __name__, tag="summary")
bp.before_request(refuse_repeated_parameters)

OPT_NUM = {"type": ["number", "null"]}
FIGURES = {
    "type": ["object", "null"],
    "properties": {"n": INT, "median": OPT_NUM, "p90": OPT_NUM, "mean": OPT_NUM},
}
SUMMARY = obj(
    {
        "ok": TRUE,
        "run_id": INT,
        "timezone": STR,
        "source": STR,
        "site": OPT_STR,
        "as_of": {"type": ["string", "null"], "description": "The latest record (data clock)"},
        "day": {**STR, "description": "The local day summarised (YYYY-MM-DD)"},
        "weekday": {**INT, "description": "0 Monday ... 6 Sunday"},
        "arrivals": obj({"count": INT, "usual": OPT_NUM, "usual_days": INT}),
        "waits": {**FIGURES, "description": "Door-to-doctor wait, minutes; null: not in data"},
        "stays": {**FIGURES, "description": "Length of stay, minutes"},
        "within_4h": obj({"share": OPT_NUM, "within": INT, "known": INT}),
        "tension": obj(
            {
                "global_level": {"type": ["integer", "null"]},
                "tension": {"type": ["boolean", "null"]},
                "known_indicators": INT,
            }
        ),
        "staffing": {
            "type": ["array", "null"],
            "description": "Per specialty, hours at amber or red; null: not in data",
        },
        "not_in_data": arr(STR),
        "rule": STR,
    }
)


class SummaryQuery(Schema):
    day = fields.Date(
        metadata={"description": "Local date (YYYY-MM-DD); default: the data's yesterday"}
    )


@bp.get("/runs/<int:run_id>/summary")
@query(bp, SummaryQuery)
@bp.doc(
    responses={
        200: {
            "description": "One day of the run, summarised",
            "content": {"application/json": {"schema": SUMMARY}},
        },
        400: "Malformed day, or a day outside the run's data",
        404: "No such run",
    }
)
def summary(run_id: int, args: dict[str, Any]) -> dict[str, Any]:
    """Arrivals against the usual for the weekday, waits, lengths of stay, the share
    within 4 hours, the FEDORU tension level and the hours at amber or red by
    specialty, for one local day (by default the data's yesterday)."""
    from hospiflow.web.api import _config, _context

    run = _context(run_id)

    def build() -> dict[str, Any]:
        connection = get_db()
        as_of = data.data_as_of(connection, run.row)
        first = _day(run.start_ms, run.tz)
        if as_of is None:
            day = args.get("day") or first
        else:
            latest = _day(as_of - 1 if run.row["status"] == "complete" else as_of, run.tz)
            day = args.get("day") or max(first, latest - timedelta(days=1))
            if not first <= day <= latest:
                raise BadRequest(
                    f"{day.isoformat()} is outside the run's data "
                    f"({first.isoformat()} to {latest.isoformat()})",
                    where="day",
                )
        out = daily_summary(
            connection,
            run_id,
            day,
            data.status_rule(_config()),
            predecessor=predecessor(connection, run.row),
            writer=state().write_engine(),
        )
        lacks = set(data.run_source(run.row).get("lacks") or [])
        if "doctors" in lacks or "rosters" in lacks:
            out["staffing"] = None
            if "staffing" not in out["not_in_data"]:
                out["not_in_data"].append("staffing")
        return {
            "ok": True,
            "run_id": run_id,
            "timezone": run.tz,
            "source": "observed" if data.is_observed(run.row) else "simulation",
            "site": (run.row.get("parameters") or {}).get("site"),
            "as_of": utc_iso(as_of, run.tz),
            **out,
            "rule": data.status_rule(_config()).rule,
        }

    return limited(build)


def _day(utc_ms: int, tz: str) -> date:
    return datetime.fromtimestamp(local_ms(utc_ms, tz) / 1000, UTC).date()
