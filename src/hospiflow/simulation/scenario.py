"""The scenario: every parameter of a simulated hospital, validated and immutable.

A scenario is read from and written to a documented TOML file
(``hospiflow scenario show > my.toml``; ``hospiflow simulate --scenario my.toml``).
Three scenarios ship with the package: ``default`` (a believable emergency
department: daily and weekly cycles, seasonal pathology mix, day and night
shifts, and the patient flow of triage, treatment spaces, diagnostics, wards
and boarding, calibrated to published ranges; also named ``emergency``),
``plain`` (the same hospital without the flow: the plain queueing model) and
``stationary`` (flat profiles, no seasonality, doctors around the clock, one
exponential service per specialty: an exact M/M/c per specialty, the one the
simulator is checked against Erlang C with).

Profiles are relative shapes: they are rescaled to average 1, so
``arrival_rate_per_hour`` stays the mean rate over a week (and a year).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hospiflow.catalog.models import Catalog
from hospiflow.errors import ScenarioError
from hospiflow.simulation import limits
from hospiflow.simulation.flowconfig import FlowConfig, flow_from_dict, flow_to_toml, validate_flow

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROUTING_POLICIES = ("pooled", "shortest-queue", "random")
TREATMENT_DISTRIBUTIONS = ("exponential", "fixed", "lognormal", "gamma")
BUILTIN_SCENARIOS = ("default", "plain", "stationary", "emergency")
_ALIASES = {"emergency": "default"}  # the default hospital has the flow since issue 11
BUILTIN_CATALOGS = ("default", "validation")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class Shift:
    """A block of doctors of one specialty working the same hours.

    ``start``/``end`` are local wall-clock times ``HH:MM``; an ``end`` at or
    before ``start`` crosses midnight (``00:00``-``00:00`` is 24 hours).
    ``days`` are the weekdays on which the shift *starts*.
    """

    specialty: str
    start: str
    end: str
    doctors: int
    days: tuple[str, ...] = WEEKDAYS
    label: str = ""

    @property
    def start_minute(self) -> int:
        hours, minutes = self.start.split(":")
        return int(hours) * 60 + int(minutes)

    @property
    def length_minutes(self) -> int:
        hours, minutes = self.end.split(":")
        end = int(hours) * 60 + int(minutes)
        length = (end - self.start_minute) % 1440
        return length or 1440

    @property
    def name(self) -> str:
        return self.label or f"{self.start}-{self.end}"


@dataclass(frozen=True)
class Scenario:
    """Every parameter of one simulated hospital run. Validated on construction."""

    name: str = "custom"
    catalog: str = "default"
    start_date: date = date(2025, 1, 1)
    timezone: str = "Europe/Paris"
    days: float = 365.0
    warmup_days: float = 7.0
    seed: int | None = 7
    snapshot_step_minutes: float = 60.0
    arrival_rate_per_hour: float = 12.5
    hourly_profile: tuple[float, ...] = (1.0,) * 24
    weekday_profile: tuple[float, ...] = (1.0,) * 7
    monthly_profile: tuple[float, ...] = (1.0,) * 12
    pathology_seasonality: bool = True
    treatment_distribution: str = "exponential"
    treatment_cv: float = 1.0  # coefficient of variation of lognormal and gamma treatments
    routing: str = "pooled"
    abandonment: bool = False
    mean_patience_minutes: float = 240.0
    shifts: tuple[Shift, ...] = field(default_factory=tuple)
    flow: FlowConfig = field(default_factory=FlowConfig)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def flow_active(self) -> bool:
        """The patient flow runs: enabled, with pooled doctors (per-doctor queues are the
        plain queueing model's layout: ``shortest-queue`` and ``random`` run without it)."""
        return self.flow.enabled and self.routing == "pooled"

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some parameters changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def start_local(self) -> datetime:
        """The start of the reported period: local midnight of ``start_date``."""
        return datetime.combine(self.start_date, datetime.min.time(), ZoneInfo(self.timezone))

    @property
    def end_local(self) -> datetime:
        """The end of the reported period, counted in local days.

        Whole days end at local midnight, so a period crossing a daylight-saving
        change is 23 or 25 hours longer or shorter; a fraction of a day adds
        that many wall-clock hours.
        """
        whole = math.floor(self.days)
        midnight = datetime.combine(
            self.start_date + timedelta(days=whole), datetime.min.time(), ZoneInfo(self.timezone)
        )
        return midnight + timedelta(hours=(self.days - whole) * 24)

    @property
    def horizon_hours(self) -> int:
        """Hours from the start to the end of the reported period (whole hours)."""
        seconds = (
            self.end_local.astimezone(UTC) - self.start_local.astimezone(UTC)
        ).total_seconds()
        return math.ceil(seconds / 3600 - 1e-9)

    def load_catalog(self) -> Catalog:
        """The catalog this scenario refers to (built-in name or file path)."""
        from hospiflow.catalog.loader import load_catalog

        if self.catalog in BUILTIN_CATALOGS:
            if self.catalog == "default":
                return load_catalog(None)
            with resources.as_file(
                resources.files("hospiflow.catalog") / f"{self.catalog}.toml"
            ) as path:
                return load_catalog(path)
        return load_catalog(self.catalog)

    def doctors_per_specialty(self) -> dict[str, int]:
        """Most doctors ever on duty at once is hard to read; this is the roster's headcount."""
        counts: dict[str, int] = {}
        for shift in self.shifts:
            counts[shift.specialty] = counts.get(shift.specialty, 0) + shift.doctors
        return counts


def _fail(parameter: str, message: str, value: Any) -> ScenarioError:
    return ScenarioError(f"{message}, got {value!r}", where=parameter, value=value)


def _check_profile(name: str, values: tuple[float, ...], length: int) -> None:
    if len(values) != length:
        raise ScenarioError(
            f"has {len(values)} values, expected {length}", where=name, value=values
        )
    for i, v in enumerate(values):
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise _fail(f"{name}[{i}]", "must be a finite number ≥ 0", v)
    if sum(values) <= 0:
        raise _fail(name, "must have at least one positive value", values)


def _validate(s: Scenario) -> None:
    """Refuse every impossible value with a message naming the parameter and the value."""
    if not isinstance(s.name, str) or not s.name:
        raise _fail("name", "must be a non-empty string", s.name)
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _fail(
            "timezone", "must be an IANA time zone such as 'Europe/Paris'", s.timezone
        ) from None
    if not isinstance(s.start_date, date) or isinstance(s.start_date, datetime):
        raise _fail("start_date", "must be a date (YYYY-MM-DD)", s.start_date)
    for name, value, low in (
        ("days", s.days, 0.0),
        ("warmup_days", s.warmup_days, 0.0),
        ("arrival_rate_per_hour", s.arrival_rate_per_hour, 0.0),
    ):
        if not _is_number(value) or not math.isfinite(value) or value < low:
            raise _fail(name, f"must be a finite number ≥ {low:g}", value)
    if s.days > 366 * 50:
        raise _fail("days", "must be at most 50 years", s.days)
    if not _is_number(s.snapshot_step_minutes) or not 1 <= s.snapshot_step_minutes <= 1440:
        raise _fail("snapshot_step_minutes", "must be between 1 and 1440", s.snapshot_step_minutes)
    if s.seed is not None and (
        not isinstance(s.seed, int) or isinstance(s.seed, bool) or s.seed < 0
    ):
        raise _fail("seed", "must be a whole number ≥ 0", s.seed)
    _check_profile("hourly_profile", s.hourly_profile, 24)
    _check_profile("weekday_profile", s.weekday_profile, 7)
    _check_profile("monthly_profile", s.monthly_profile, 12)
    if s.routing not in ROUTING_POLICIES:
        raise _fail("routing", f"must be one of {', '.join(ROUTING_POLICIES)}", s.routing)
    if s.treatment_distribution not in TREATMENT_DISTRIBUTIONS:
        raise _fail(
            "treatment_distribution",
            f"must be one of {', '.join(TREATMENT_DISTRIBUTIONS)}",
            s.treatment_distribution,
        )
    if not _is_number(s.treatment_cv) or not (math.isfinite(s.treatment_cv) and s.treatment_cv > 0):
        raise _fail("treatment_cv", "must be a finite number > 0", s.treatment_cv)
    if not isinstance(s.flow, FlowConfig):
        raise _fail("flow", "must be a [flow] table", s.flow)
    if not _is_number(s.mean_patience_minutes) or not (
        math.isfinite(s.mean_patience_minutes) and s.mean_patience_minutes > 0
    ):
        raise _fail("mean_patience_minutes", "must be a finite number > 0", s.mean_patience_minutes)
    for i, shift in enumerate(s.shifts):
        validate_shift(f"shifts[{i}]", shift)
    if s.catalog not in BUILTIN_CATALOGS and not Path(s.catalog).is_file():
        raise _fail(
            "catalog",
            f"must be a built-in catalog ({', '.join(BUILTIN_CATALOGS)}) or an existing file",
            s.catalog,
        )
    _check_coverage(s)
    limits.check(s)  # the work budget (simulation.limits)


def validate_shift(where: str, shift: Shift) -> None:
    """A shift's own fields (specialty named, HH:MM times, doctors ≥ 0, weekdays)."""
    if not isinstance(shift.specialty, str) or not shift.specialty:
        raise _fail(f"{where}.specialty", "must be a specialty code", shift.specialty)
    for key in ("start", "end"):
        value = getattr(shift, key)
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise _fail(f"{where}.{key}", "must be a time HH:MM", value)
    if not isinstance(shift.doctors, int) or isinstance(shift.doctors, bool) or shift.doctors < 0:
        raise _fail(f"{where}.doctors", "must be a whole number ≥ 0", shift.doctors)
    if not shift.days:
        raise _fail(f"{where}.days", "must name at least one weekday", shift.days)
    for day in shift.days:
        if day not in WEEKDAYS:
            raise _fail(f"{where}.days", f"must be weekdays among {', '.join(WEEKDAYS)}", day)


def _check_coverage(s: Scenario) -> None:
    """Every specialty that receives patients needs a doctor on duty at some time."""
    catalog = s.load_catalog()
    known = set(catalog.specialty_codes)
    validate_flow(s.flow, catalog.specialty_codes, catalog.pathology_codes)
    for i, shift in enumerate(s.shifts):
        if shift.specialty not in known:
            raise _fail(
                f"shifts[{i}].specialty",
                f"is not a specialty of catalog '{s.catalog}' ({', '.join(sorted(known))})",
                shift.specialty,
            )
    if s.arrival_rate_per_hour == 0:
        return
    staffed = {shift.specialty for shift in s.shifts if shift.doctors > 0}
    weights = catalog.monthly_weights(s.pathology_seasonality)
    for j, pathology in enumerate(catalog.pathologies):
        if weights[:, j].max() > 0 and pathology.specialty not in staffed:
            raise ScenarioError(
                f"pathology '{pathology.code}' needs specialty '{pathology.specialty}', "
                "which has no doctor ever on duty",
                where="shifts",
                value=pathology.specialty,
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------- TOML


_SECTIONS: dict[str, dict[str, str]] = {
    "": {"name": "name", "catalog": "catalog"},
    "time": {
        "start_date": "start_date",
        "timezone": "timezone",
        "days": "days",
        "warmup_days": "warmup_days",
        "seed": "seed",
        "snapshot_step_minutes": "snapshot_step_minutes",
    },
    "arrivals": {
        "rate_per_hour": "arrival_rate_per_hour",
        "hourly_profile": "hourly_profile",
        "weekday_profile": "weekday_profile",
        "monthly_profile": "monthly_profile",
        "pathology_seasonality": "pathology_seasonality",
    },
    "treatment": {"distribution": "treatment_distribution", "cv": "treatment_cv"},
    "routing": {"policy": "routing"},
    "abandonment": {"enabled": "abandonment", "mean_patience_minutes": "mean_patience_minutes"},
}
_SHIFT_KEYS = {"specialty", "start", "end", "doctors", "days", "label"}


def load_scenario(source: str | Path) -> Scenario:
    """A scenario from a built-in name (``BUILTIN_SCENARIOS``) or a TOML file."""
    if str(source) in BUILTIN_SCENARIOS:
        name = _ALIASES.get(str(source), str(source))
        text = (resources.files("hospiflow.simulation") / "scenarios" / f"{name}.toml").read_text(
            encoding="utf-8"
        )
        return scenario_from_toml(text, where=f"<built-in {source}>")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(
            f"cannot read scenario file: {error.strerror}", where=str(path)
        ) from None
    return scenario_from_toml(text, where=str(path), base_dir=path.parent)


def default_scenario(**changes: Any) -> Scenario:
    """The built-in default hospital (with the patient flow), with optional changes."""
    scenario = load_scenario("default")
    return scenario.replace(**changes) if changes else scenario


def plain_scenario(**changes: Any) -> Scenario:
    """The built-in plain queueing hospital (the default without the flow), with changes."""
    scenario = load_scenario("plain")
    return scenario.replace(**changes) if changes else scenario


def stationary_scenario(**changes: Any) -> Scenario:
    """The built-in stationary M/M/c validation scenario, with optional changes."""
    scenario = load_scenario("stationary")
    return scenario.replace(**changes) if changes else scenario


def scenario_from_toml(
    text: str, where: str = "<scenario>", base_dir: Path | None = None
) -> Scenario:
    """Parse and validate scenario TOML; errors name the file, the section and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"invalid TOML: {error}", where=where) from None
    return scenario_from_dict(data, where=where, base_dir=base_dir)


def scenario_from_dict(
    data: dict[str, Any], where: str = "<scenario>", base_dir: Path | None = None
) -> Scenario:
    """Build a scenario from the TOML structure (also the API's JSON body)."""
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "shifts":
            continue
        if key == "flow":
            try:
                kwargs["flow"] = flow_from_dict(value)
            except ScenarioError as error:
                raise _wrap(where, error) from None
            continue
        if key in _SECTIONS[""]:
            kwargs[_SECTIONS[""][key]] = value
        elif key in _SECTIONS and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                if sub_key not in _SECTIONS[key]:
                    raise ScenarioError(
                        f"unknown key '{sub_key}' in [{key}] (known: {', '.join(_SECTIONS[key])})",
                        where=where,
                    )
                kwargs[_SECTIONS[key][sub_key]] = sub_value
        else:
            known = [k for k in _SECTIONS if k] + list(_SECTIONS[""]) + ["shifts", "flow"]
            raise ScenarioError(f"unknown key '{key}' (known: {', '.join(known)})", where=where)
    shifts = []
    raw_shifts = data.get("shifts", [])
    if not isinstance(raw_shifts, list):
        raise ScenarioError("shifts must be a list of [[shifts]] tables", where=where)
    for i, raw in enumerate(raw_shifts):
        if not isinstance(raw, dict):
            raise ScenarioError(f"shifts[{i}] must be a table", where=where)
        unknown = set(raw) - _SHIFT_KEYS
        if unknown:
            raise ScenarioError(
                f"shifts[{i}]: unknown key '{sorted(unknown)[0]}' "
                f"(known: {', '.join(sorted(_SHIFT_KEYS))})",
                where=where,
            )
        missing = {"specialty", "start", "end", "doctors"} - set(raw)
        if missing:
            raise ScenarioError(f"shifts[{i}]: missing key '{sorted(missing)[0]}'", where=where)
        days = raw.get("days", list(WEEKDAYS))
        shifts.append(
            Shift(
                specialty=raw["specialty"],
                start=raw["start"],
                end=raw["end"],
                doctors=raw["doctors"],
                days=tuple(days) if isinstance(days, list) else days,
                label=raw.get("label", ""),
            )
        )
    kwargs["shifts"] = tuple(shifts)
    for key in ("hourly_profile", "weekday_profile", "monthly_profile"):
        if key in kwargs:
            if not isinstance(kwargs[key], list):
                raise _wrap(where, _fail(key, "must be a list of numbers", kwargs[key]))
            kwargs[key] = tuple(kwargs[key])
    if "start_date" in kwargs:
        kwargs["start_date"] = _parse_date(kwargs["start_date"], where)
    if kwargs.get("seed") == "random":
        kwargs["seed"] = None
    catalog = kwargs.get("catalog")
    if isinstance(catalog, str) and catalog not in BUILTIN_CATALOGS and base_dir is not None:
        candidate = base_dir / catalog
        if candidate.is_file():
            kwargs["catalog"] = str(candidate)
    for key in (
        "days",
        "warmup_days",
        "arrival_rate_per_hour",
        "snapshot_step_minutes",
        "treatment_cv",
    ):
        if key in kwargs and _is_number(kwargs[key]):
            kwargs[key] = float(kwargs[key])
    try:
        return Scenario(**kwargs)
    except ScenarioError as error:
        raise _wrap(where, error) from None
    except TypeError as error:
        raise ScenarioError(str(error), where=where) from None


_TOML_NAMES = {
    attribute: f"[{section}] {key}" if section else key
    for section, keys in _SECTIONS.items()
    for key, attribute in keys.items()
}


def _wrap(where: str, error: ScenarioError) -> ScenarioError:
    """The error prefixed with the file, naming the TOML key the user wrote."""
    parameter = error.where or ""
    base = re.split(r"[.\[]", parameter, maxsplit=1)[0]
    if base in _TOML_NAMES:
        parameter = _TOML_NAMES[base] + parameter[len(base) :]
    message = f"{parameter}: {error.message}" if parameter else error.message
    return ScenarioError(message, where=where, **error.details)


def _parse_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _wrap(where, _fail("start_date", "must be a date (YYYY-MM-DD)", value))


def _number(value: float) -> str:
    """The shortest text that reads back as exactly ``value``."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _text(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


def _toml_list(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(_number(v) for v in values) + "]"


def scenario_to_toml(s: Scenario) -> str:
    """The scenario as a documented TOML file that ``load_scenario`` reads back."""
    seed = [
        '# same seed, same results (byte-identical reports); "random": a new draw each run',
        f"seed = {_text('random') if s.seed is None else s.seed}",
    ]
    lines = [
        "# hospiflow scenario: every parameter of one simulated hospital.",
        "# Edit it and run: hospiflow simulate --scenario this-file.toml",
        "",
        f"name = {_text(s.name)}",
        '# built-in "default" or "validation", or the path of your own catalog TOML',
        f"catalog = {_text(s.catalog)}",
        "",
        "[time]",
        "# first reported day (from local midnight) and the hospital's IANA time zone:",
        "# shifts and profiles follow local wall-clock time",
        f'start_date = "{s.start_date.isoformat()}"',
        f'timezone = "{s.timezone}"',
        "# length of the reported period",
        f"days = {_number(s.days)}",
        "# simulated before start_date and not reported (starting empty under-states waits)",
        f"warmup_days = {_number(s.warmup_days)}",
        *seed,
        "# state is sampled every step (1 minute in live mode)",
        f"snapshot_step_minutes = {_number(s.snapshot_step_minutes)}",
        "",
        "[arrivals]",
        "# Poisson arrivals at rate_per_hour x hourly[hour] x weekday[day] x monthly[month];",
        "# profiles are relative shapes, rescaled to average 1.",
        f"rate_per_hour = {_number(s.arrival_rate_per_hour)}",
        "# 00:00 .. 23:00",
        f"hourly_profile = {_toml_list(s.hourly_profile)}",
        "# Monday .. Sunday",
        f"weekday_profile = {_toml_list(s.weekday_profile)}",
        "# January .. December",
        f"monthly_profile = {_toml_list(s.monthly_profile)}",
        "# the catalog's monthly factors shape the pathology mix",
        f"pathology_seasonality = {str(s.pathology_seasonality).lower()}",
        "",
        "[treatment]",
        '# "exponential" (mean per pathology), "fixed" (exactly the mean), "lognormal" or',
        '# "gamma" (mean per pathology, coefficient of variation cv)',
        f'distribution = "{s.treatment_distribution}"',
        f"cv = {_number(s.treatment_cv)}",
        "",
        "[routing]",
        '# "pooled" (one queue per specialty), "shortest-queue" or "random" (a queue per doctor;',
        "# these two are layouts of the plain queueing model: [flow] is not applied with them)",
        f'policy = "{s.routing}"',
        "",
        "[abandonment]",
        "# patients may leave without being seen after an exponential patience",
        f"enabled = {str(s.abandonment).lower()}",
        f"mean_patience_minutes = {_number(s.mean_patience_minutes)}",
        "",
        "# Doctors: each [[shifts]] block is `doctors` doctors of one specialty working",
        "# start..end (local time; an end at or before start crosses midnight) on `days`.",
        "# A doctor on duty at the end of a shift finishes the current patient.",
    ]
    for shift in s.shifts:
        days = ", ".join(f'"{d}"' for d in shift.days)
        lines += [
            "",
            "[[shifts]]",
            f"specialty = {_text(shift.specialty)}",
            f'start = "{shift.start}"',
            f'end = "{shift.end}"',
            f"doctors = {shift.doctors}",
            f"days = [{days}]",
        ]
        if shift.label:
            lines.append(f"label = {_text(shift.label)}")
    lines += flow_to_toml(s.flow)
    return "\n".join(lines) + "\n"


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """The scenario as the nested structure of its TOML file (stored with each run)."""
    return tomllib.loads(scenario_to_toml(s))
