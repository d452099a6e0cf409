"""The patient flow of a scenario: triage, treatment spaces, diagnostics, dispositions, wards.

Switched off (``enabled = false``), a scenario is the plain queueing model it
always was: a patient waits for a doctor of the pathology's specialty, is
treated and leaves (the M/M/c validation runs use that). Switched on, a
patient is triaged (an acuity level on the site's scale), waits for a
treatment space of their area, then for a doctor (most urgent first, then
first come: non-preemptive priority), may wait for diagnostics (holding the
space, not the doctor) and be reassessed, and leaves discharged, transferred,
dead or admitted; an admitted patient needs a ward bed and *boards* in the
space until one frees. A boarder still waiting when ``max_boarding_hours``
runs out (per ward, else the flow's; 0: no limit) is transferred to another
hospital, as real departments do rather than keep a patient on a trolley for
days. A patient still unseen when their patience runs out leaves without
being seen.

Two layouts of doctors. By default each pathology's patients are seen by the
doctors of its specialty (their own queue). With ``shared_physicians`` naming a
specialty, that specialty's doctors are the *emergency physicians*: a pool that
sees every patient first, whatever the pathology (the common layout of real
departments), and a share of each pathology's patients (``consult``) then
needs a consult by a doctor of the pathology's specialty (the specialists'
own queue, most urgent first), after the diagnostics and reassessment.

Per-pathology values (``[flow.pathologies.<code>]``, where ``<code>`` is a
pathology or a specialty of the catalog) override the ``[flow]`` defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hospiflow.errors import ScenarioError

TRIAGE_SCALES = ("CCMU", "ESI", "MTS")
LEVELS = 5
OVERFLOW_POLICIES = ("board", "transfer")
MAX_CAPACITY = 100_000  # spaces of an area, beds of a ward: keeps the work finite (limits.py)
MAX_BOARDING_DAYS = 3_660  # ten years of observed days
# keys a per-pathology table may override
PATHOLOGY_KEYS = (
    "acuity_mix",
    "age_mix",
    "diagnostics_share",
    "admission",
    "transfer",
    "death",
    "consult",
)


def priority_of_level(scale: str, level: int) -> int:
    """Rank 0 = most urgent. ESI and MTS put the most urgent at level 1, CCMU at level 5."""
    return LEVELS - level if scale == "CCMU" else level - 1


@dataclass(frozen=True)
class Area:
    """Treatment spaces (boxes, cubicles) taking patients of some acuity levels."""

    name: str
    spaces: int  # 0: unlimited
    levels: tuple[int, ...] = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Ward:
    """Inpatient beds taking the admitted patients of some specialties."""

    name: str
    beds: int
    mean_stay_days: float
    specialties: tuple[str, ...]
    stay_cv: float = 1.0  # lognormal coefficient of variation; 1 with exponential
    stay_distribution: str = "lognormal"  # or "exponential"
    overflow: str = "board"  # "board": wait in the ED; "transfer": lost (Erlang B)
    occupancy_at_start: float = 0.85
    discharge_by_profile: bool = True  # discharges at the hours of ward_discharge_profile
    # hours a boarder waits for a bed of this ward before being transferred elsewhere;
    # None: the flow's max_boarding_hours; 0: no limit
    max_boarding_hours: float | None = None


@dataclass(frozen=True)
class PathologyFlow:
    """Overrides of the flow's defaults for one pathology or specialty (None: the default)."""

    acuity_mix: tuple[float, ...] | None = None
    age_mix: tuple[float, ...] | None = None
    diagnostics_share: float | None = None
    admission: float | None = None
    transfer: float | None = None
    death: float | None = None
    consult: float | None = None


