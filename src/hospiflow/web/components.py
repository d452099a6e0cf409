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


HOURS_OF_WEEK = {
    "type": "array",
    "items": OPT_NUM,
    "minItems": 168,
    "maxItems": 168,
    "description": "Mean per local hour of the week, Monday 00:00 first",
}


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


NOT_ESTIMATED = arr(
    obj({"item": STR, "default": STR, "reason": STR}),
    description="What the data could not give, the default used",
)

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
OPT_SATURATION = {
    "type": ["string", "null"],
    "enum": ["green", "amber", "red", None],
    "description": "null where it cannot be judged (an observed run's specialties)",
}
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
        "source": {
            "type": "string",
            "enum": ["simulation", "observed"],
            "description": "Simulated data, or a site's observed (imported) visits",
        },
        "site": {
            "oneOf": [obj({"id": INT, "name": STR}), {"type": "null"}],
            "description": "The site whose observed visits the run holds",
        },
    },
    {
        "lacks": arr(
            STR,
            description="Observed runs: what such data never hold (doctors, rosters, "
            "state_snapshots); the views concerned answer null for them",
        ),
        "as_of": {
            **OPT_ISO,
            "description": "Data as of: where the run's data stand, the default end of "
            "every view (a finished run: its end; observed runs: the newest arrival or "
            "departure; a live or running run: its newest record; never a planned end)",
        },
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

UNKNOWN = "null when the data cannot tell (observed data without first-seen times)"
SPECIALTY_NOW = {
    "waiting": {**OPT_INT, "description": f"Present and not yet seen by a doctor; {UNKNOWN}"},
    "in_treatment": {**OPT_INT, "description": f"Present and seen; {UNKNOWN}"},
    "doctors_on_duty": {**OPT_INT, "description": "null for observed data (no rosters)"},
    "doctors_busy": OPT_INT,
    "doctors_free": OPT_INT,
    "longest_wait_min": {**OPT_NUM, "description": "Longest current wait of a waiting patient"},
    "mean_wait_last_hour_min": {
        **OPT_NUM,
        "description": "Mean wait of patients whose treatment started in the last hour",
    },
    "treatments_started_last_hour": {
        **OPT_INT,
        "description": f"First seen in the last hour; {UNKNOWN}",
    },
    "utilisation": {**OPT_NUM, "description": "doctors busy / on duty"},
    "saturation": OPT_SATURATION,
    "present": {**OPT_INT, "description": "Patients in the department (waiting + in treatment)"},
    "longest_present_min": {
        **OPT_NUM,
        "description": "Time in the department of the longest-present patient (observed data)",
    },
    "arrivals_last_hour": {**OPT_INT, "description": "Arrivals in the hour before as_of"},
    "usual_arrivals_this_hour": {
        **OPT_NUM,
        "description": "Mean arrivals in this local hour of the week over the previous 8 weeks "
        "(observed data, and complete simulations without a live feed: null otherwise)",
    },
}
NOW_STATUS = {
    **obj(
        {
            "level": {"type": "string", "enum": ["green", "amber", "red", "unknown"]},
            "text": {**STR, "description": "Which specialty, which rule and its numbers"},
            "reason": {
                "type": ["object", "null"],
                "description": "The specialty that set the level: specialty, level, waiting, "
                "doctors_on_duty, waiting_per_doctor, longest_wait_min, "
                "usual_waiting_per_doctor (this hour of the week, previous 8 weeks), "
                "threshold, text (observed data: present, amber, red, basis); null if unknown",
            },
            "areas": {"type": "object", "additionalProperties": STR},
            "rule": STR,
        }
    ),
    "description": "The department's status under the one saturation rule "
    "(hospiflow.tension.status); never green when unknown",
}
LIMITS = obj(
    {},
    {
        "longest_wait_min": NUM,
        "waiting_per_doctor": NUM,
        "patients_present": {**OPT_NUM, "description": "Observed data: patients present"},
    },
)
SITE = obj(
    {
        "id": INT,
        "name": STR,
        "timezone": STR,
        "code": OPT_STR,
        "capacity_spaces": {**OPT_INT, "description": "Treatment spaces, when declared"},
        "created_at": ISO,
        "run_id": {**OPT_INT, "description": "The run holding its observed visits"},
        "visits": INT,
        "first_arrival": OPT_ISO,
        "last_arrival": OPT_ISO,
        "source": {"type": "string", "const": "observed"},
    }
)
COUNT_OBJ = {"type": "object", "additionalProperties": INT}
# A site fed live (MLLP, REST push): its feed's health, null for imports only
FEED = {
    "anyOf": [
        obj(
            {
                "last_message": ISO,
                "seconds_since_last_message": NUM,
                "stale": BOOL,
                "stale_after_seconds": NUM,
                "messages": INT,
            }
        ),
        {"type": "null"},
    ]
}
OUTLOOK_SERIES = obj(
    {
        "mean": arr(OPT_NUM),
        "low": arr(OPT_NUM, description="Quantile 0.05 (null: no band stored)"),
        "high": arr(OPT_NUM, description="Quantile 0.95"),
    }
)
FEED_TOTALS = {
    "admitted_waiting": {**INT, "description": "Admitted (A01) but still in the department"},
    "longest_admitted_wait_min": OPT_NUM,
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
            "live_error": {**OPT_STR, "description": "Why the live run died (null: none)"},
            "time": ISO,
        }
    ),
    "RunList": obj({"ok": TRUE, "runs": arr(ref("Run"))}),
    "RunDetail": obj({"ok": TRUE, "run": ref("Run")}),
    "Deleted": obj({"ok": TRUE, "deleted": INT}),
    "Accepted": obj({"ok": TRUE, "run_id": INT, "status_url": STR}),
    "NowContext": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "timezone": STR,
            "as_of": {**OPT_ISO, "description": "The instant described (the `now` answer's)"},
            "usual_weeks": {
                **INT,
                "description": "Previous weeks averaged for the usual (0: under a week of data)",
            },
            "figures": {
                "type": "object",
                "description": "Per key figure of `now` (waiting, present, arrivals_last_hour, "
                "...): its value an hour before as_of and its usual for this hour of the week "
                "(null: the data cannot tell)",
                "additionalProperties": obj({"hour_ago": OPT_NUM, "usual": OPT_NUM}),
            },
            "forecast": {
                "anyOf": [
                    obj(
                        {
                            "run_id": {**INT, "description": "The run whose forecast this is"},
                            "generated_at": ISO,
                            "origin": ISO,
                            "last_complete_hour": {
                                **OPT_ISO,
                                "description": "A site's observed data: the start of the "
                                "last complete hour of data the forecast follows (the hours "
                                "are the ones after it, as the Forecast view's red risk); "
                                "null for a simulation, whose Now follows its clock",
                            },
                            "band": arr(NUM, description="The band's quantile levels"),
                            "hours": arr(ISO, description="Starts of the coming hours"),
                            "arrivals": OUTLOOK_SERIES,
                            "present_at": arr(ISO, description="Ends of the coming hours"),
                            "present": OUTLOOK_SERIES,
                        }
                    ),
                    {"type": "null"},
                ]
            },
            "forecast_missing": {
                "type": ["string", "null"],
                "enum": ["none", "stale", None],
                "description": "none: no stored forecast; stale: it no longer covers 4 hours",
            },
        }
    ),
    "NowLongest": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "timezone": STR,
            "as_of": OPT_ISO,
            "present": {**INT, "description": "Patients present at as_of"},
            "patients": arr(
                obj(
                    {
                        "patient_no": {**INT, "description": "Pseudonymous number"},
                        "pathology": OPT_STR,
                        "specialty": OPT_STR,
                        "acuity": {**OPT_INT, "description": "Triage level, when known"},
                        "arrival": ISO,
                        "minutes_present": OPT_NUM,
                    }
                ),
                description="Longest present first",
            ),
        }
    ),
    "Now": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "status": STR,
            "timezone": STR,
            "source": {"type": "string", "enum": ["simulation", "observed"]},
            "as_of": {
                **OPT_ISO,
                "description": "The newest state sample; observed data: the newest arrival "
                "or departure",
            },
            "not_in_data": arr(
                STR,
                description="What the data lack, so the matching figures are null "
                "(observed data: doctors; first_seen when visits have no first-seen time)",
            ),
            "thresholds": obj(
                {
                    "amber": LIMITS,
                    "red": LIMITS,
                    "rule": {**STR, "description": "The saturation rule applied, in words"},
                    "basis": {
                        "type": "string",
                        "enum": ["doctors", "capacity", "census_percentiles", "none"],
                        "description": "doctors: waits and waiting per doctor (simulations); "
                        "capacity: patients present vs the site's treatment spaces (amber 85 %, "
                        "red 100 %); census_percentiles: vs the site's own 90th/97th "
                        "percentiles of hourly census; none: nothing to compare with",
                    },
                }
            ),
            "specialties": arr(obj({"specialty": STR, "name": STR, **SPECIALTY_NOW})),
            "totals": obj(SPECIALTY_NOW, FEED_TOTALS),
            "department_status": NOW_STATUS,
            "recent_arrivals": arr(
                obj({"id": INT, "time": ISO, "pathology": OPT_STR, "specialty": OPT_STR}),
                description="Newest first",
            ),
        },
        {"feed": FEED},
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
                    "treated": OPT_INT,  # null: the data have no first-seen times
                    "left_without_being_seen": INT,
                    "left_without_being_seen_rate": OPT_NUM,
                    "wait_mean_min": OPT_NUM,
                    "los_mean_min": OPT_NUM,
                    "waited_over_60_share": OPT_NUM,
                    "utilisation": OPT_NUM,
                    "waiting_mean": OPT_NUM,
                    # The emergency-department flow (null where the run has no flow data)
                    "within_4h_share": OPT_NUM,
                    "over_12h_share": OPT_NUM,
                    "admissions": INT,
                    "admission_rate": OPT_NUM,
                    "transfers_no_bed": INT,  # transferred after a bed was asked for
                    "boarding_hours": OPT_NUM,
                    "boarding_mean_min": OPT_NUM,
                    "door_to_doctor_mean_min_by_acuity": {
                        "type": ["object", "null"],
                        "additionalProperties": NUM,
                        "description": "Mean door-to-doctor wait (min) by acuity level",
                    },
                    "spaces_in_use_mean": OPT_NUM,
                    "spaces_occupancy": OPT_NUM,
                    "ward_beds_in_use_mean": OPT_NUM,
                    "ward_occupancy": OPT_NUM,
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
    "Census": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "timezone": STR,
            "bucket": {"type": "string", "const": "hour"},
            "start": ISO,
            "end": ISO,
            "buckets": arr(ISO, description="Start of each hour"),
            "values": arr(
                OPT_NUM, description="Mean patients present over the hour (time-weighted)"
            ),
        }
    ),
    "CensusHourOfWeek": obj(
        {
            "ok": TRUE,
            "run_id": INT,
            "start": ISO,
            "end": ISO,
            "values": arr(
                OPT_NUM,
                minItems=168,
                maxItems=168,
                description="Mean patients present per local hour of the week, Monday 00:00 "
                "first (null: the range does not cover it)",
            ),
        }
    ),
    "Site": SITE,
    "SiteList": obj({"ok": TRUE, "sites": arr(ref("Site"))}),
    "SiteDetail": obj({"ok": TRUE, "site": ref("Site")}),
    "SiteQuality": obj(
        {
            "ok": TRUE,
            "site_id": INT,
            "run_id": OPT_INT,
            "visits": INT,
            "quarantined": INT,
            "quarantine_by_reason": arr(obj({"reason": STR, "count": INT})),
            "quarantine_by_day": arr(
                obj({"day": {**STR, "format": "date"}, "reason": STR, "count": INT}),
                description="Local day of the visit, when it could be read",
            ),
            "imports": arr(
                obj(
                    {
                        "id": INT,
                        "format": STR,
                        "files": arr(STR, description="File names only"),
                        "actor": STR,
                        "started_at": ISO,
                        "status": {"type": "string", "enum": ["complete", "failed"]},
                        "summary": {"type": "object", "description": "The ImportSummary"},
                    }
                ),
                description="Newest first",
            ),
            "unmapped_codes": arr(obj({"code": STR, "system": STR, "visits": INT})),
            "completeness": {
                "type": "object",
                "additionalProperties": OPT_NUM,
                "description": "Share of visits holding first_seen, departure, acuity, "
                "disposition, diagnosis, age",
            },
        }
    ),
    "SiteFidelity": obj(
        {
            "ok": TRUE,
            "site_id": INT,
            "fidelity": {
                "oneOf": [
                    obj(
                        {
                            "id": INT,
                            "created_at": ISO,
                            "fitted_before": {**STR, "format": "date"},
                            "holdout_end": {**OPT_STR, "format": "date"},
                            "holdout_weeks": INT,
                            "replications": INT,
                            "passed": BOOL,
                            "criteria": arr(
                                obj(
                                    {
                                        "key": STR,
                                        "name": STR,
                                        "value": NUM,
                                        "target": STR,
                                        "unit": {"type": "string", "enum": ["%", "points"]},
                                        "passed": BOOL,
                                    }
                                ),
                                description="Each criterion of issue 12: value (a share "
                                "for unit %, points for unit points), target, verdict",
                            ),
                            "not_estimated": NOT_ESTIMATED,
                            "series": {
                                "oneOf": [
                                    obj(
                                        {
                                            "census": obj(
                                                {
                                                    "observed": HOURS_OF_WEEK,
                                                    "twin": HOURS_OF_WEEK,
                                                    "low": HOURS_OF_WEEK,
                                                    "high": HOURS_OF_WEEK,
                                                    "coverage": {
                                                        **NUM,
                                                        "description": "Probability that one "
                                                        "more realisation of the twin falls "
                                                        "in [low, high]",
                                                    },
                                                }
                                            ),
                                            "arrivals": obj(
                                                {"observed": HOURS_OF_WEEK, "twin": HOURS_OF_WEEK}
                                            ),
                                        }
                                    ),
                                    {"type": "null"},
                                ],
                                "description": "Held-out weeks' census and arrivals by hour of "
                                "week beside the replications' mean and the census prediction "
                                "band; null for validations stored before it",
                            },
                        }
                    ),
                    {"type": "null"},
                ],
                "description": "The site's newest validation (hospiflow calibrate --validate); "
                "null before any",
            },
        }
    ),
    "SiteCalibration": obj(
        {
            "ok": TRUE,
            "site_id": INT,
            "calibration": {
                "oneOf": [
                    obj(
                        {
                            "id": INT,
                            "kind": {"type": "string", "enum": ["fit", "validation"]},
                            "created_at": ISO,
                            "fitted_from": {**OPT_STR, "format": "date"},
                            "fitted_before": {**STR, "format": "date"},
                            "not_estimated": NOT_ESTIMATED,
                            "plots": {
                                "oneOf": [
                                    obj(
                                        {
                                            "arrivals": obj(
                                                {"observed": HOURS_OF_WEEK, "fitted": HOURS_OF_WEEK}
                                            ),
                                            "care_time": obj(
                                                {
                                                    "family": {
                                                        "type": "string",
                                                        "enum": [
                                                            "exponential",
                                                            "lognormal",
                                                            "gamma",
                                                        ],
                                                    },
                                                    "cv": NUM,
                                                    "pathologies": arr(
                                                        obj(
                                                            {
                                                                "pathology": STR,
                                                                "n": INT,
                                                                "observed_p50": NUM,
                                                                "observed_p90": NUM,
                                                                "twin_p50": NUM,
                                                                "twin_p90": NUM,
                                                            }
                                                        ),
                                                        description="Minutes; most visits first",
                                                    ),
                                                }
                                            ),
                                        }
                                    ),
                                    {"type": "null"},
                                ],
                                "description": "The fit beside the data; null for fits stored "
                                "before it",
                            },
                        }
                    ),
                    {"type": "null"},
                ],
                "description": "The site's newest fit (hospiflow calibrate); null before any",
            },
        }
    ),
    "Quarantine": obj(
        {
            "ok": TRUE,
            "site_id": INT,
            "items": arr(
                obj(
                    {
                        "id": INT,
                        "batch_id": INT,
                        "location": {**STR, "description": "file:line or file:record N"},
                        "field": OPT_STR,
                        "reason": STR,
                        "message": STR,
                        "raw": {**STR, "description": "The row, identifiers redacted"},
                    }
                )
            ),
            "next": {**OPT_STR, "description": "Cursor of the next page, null at the end"},
        }
    ),
    "ImportSummary": obj(
        {
            "site": STR,
            "format": STR,
            "files": arr(STR),
            "actor": STR,
            "batch_id": OPT_INT,
            "run_id": OPT_INT,
            "status": STR,
            "read": INT,
            "imported": INT,
            "updated": INT,
            "duplicates": INT,
            "quarantined": INT,
            "hours": {**INT, "description": "Hourly counts read (forecast-only sites)"},
            "by_reason": COUNT_OBJ,
            "unmapped_codes": COUNT_OBJ,
            "mapped_by": COUNT_OBJ,
            "first_arrival": OPT_ISO,
            "last_arrival": OPT_ISO,
            "seconds": NUM,
            "error": OPT_STR,
        }
    ),
    "ImportResult": obj({"ok": TRUE, "import": ref("ImportSummary")}),
    "Audit": obj(
        {
            "ok": TRUE,
            "entries": arr(
                obj(
                    {
                        "id": INT,
                        "at": ISO,
                        "actor": {**STR, "description": "The token's name"},
                        "action": STR,
                        "target": STR,
                        "rows": INT,
                        "details": {"type": "object"},
                    }
                )
            ),
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
