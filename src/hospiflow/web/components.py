"""What the API answers: the response schemas of the OpenAPI document (JSON Schema 2020-12).

Views build plain dicts and serialise them directly (fast, no per-row
marshalling); these schemas describe those dicts exactly, and the
schemathesis test checks every response against them.
"""

from __future__ import annotations

from typing import Any

STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
ISO = {"type": "string", "format": "date-time", "description": "ISO 8601 with offset"}
OPT_ISO = {"type": ["string", "null"], "format": "date-time"}
OPT_NUM = {"type": ["number", "null"]}
OPT_INT = {"type": ["integer", "null"]}
OPT_STR = {"type": ["string", "null"]}
TRUE = {"type": "boolean", "const": True}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """A closed object: every ``required`` key present, ``optional`` keys allowed."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


def arr(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ERROR = obj(
    {
        "error": obj(
            {
                "code": {**STR, "description": "Stable machine-readable code"},
                "message": {**STR, "description": "What went wrong, and where"},
                "details": {"type": "object", "description": "Context: parameter, limits, ..."},
            }
        )
    }
)

SATURATION = {"type": "string", "enum": ["green", "amber", "red"]}
SERIES_KEY = {
    "key": {**STR, "description": "Specialty or pathology code, or 'all'"},
    "name": STR,
}

COUNTS = obj({"visits": INT, "treatments": INT, "events": INT, "snapshots": INT})

RUN = obj(
    {
        "id": INT,
        "kind": {"type": "string", "enum": ["simulation", "import", "live"]},
        "label": STR,
        "status": {"type": "string", "enum": ["running", "complete", "failed"]},
        "progress": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 1,
            "description": "0..1 while a simulation runs; 1 when complete; null for live runs",
        },
        "seed": OPT_INT,
        "timezone": STR,
        "start": ISO,
        "end": ISO,
        "created_at": ISO,
        "finished_at": OPT_ISO,
        "error": OPT_STR,
        "counts": COUNTS,
    },
    {
        "as_of": {**OPT_ISO, "description": "Time of the newest state sample"},
        "parameters": {"type": "object", "description": "The scenario, as its TOML structure"},
        "forecast": obj(
            {
                "generated_at": {**OPT_ISO, "description": "The stored forecast, if any"},
                "backtest_generated_at": {**OPT_ISO, "description": "The stored backtest"},
                "backtest_run_id": {
                    **OPT_INT,
                    "description": "Run the backtest scored: this one or the history it continues",
                },
            }
        ),
    },
)

SPECIALTY_NOW = {
    "waiting": INT,
    "in_treatment": INT,
    "doctors_on_duty": INT,
    "doctors_busy": INT,
    "doctors_free": INT,
    "longest_wait_min": {**OPT_NUM, "description": "Longest current wait of a waiting patient"},
    "mean_wait_last_hour_min": {
        **OPT_NUM,
        "description": "Mean wait of patients whose treatment started in the last hour",
    },
    "treatments_started_last_hour": INT,
    "utilisation": {**OPT_NUM, "description": "doctors busy / on duty"},
    "saturation": SATURATION,
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": ERROR,
    "Run": RUN,
    "Health": obj(
        {
            "ok": TRUE,
            "version": STR,
            "database": {"type": "string", "enum": ["sqlite", "postgresql"]},
            "writes_enabled": BOOL,
            "live_run_id": OPT_INT,
            "time": ISO,
        }
    ),
    "RunList": obj({"ok": TRUE, "runs": arr(ref("Run"))}),
    "RunDetail": obj({"ok": TRUE, "run": ref("Run")}),
    "Deleted": obj({"ok": TRUE, "deleted": INT}),
    "Accepted": obj({"ok": TRUE, "run_id": INT, "status_url": STR}),
    "Now": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "status": STR,
            "timezone": STR,
            "as_of": OPT_ISO,
            "thresholds": obj(
                {
                    "amber": obj({"longest_wait_min": NUM, "waiting_per_doctor": NUM}),
                    "red": obj({"longest_wait_min": NUM, "waiting_per_doctor": NUM}),
                    "rule": STR,
                }
            ),
            "specialties": arr(obj({"specialty": STR, "name": STR, **SPECIALTY_NOW})),
            "totals": obj(SPECIALTY_NOW),
            "recent_arrivals": arr(
                obj({"id": INT, "time": ISO, "pathology": OPT_STR, "specialty": OPT_STR}),
                description="Newest first",
            ),
        }
    ),
    "Arrivals": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "timezone": STR,
            "bucket": STR,
            "by": STR,
            "start": ISO,
            "end": ISO,
            "buckets": arr(ISO, description="Start of each local bucket"),
            "series": arr(obj({**SERIES_KEY, "values": arr(INT), "total": INT})),
            "total": INT,
        }
    ),
    "HourOfWeek": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "by": STR,
            "start": ISO,
            "end": ISO,
            "hours_per_slot": arr(
                INT, minItems=168, maxItems=168, description="Times each hour of week occurs"
            ),
            "series": arr(
                obj(
                    {
                        **SERIES_KEY,
                        "arrivals": arr(INT, minItems=168, maxItems=168),
                        "mean_per_hour": arr(OPT_NUM, minItems=168, maxItems=168),
                    }
                )
            ),
        }
    ),
    "Seasonality": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "start": ISO,
            "end": ISO,
            "months": arr(ISO),
            "series": arr(
                obj(
                    {
                        **SERIES_KEY,
                        "icd10": STR,
                        "specialty": STR,
                        "values": arr(INT),
                        "month_of_year_mean": arr(
                            OPT_NUM,
                            minItems=12,
                            maxItems=12,
                            description="Mean arrivals per calendar month, January first",
                        ),
                    }
                )
            ),
        }
    ),
    "Catalog": obj(
        {
            "ok": TRUE,
            "specialties": arr(
                obj({"code": STR, "name_en": STR, "name_fr": STR}, {"doctors": INT})
            ),
            "pathologies": arr(
                obj(
                    {
                        "code": STR,
                        "icd10": STR,
                        "name_en": STR,
                        "name_fr": STR,
                        "specialty": STR,
                        "mean_treatment_min": OPT_NUM,
                    },
                    {"base_weight": NUM, "monthly_factors": arr(NUM)},
                )
            ),
        },
        {"run_id": INT},
    ),
    "Availability": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "bucket": STR,
            "by": STR,
            "start": ISO,
            "end": ISO,
            "buckets": arr(ISO),
            "series": arr(
                obj(
                    {
                        **SERIES_KEY,
                        "doctors_on_duty": arr(OPT_NUM),
                        "doctors_busy": arr(OPT_NUM),
                        "waiting": arr(OPT_NUM),
                    }
                )
            ),
        }
    ),
    "DoctorsHourOfWeek": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "start": ISO,
            "end": ISO,
            "series": arr(
                obj(
                    {
                        **SERIES_KEY,
                        "utilisation": arr(OPT_NUM, minItems=168, maxItems=168),
                        "doctors_on_duty": arr(OPT_NUM, minItems=168, maxItems=168),
                        "doctors_busy": arr(OPT_NUM, minItems=168, maxItems=168),
                        "waiting": arr(OPT_NUM, minItems=168, maxItems=168),
                    }
                )
            ),
        }
    ),
    "Waits": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "bucket": STR,
            "by": STR,
            "start": ISO,
            "end": ISO,
            "target_minutes": NUM,
            "buckets": arr(ISO),
            "series": arr(
                obj(
                    {
                        **SERIES_KEY,
                        "visits": arr(INT),
                        "treated": arr(INT),
                        "wait_mean_min": arr(OPT_NUM),
                        "wait_p50_min": arr(OPT_NUM),
                        "wait_p90_min": arr(OPT_NUM),
                        "los_mean_min": arr(OPT_NUM),
                        "los_p50_min": arr(OPT_NUM),
                        "los_p90_min": arr(OPT_NUM),
                        "seen_within_target_share": arr(OPT_NUM),
                        "left_without_being_seen": arr(INT),
                        "left_without_being_seen_rate": arr(OPT_NUM),
                    }
                )
            ),
        }
    ),
    "Kpis": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "start": ISO,
            "end": ISO,
            "kpis": obj(
                {
                    "arrivals": INT,
                    "treated": INT,
                    "left_without_being_seen": INT,
                    "left_without_being_seen_rate": OPT_NUM,
                    "wait_mean_min": OPT_NUM,
                    "los_mean_min": OPT_NUM,
                    "waited_over_60_share": OPT_NUM,
                    "utilisation": OPT_NUM,
                    "waiting_mean": OPT_NUM,
                }
            ),
        }
    ),
    "Treatments": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "items": arr(
                obj(
                    {
                        "id": INT,
                        "patient_no": INT,
                        "doctor": OPT_STR,
                        "specialty": OPT_STR,
                        "pathology": OPT_STR,
                        "arrival": ISO,
                        "start": ISO,
                        "end": ISO,
                        "wait_min": NUM,
                        "duration_min": NUM,
                    }
                )
            ),
            "next": {**OPT_STR, "description": "Cursor of the next page, null at the end"},
        }
    ),
    "Events": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "items": arr(ref("Event")),
            "next": {**OPT_STR, "description": "Cursor of the next page, null at the end"},
        }
    ),
    "Event": obj(
        {
            "id": {**INT, "description": "Monotonic within a run: the SSE id"},
            "time": ISO,
            "kind": STR,
            "patient_no": OPT_INT,
            "pathology": OPT_STR,
            "specialty": OPT_STR,
            "doctor": OPT_STR,
        }
    ),
}


def ok(name: str, description: str, csv: bool = False) -> dict[str, Any]:
    """A documented success response holding the component ``name``."""
    content: dict[str, Any] = {"application/json": {"schema": ref(name)}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return {"description": description, "content": content}