@dataclass(frozen=True)
class FlowConfig:
    """Every parameter of the patient flow (see the module docstring)."""

    enabled: bool = False
    triage_scale: str = "CCMU"
    acuity_mix: tuple[float, ...] = (0.0, 0.0, 1.0, 0.0, 0.0)
    triage_minutes: float = 0.0  # mean triage (lognormal, cv triage_cv) before seeking a space
    triage_cv: float = 0.5  # a calibrated site's: its door-to-doctor wait's, within an hour
    patience_minutes: tuple[float, ...] = (0.0,) * LEVELS  # 0: never leaves unseen
    diagnostics_share: float = 0.0
    diagnostics_mean_minutes: float = 90.0
    diagnostics_cv: float = 0.6
    reassessment_minutes: float = 10.0
    admission: float = 0.0
    transfer: float = 0.0
    death: float = 0.0
    age_bands: tuple[int, ...] = (0, 15, 45, 75)  # lower bounds; the last band ends at 100
    age_mix: tuple[float, ...] = (0.2, 0.4, 0.25, 0.15)
    admission_age_factor: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    ward_discharge_profile: tuple[float, ...] = (1.0,) * 24
    # admitted patients of a specialty without a ward: mean minutes boarding (lognormal,
    # boarding_cv) before they leave for a bed; 0: they leave at once. A calibrated site
    # whose ward beds are not in its data gets its observed boarding time here.
    boarding_minutes: float = 0.0
    boarding_cv: float = 1.0
    # factor on boarding_minutes by the local hour the bed is asked for (00..23): a bed
    # asked for at night waits for the morning's ward discharges
    boarding_profile: tuple[float, ...] = (1.0,) * 24
    # exit block comes in episodes of days to weeks: a factor on boarding_minutes by local
    # day of the bed request (mean 1, a site's observed days), redrawn for every run as
    # circular blocks of boarding_block_days consecutive days; (): the same every day
    boarding_days: tuple[float, ...] = ()
    boarding_block_days: int = 7
    # the door-to-doctor wait's factor by local day of arrival over the same days as
    # boarding_days (mean 1), redrawn with the same blocks and windows: a day of exit block
    # is a day of crowding for everyone; (): the same every day
    triage_days: tuple[float, ...] = ()
    # exit block's level drifts over weeks (the wards' load follows the seasons): each
    # window of this many of a run's days is rescaled to the mean of as many consecutive
    # boarding_days from a random start (circular), so runs differ as the site's months
    # do; 0: no such level
    boarding_level_days: int = 0
    # exit block by month of the year (the wards fill in winter): a factor on those boarders'
    # time by the local month of the bed request, January..December
    boarding_monthly: tuple[float, ...] = (1.0,) * 12
    # relative rate, by local hour 00..23, at which beds are released to boarders without
    # a ward: their boarding time runs on this clock (near 0 at night: a boarder ready
    # at night leaves when the wards discharge in the morning); 1 everywhere: wall time
    boarding_release_profile: tuple[float, ...] = (1.0,) * 24
    # those boarders leave this many minutes sooner than drawn (not before the request):
    # a what-if's "beds found sooner" on a calibrated site; 0: as drawn
    boarding_sooner_minutes: float = 0.0
    # hours an admitted patient may board in the department (from the bed request) before
    # being transferred to another hospital; each ward may set its own; 0: no limit
    max_boarding_hours: float = 0.0
    # factors by local hour 00..23 on the triage delay (hour of arrival; or 168 values, by
    # hour of the week from Monday 00:00) and on the first doctor contact (hour it
    # starts): a calibrated site's waits and care by time of day
    triage_profile: tuple[float, ...] = (1.0,) * 24
    treatment_profile: tuple[float, ...] = (1.0,) * 24
    shared_physicians: str = ""  # a specialty whose doctors see every patient first; "": off
    consult: float = 0.0  # share needing a specialist consult (with shared_physicians)
    consult_minutes: float = 30.0  # mean specialist minutes of a consult
    areas: tuple[Area, ...] = (Area("boxes", 0),)
    wards: tuple[Ward, ...] = ()
    pathologies: dict[str, PathologyFlow] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.enabled, self.triage_scale, self.areas, self.wards))

    def value(self, key: str, pathology: str, specialty: str) -> Any:
        """A per-pathology value: the pathology's, else its specialty's, else the default."""
        for code in (pathology, specialty):
            override = self.pathologies.get(code)
            if override is not None and getattr(override, key) is not None:
                return getattr(override, key)
        return getattr(self, key)

    def boarding_limit_minutes(self, ward: Ward | None) -> float:
        """Minutes a boarder of ``ward`` (None: no ward) may wait before transfer; inf: none."""
        hours = self.max_boarding_hours
        if ward is not None and ward.max_boarding_hours is not None:
            hours = ward.max_boarding_hours
        return 60.0 * hours if hours > 0 else math.inf

    def area_of_level(self, level: int) -> int:
        """Index of the first area taking acuity ``level``."""
        for i, area in enumerate(self.areas):
            if level in area.levels:
                return i
        raise ScenarioError(f"no area takes acuity level {level}", where="[[flow.areas]]")


