"""What the API accepts: query parameters and request bodies (marshmallow).

Every query schema rejects unknown parameters (``unknown=RAISE`` at the
view) so a typo such as ``?buckt=day`` is a 400, never silently ignored.
Cross-field rules (range length, page size vs. the configured maximum, a
timestamp's syntax) are checked in the views, where the run's time zone and
the app's settings are known.
"""

from __future__ import annotations

from apiflask import Schema, fields, validators

from hospiflow.simulation.scenario import (
    BUILTIN_CATALOGS,
    ROUTING_POLICIES,
    TREATMENT_DISTRIBUTIONS,
    WEEKDAYS,
)
from hospiflow.store.queries import MAX_PAGE
from hospiflow.store.schema import RUN_KINDS, RUN_STATUSES

BUCKETS = ("hour", "day", "week", "month")
BIGINT = 2**63 - 1

_START = "Start of the range (inclusive): ISO 8601 date (local midnight) or date-time; "
_START += "without an offset it is the hospital's wall-clock time. Default: the run's start."
_END = "End of the range (exclusive), same syntax. Default: the run's data end (now, for a "
_END += "running or live run)."


def _start() -> fields.String:
    return fields.String(metadata={"description": _START, "example": "2025-03-01"})


def _end() -> fields.String:
    return fields.String(metadata={"description": _END, "example": "2025-03-08"})


def _bucket(default: str, allowed: tuple[str, ...] = BUCKETS) -> fields.String:
    return fields.String(
        load_default=default,
        validate=validators.OneOf(allowed),
        metadata={
            "description": "Calendar bucket in the hospital's local time (weeks start Monday)."
        },
    )


def _by(default: str, allowed: tuple[str, ...]) -> fields.String:
    return fields.String(
        load_default=default,
        validate=validators.OneOf(allowed),
        metadata={"description": "Split the series by this key ('none': one total series)."},
    )


SOURCES = ("simulation", "observed")


class RunsQuery(Schema):
    status = fields.String(validate=validators.OneOf(RUN_STATUSES))
    kind = fields.String(validate=validators.OneOf(RUN_KINDS))
    source = fields.String(
        validate=validators.OneOf(SOURCES),
        metadata={"description": "Simulated runs, or sites' observed (imported) visits."},
    )


class LongestQuery(Schema):
    limit = fields.Integer(
        load_default=10,
        validate=validators.Range(min=1, max=50),
        metadata={"description": "How many patients (1-50), longest present first."},
    )


class RangeQuery(Schema):
    start = _start()
    end = _end()


class ArrivalsQuery(RangeQuery):
    bucket = _bucket("day")
    by = _by("none", ("none", "specialty", "pathology"))


class HourOfWeekQuery(RangeQuery):
    by = _by("none", ("none", "specialty", "pathology"))


class CensusQuery(RangeQuery):
    bucket = _bucket("hour", ("hour",))


class AvailabilityQuery(RangeQuery):
    bucket = _bucket("hour")
    by = _by("specialty", ("none", "specialty"))


class WaitsQuery(RangeQuery):
    bucket = _bucket("none", ("none", *BUCKETS))
    by = _by("none", ("none", "specialty", "pathology"))
    target_minutes = fields.Float(
        load_default=60.0,
        validate=validators.Range(min=0, max=10_080),
        metadata={"description": "Door-to-doctor target: the share seen within it is reported."},
    )


class PageQuery(RangeQuery):
    specialty = fields.String(
        validate=validators.Length(min=1, max=100),
        metadata={"description": "Specialty code (see /runs/{run_id}/catalog)."},
    )
    limit = fields.Integer(
        load_default=100,
        validate=validators.Range(min=1, max=MAX_PAGE),
        metadata={"description": "Page size (at most MAX_PAGE_SIZE)."},
    )
    cursor = fields.String(
        validate=validators.Length(min=1, max=200),
        metadata={"description": "The `next` value of the previous page (opaque)."},
    )
    format = fields.String(
        load_default="json",
        validate=validators.OneOf(("json", "csv")),
        metadata={"description": "'csv' streams every matching row (from `cursor`) as CSV."},
    )


def _kind() -> fields.String:
    return fields.String(
        validate=validators.Length(min=1, max=200),
        metadata={
            "description": "Comma-separated event kinds: arrival, assignment, treatment_start, "
            "treatment_end, departure, abandonment, shift_start, shift_end.",
            "example": "arrival,departure",
        },
    )


class EventsQuery(PageQuery):
    kind = _kind()


class StreamQuery(Schema):
    access_token = fields.String(
        validate=validators.Length(min=1, max=200),
        metadata={
            "description": "The bearer token, for clients that cannot send an Authorization "
            "header (a browser's EventSource); needed only when reads need a token."
        },
    )
    last_event_id = fields.Integer(
        validate=validators.Range(min=0, max=BIGINT),
        metadata={
            "description": "Resume after this event id (the `Last-Event-ID` header wins). "
            "Without either, the stream starts with the next new event."
        },
    )
    kind = _kind()


# -- the what-if body: the scenario TOML structure, every key optional --------------


class TimeChanges(Schema):
    start_date = fields.String(metadata={"example": "2025-01-01"})
    timezone = fields.String()
    days = fields.Float(metadata={"example": 30})
    warmup_days = fields.Float()
    seed = fields.Integer(allow_none=True)
    snapshot_step_minutes = fields.Float()


class ArrivalChanges(Schema):
    rate_per_hour = fields.Float(metadata={"example": 14})
    hourly_profile = fields.List(fields.Float())
    weekday_profile = fields.List(fields.Float())
    monthly_profile = fields.List(fields.Float())
    pathology_seasonality = fields.Boolean()


class TreatmentChanges(Schema):
    distribution = fields.String(metadata={"enum": list(TREATMENT_DISTRIBUTIONS)})


class RoutingChanges(Schema):
    policy = fields.String(metadata={"enum": list(ROUTING_POLICIES)})


class AbandonmentChanges(Schema):
    enabled = fields.Boolean()
    mean_patience_minutes = fields.Float()


class ShiftChange(Schema):
    specialty = fields.String(required=True, metadata={"example": "cardiology"})
    start = fields.String(required=True, metadata={"example": "08:00"})
    end = fields.String(required=True, metadata={"example": "20:00"})
    doctors = fields.Integer(required=True, metadata={"example": 3})
    days = fields.List(fields.String(), metadata={"description": f"Among {', '.join(WEEKDAYS)}."})
    label = fields.String()


class ScenarioChanges(Schema):
    name = fields.String()
    catalog = fields.String(metadata={"enum": list(BUILTIN_CATALOGS)})
    time = fields.Nested(TimeChanges)
    arrivals = fields.Nested(ArrivalChanges)
    treatment = fields.Nested(TreatmentChanges)
    routing = fields.Nested(RoutingChanges)
    abandonment = fields.Nested(AbandonmentChanges)
    shifts = fields.List(
        fields.Nested(ShiftChange),
        metadata={"description": "Replaces the whole roster of the base scenario."},
    )


class SimulationRequest(Schema):
    base = fields.String(
        load_default="default",
        validate=validators.OneOf(("default", "plain", "stationary")),
        metadata={"description": "The built-in scenario the changes apply to."},
    )
    label = fields.String(
        load_default="", validate=validators.Length(max=200), metadata={"example": "14 patients/h"}
    )
    changes = fields.Nested(
        ScenarioChanges,
        load_default=dict,
        metadata={"description": "Parameters to change, in the scenario file's structure."},
    )