# --------------------------------------------------------------------------- validation


def _fail(where: str, message: str, value: Any) -> ScenarioError:
    return ScenarioError(f"{message}, got {value!r}", where=where, value=value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _share(where: str, value: Any) -> None:
    if not _number(value) or not 0 <= value <= 1:
        raise _fail(where, "must be a share between 0 and 1", value)


def _mix(where: str, values: Any, length: int) -> None:
    if not isinstance(values, tuple) or len(values) != length:
        raise _fail(where, f"must be a list of {length} numbers", values)
    for i, v in enumerate(values):
        if not _number(v) or v < 0:
            raise _fail(f"{where}[{i}]", "must be a finite number ≥ 0", v)
    if sum(values) <= 0:
        raise _fail(where, "must have at least one positive value", values)


def validate_flow(
    flow: FlowConfig, specialties: tuple[str, ...], pathologies: tuple[str, ...]
) -> None:
    """Refuse impossible flow values, naming the TOML key (``flow.<key>``)."""
    if not isinstance(flow.enabled, bool):
        raise _fail("flow.enabled", "must be true or false", flow.enabled)
    if flow.triage_scale not in TRIAGE_SCALES:
        raise _fail(
            "flow.triage_scale", f"must be one of {', '.join(TRIAGE_SCALES)}", flow.triage_scale
        )
    _mix("flow.acuity_mix", flow.acuity_mix, LEVELS)
    if not isinstance(flow.patience_minutes, tuple) or len(flow.patience_minutes) != LEVELS:
        raise _fail(
            "flow.patience_minutes", f"must be a list of {LEVELS} numbers", flow.patience_minutes
        )
    for i, v in enumerate(flow.patience_minutes):
        if not _number(v) or v < 0:
            raise _fail(f"flow.patience_minutes[{i}]", "must be a finite number ≥ 0 (0: never)", v)
    if flow.shared_physicians != "" and flow.shared_physicians not in specialties:
        raise _fail(
            "flow.shared_physicians",
            'must be "" (off) or a specialty of the catalog',
            flow.shared_physicians,
        )
    for key in (
        "diagnostics_mean_minutes",
        "reassessment_minutes",
        "triage_minutes",
        "boarding_minutes",
        "boarding_sooner_minutes",
        "consult_minutes",
        "max_boarding_hours",
    ):
        value = getattr(flow, key)
        if not _number(value) or value < 0:
            raise _fail(f"flow.{key}", "must be a finite number ≥ 0", value)
    for key in ("diagnostics_cv", "boarding_cv", "triage_cv"):
        value = getattr(flow, key)
        if not _number(value) or value <= 0:
            raise _fail(f"flow.{key}", "must be a finite number > 0", value)
    for key in ("diagnostics_share", "admission", "transfer", "death", "consult"):
        _share(f"flow.{key}", getattr(flow, key))
    bands = flow.age_bands
    if (
        not isinstance(bands, tuple)
        or not bands
        or bands[0] != 0
        or any(not isinstance(b, int) or isinstance(b, bool) for b in bands)
        or list(bands) != sorted(set(bands))
        or bands[-1] >= 100
    ):
        raise _fail(
            "flow.age_bands", "must be increasing whole ages starting at 0, below 100", bands
        )
    _mix("flow.age_mix", flow.age_mix, len(bands))
    if not isinstance(flow.admission_age_factor, tuple) or len(flow.admission_age_factor) != len(
        bands
    ):
        raise _fail(
            "flow.admission_age_factor",
            f"must be a list of {len(bands)} numbers",
            flow.admission_age_factor,
        )
    for i, v in enumerate(flow.admission_age_factor):
        if not _number(v) or v < 0:
            raise _fail(f"flow.admission_age_factor[{i}]", "must be a finite number ≥ 0", v)
    _mix("flow.ward_discharge_profile", flow.ward_discharge_profile, 24)
    _mix("flow.boarding_profile", flow.boarding_profile, 24)
    if flow.boarding_days:
        _mix("flow.boarding_days", flow.boarding_days, len(flow.boarding_days))
        if len(flow.boarding_days) > MAX_BOARDING_DAYS:
            raise _fail("flow.boarding_days", f"must hold at most {MAX_BOARDING_DAYS} days", "")
    if flow.triage_days:
        _mix("flow.triage_days", flow.triage_days, len(flow.boarding_days))
    _mix("flow.boarding_release_profile", flow.boarding_release_profile, 24)
    if min(flow.boarding_release_profile) <= 0:
        raise _fail(
            "flow.boarding_release_profile",
            "must be > 0 every hour (a boarder would wait forever)",
            min(flow.boarding_release_profile),
        )
    _mix("flow.boarding_monthly", flow.boarding_monthly, 12)
    level = flow.boarding_level_days
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 366:
        raise _fail("flow.boarding_level_days", "must be a whole number of days, 0 to 366", level)
    block = flow.boarding_block_days
    if not isinstance(block, int) or isinstance(block, bool) or not 1 <= block <= 366:
        raise _fail("flow.boarding_block_days", "must be a whole number of days, 1 to 366", block)
    _mix("flow.triage_profile", flow.triage_profile, 168 if len(flow.triage_profile) == 168 else 24)
    _mix("flow.treatment_profile", flow.treatment_profile, 24)
    _validate_areas(flow)
    _validate_wards(flow, specialties)
    known = set(specialties) | set(pathologies)
    for code, override in flow.pathologies.items():
        where = f"flow.pathologies.{code}"
        if code not in known:
            raise _fail(where, "must name a pathology or a specialty of the catalog", code)
        if override.acuity_mix is not None:
            _mix(f"{where}.acuity_mix", override.acuity_mix, LEVELS)
        if override.age_mix is not None:
            _mix(f"{where}.age_mix", override.age_mix, len(bands))
        for key in ("diagnostics_share", "admission", "transfer", "death", "consult"):
            value = getattr(override, key)
            if value is not None:
                _share(f"{where}.{key}", value)
    for code in (*pathologies, *specialties):
        total = sum(flow.value(k, code, code) for k in ("admission", "transfer", "death"))
        if total > 1:
            raise _fail(
                f"flow.pathologies.{code}", "admission + transfer + death must be at most 1", total
            )


def _validate_areas(flow: FlowConfig) -> None:
    if not flow.areas:
        raise _fail("flow.areas", "must hold at least one [[flow.areas]]", flow.areas)
    names = set()
    for i, area in enumerate(flow.areas):
        where = f"flow.areas[{i}]"
        if not isinstance(area.name, str) or not area.name or area.name in names:
            raise _fail(f"{where}.name", "must be a unique non-empty name", area.name)
        names.add(area.name)
        if (
            not isinstance(area.spaces, int)
            or isinstance(area.spaces, bool)
            or not 0 <= area.spaces <= MAX_CAPACITY
        ):
            message = f"must be a whole number from 0 (unlimited) to {MAX_CAPACITY}"
            raise _fail(f"{where}.spaces", message, area.spaces)
        if not area.levels or any(lv not in range(1, LEVELS + 1) for lv in area.levels):
            raise _fail(f"{where}.acuities", f"must be levels among 1..{LEVELS}", area.levels)
    for level in range(1, LEVELS + 1):
        if not any(level in area.levels for area in flow.areas):
            raise _fail("flow.areas", f"no area takes acuity level {level}", level)


def _validate_wards(flow: FlowConfig, specialties: tuple[str, ...]) -> None:
    names = set()
    covered: set[str] = set()
    for i, ward in enumerate(flow.wards):
        where = f"flow.wards[{i}]"
        if not isinstance(ward.name, str) or not ward.name or ward.name in names:
            raise _fail(f"{where}.name", "must be a unique non-empty name", ward.name)
        names.add(ward.name)
        if (
            not isinstance(ward.beds, int)
            or isinstance(ward.beds, bool)
            or not 1 <= ward.beds <= MAX_CAPACITY
        ):
            raise _fail(
                f"{where}.beds", f"must be a whole number from 1 to {MAX_CAPACITY}", ward.beds
            )
        if not _number(ward.mean_stay_days) or ward.mean_stay_days <= 0:
            raise _fail(
                f"{where}.mean_stay_days", "must be a finite number > 0", ward.mean_stay_days
            )
        if not _number(ward.stay_cv) or ward.stay_cv <= 0:
            raise _fail(f"{where}.stay_cv", "must be a finite number > 0", ward.stay_cv)
        if ward.stay_distribution not in ("lognormal", "exponential"):
            raise _fail(
                f"{where}.stay_distribution",
                "must be lognormal or exponential",
                ward.stay_distribution,
            )
        if ward.overflow not in OVERFLOW_POLICIES:
            raise _fail(
                f"{where}.overflow", f"must be one of {', '.join(OVERFLOW_POLICIES)}", ward.overflow
            )
        _share(f"{where}.occupancy_at_start", ward.occupancy_at_start)
        limit = ward.max_boarding_hours
        if limit is not None and (not _number(limit) or limit < 0):
            raise _fail(
                f"{where}.max_boarding_hours", "must be a finite number ≥ 0 (0: none)", limit
            )
        if not isinstance(ward.discharge_by_profile, bool):
            raise _fail(
                f"{where}.discharge_by_profile", "must be true or false", ward.discharge_by_profile
            )
        for code in ward.specialties:
            if code not in specialties:
                raise _fail(f"{where}.specialties", "must be specialties of the catalog", code)
            if code in covered:
                raise _fail(
                    f"{where}.specialties", "names a specialty already in another ward", code
                )
            covered.add(code)
    if flow.enabled and flow.wards:
        missing = [s for s in specialties if s not in covered]
        if missing:
            raise _fail("flow.wards", "must give every specialty a ward", missing[0])


# --------------------------------------------------------------------------- TOML

_FLOW_KEYS = {
    "enabled",
    "triage_scale",
    "triage_minutes",
    "triage_cv",
    "acuity_mix",
    "patience_minutes",
    "diagnostics_share",
    "diagnostics_mean_minutes",
    "diagnostics_cv",
    "reassessment_minutes",
    "admission",
    "transfer",
    "death",
    "age_bands",
    "age_mix",
    "admission_age_factor",
    "ward_discharge_profile",
    "boarding_minutes",
    "boarding_cv",
    "boarding_profile",
    "boarding_days",
    "boarding_block_days",
    "boarding_level_days",
    "boarding_monthly",
    "triage_days",
    "boarding_release_profile",
    "boarding_sooner_minutes",
    "max_boarding_hours",
    "triage_profile",
    "treatment_profile",
    "shared_physicians",
    "consult",
    "consult_minutes",
    "areas",
    "wards",
    "pathologies",
}
_AREA_KEYS = {"name", "spaces", "acuities"}
_WARD_KEYS = {
    "name",
    "beds",
    "mean_stay_days",
    "stay_cv",
    "stay_distribution",
    "specialties",
    "overflow",
    "occupancy_at_start",
    "discharge_by_profile",
    "max_boarding_hours",
}
_TUPLES = {
    "acuity_mix",
    "patience_minutes",
    "age_bands",
    "age_mix",
    "admission_age_factor",
    "ward_discharge_profile",
    "boarding_profile",
    "boarding_days",
    "boarding_monthly",
    "triage_days",
    "boarding_release_profile",
    "triage_profile",
    "treatment_profile",
}


def _tuple(where: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _fail(where, "must be a list", value)
    return tuple(value)


def _table(where: str, value: Any, known: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where} must be a table", where=where)
    unknown = set(value) - known
    if unknown:
        raise ScenarioError(
            f"unknown key '{sorted(unknown)[0]}' in [{where}] (known: {', '.join(sorted(known))})",
            where=where,
        )
    return value


def flow_from_dict(data: Any) -> FlowConfig:
    """The ``[flow]`` table of a scenario TOML (or JSON) as a ``FlowConfig`` (checked later)."""
    data = _table("flow", data, _FLOW_KEYS)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TUPLES:
            kwargs[key] = _tuple(f"flow.{key}", value)
        elif key == "areas":
            areas = []
            for i, raw in enumerate(_tuple("flow.areas", value)):
                raw = _table(f"flow.areas[{i}]", raw, _AREA_KEYS)
                if "name" not in raw or "spaces" not in raw:
                    raise ScenarioError("missing key 'name' or 'spaces'", where=f"flow.areas[{i}]")
                levels = tuple(raw.get("acuities", range(1, LEVELS + 1)))
                areas.append(Area(raw["name"], raw["spaces"], levels))
            kwargs["areas"] = tuple(areas)
        elif key == "wards":
            wards = []
            for i, raw in enumerate(_tuple("flow.wards", value)):
                raw = dict(_table(f"flow.wards[{i}]", raw, _WARD_KEYS))
                for needed in ("name", "beds", "mean_stay_days", "specialties"):
                    if needed not in raw:
                        raise ScenarioError(f"missing key '{needed}'", where=f"flow.wards[{i}]")
                raw["specialties"] = _tuple(f"flow.wards[{i}].specialties", raw["specialties"])
                for key_f in (
                    "mean_stay_days",
                    "stay_cv",
                    "occupancy_at_start",
                    "max_boarding_hours",
                ):
                    if key_f in raw and _number(raw[key_f]):
                        raw[key_f] = float(raw[key_f])
                wards.append(Ward(**raw))
            kwargs["wards"] = tuple(wards)
        elif key == "pathologies":
            table = _table(
                "flow.pathologies", value, set(value) if isinstance(value, dict) else set()
            )
            overrides = {}
            for code, raw in table.items():
                raw = dict(_table(f"flow.pathologies.{code}", raw, set(PATHOLOGY_KEYS)))
                for mix in ("acuity_mix", "age_mix"):
                    if mix in raw:
                        raw[mix] = _tuple(f"flow.pathologies.{code}.{mix}", raw[mix])
                overrides[code] = PathologyFlow(**raw)
            kwargs["pathologies"] = overrides
        else:
            kwargs[key] = value
    return FlowConfig(**kwargs)


def _num(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _list(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


def flow_to_toml(flow: FlowConfig) -> list[str]:
    """The ``[flow]`` section, documented, as TOML lines (``scenario show``)."""
    lines = [
        "",
        "# Patient flow. Off: the plain queueing model (a doctor of the pathology's",
        "# specialty, then out; the M/M/c validation scenario). On: triage, treatment",
        "# spaces, doctors by priority, diagnostics, dispositions, ward beds and boarding.",
        "[flow]",
        f"enabled = {str(flow.enabled).lower()}",
        '# acuity scale: "CCMU" (France: 5 most urgent), "ESI" or "MTS" (1 most urgent);',
        "# doctors see the most urgent first, then the first come (non-preemptive priority)",
        f'triage_scale = "{flow.triage_scale}"',
        "# mean minutes of registration and triage by a nurse (lognormal, cv triage_cv; 0:",
        "# none), before the patient seeks a treatment space; counts in door-to-doctor",
        f"triage_minutes = {_num(flow.triage_minutes)}",
        f"triage_cv = {_num(flow.triage_cv)}",
        "# share of patients at levels 1..5 of the scale (overridable per pathology)",
        f"acuity_mix = {_list(flow.acuity_mix)}",
        "# mean patience (exponential) before leaving without being seen, per level 1..5;",
        "# 0: never leaves. It runs from arrival until the first doctor.",
        f"patience_minutes = {_list(flow.patience_minutes)}",
        "# share of patients waiting for labs/imaging after the first assessment, holding",
        "# their space but not the doctor (lognormal turnaround), then reassessed",
        f"diagnostics_share = {_num(flow.diagnostics_share)}",
        f"diagnostics_mean_minutes = {_num(flow.diagnostics_mean_minutes)}",
        f"diagnostics_cv = {_num(flow.diagnostics_cv)}",
        "# mean doctor minutes of a reassessment (same distribution as treatments)",
        f"reassessment_minutes = {_num(flow.reassessment_minutes)}",
        "# dispositions: probabilities (the rest go home); admission is multiplied by",
        "# the age band's factor",
        f"admission = {_num(flow.admission)}",
        f"transfer = {_num(flow.transfer)}",
        f"death = {_num(flow.death)}",
        "# age bands (lower bounds, the last ends at 100), their shares, admission factors",
        f"age_bands = {_list(flow.age_bands)}",
        f"age_mix = {_list(flow.age_mix)}",
        f"admission_age_factor = {_list(flow.admission_age_factor)}",
        "# relative weight of each hour 00..23 for ward discharges (late morning, afternoon)",
        f"ward_discharge_profile = {_list(flow.ward_discharge_profile)}",
        "# admitted patients of a specialty with no ward below: mean minutes boarding in the",
        "# department before leaving for a bed (lognormal, boarding_cv); 0: they leave at once",
        f"boarding_minutes = {_num(flow.boarding_minutes)}",
        f"boarding_cv = {_num(flow.boarding_cv)}",
        "# factor on boarding_minutes by the local hour the bed is asked for, 00..23",
        f"boarding_profile = {_list(flow.boarding_profile)}",
        "# factor on boarding_minutes by day of the bed request (mean 1; [] every day the same),",
        "# redrawn for each run as circular blocks of boarding_block_days consecutive days",
        f"boarding_days = {_list(flow.boarding_days)}",
        f"boarding_block_days = {flow.boarding_block_days}",
        "# each window of this many days of a run takes the level of exit block (mean of",
        "# boarding_days) of as many days from a random start; 0: none",
        f"boarding_level_days = {flow.boarding_level_days}",
        "# factor on those boarders' time by local month of the bed request, Jan..Dec",
        f"boarding_monthly = {_list(flow.boarding_monthly)}",
        "# factor on the door-to-doctor wait by day of arrival, the days of boarding_days",
        "# (mean 1), redrawn with them; [] every day the same",
        f"triage_days = {_list(flow.triage_days)}",
        "# rate (> 0) by local hour 00..23 at which beds are released to those boarders: their",
        "# boarding time runs on this clock; 1 everywhere: the wall clock",
        f"boarding_release_profile = {_list(flow.boarding_release_profile)}",
        "# minutes sooner those boarders leave than drawn (not before the bed request)",
        f"boarding_sooner_minutes = {_num(flow.boarding_sooner_minutes)}",
        "# hours an admitted patient may board (from the bed request) before being",
        "# transferred to another hospital for want of a bed (disposition transferred, the",
        "# space freed; the transfers_no_bed measure); a ward may set its own; 0: no limit",
        f"max_boarding_hours = {_num(flow.max_boarding_hours)}",
        "# factors by local hour 00..23 on triage_minutes (hour of arrival; or 168 values by",
        "# hour of the week from Monday 00:00) and on the first doctor contact (hour it",
        "# starts); 1 everywhere: no time-of-day effect",
        f"triage_profile = {_list(flow.triage_profile)}",
        f"treatment_profile = {_list(flow.treatment_profile)}",
        '# shared emergency physicians: "" (off: each pathology\'s patients are seen by the',
        "# doctors of its specialty), or a specialty of [[shifts]] whose doctors see every",
        "# patient first, whatever the pathology; then a share of each pathology's patients",
        "# (consult, overridable per pathology) waits for a consult by a doctor of the",
        "# pathology's specialty (most urgent first), consult_minutes long on average",
        "# (same distribution as treatments), after the diagnostics and reassessment",
        f'shared_physicians = "{flow.shared_physicians}"',
        f"consult = {_num(flow.consult)}",
        f"consult_minutes = {_num(flow.consult_minutes)}",
        "",
        "# Treatment spaces: a patient holds one from first care to leaving the department",
        "# (boarding included); spaces = 0 means unlimited. acuities: levels the area takes.",
    ]
    for area in flow.areas:
        lines += [
            "[[flow.areas]]",
            f'name = "{area.name}"',
            f"spaces = {area.spaces}",
            f"acuities = {_list(area.levels)}",
        ]
    lines += [
        "",
        "# Wards: beds for the admitted patients of some specialties; length of stay in",
        '# days (lognormal with stay_cv, or exponential). overflow "board": wait in the ED',
        '# for a bed; "transfer": no bed, transferred elsewhere (a loss system).',
        "# max_boarding_hours (optional): this ward's boarding limit, else the flow's.",
    ]
    for ward in flow.wards:
        specialties = ", ".join(f'"{s}"' for s in ward.specialties)
        lines += [
            "[[flow.wards]]",
            f'name = "{ward.name}"',
            f"beds = {ward.beds}",
            f"mean_stay_days = {_num(ward.mean_stay_days)}",
            f"stay_cv = {_num(ward.stay_cv)}",
            f'stay_distribution = "{ward.stay_distribution}"',
            f"specialties = [{specialties}]",
            f'overflow = "{ward.overflow}"',
            f"occupancy_at_start = {_num(ward.occupancy_at_start)}",
            f"discharge_by_profile = {str(ward.discharge_by_profile).lower()}",
        ]
        if ward.max_boarding_hours is not None:
            lines.append(f"max_boarding_hours = {_num(ward.max_boarding_hours)}")
    if flow.pathologies:
        lines += ["", "# Per pathology (or specialty) overrides of the values above."]
    for code, override in flow.pathologies.items():
        lines.append(f"[flow.pathologies.{code}]")
        for key in PATHOLOGY_KEYS:
            value = getattr(override, key)
            if value is None:
                continue
            lines.append(f"{key} = {_list(value) if isinstance(value, tuple) else _num(value)}")
    return lines
