"""A what-if's change set, checked and applied to a base scenario.

The levers a manager pulls on their own department: doctors added or removed
over a shift window of one specialty, treatment spaces of an area, ward beds,
arrival growth, the turnaround of diagnostics, and the wards' side of boarding
(discharges earlier in the day, shorter ward stays). Each is a plain value in
the scenario file's own terms, so the changed scenario is an ordinary,
validated ``Scenario`` (``scenario_to_toml`` shows it).

Every refusal is a ``ScenarioError`` (HTTP 422) whose ``where`` names the field
of the change set (``changes.doctors[0].specialty``) or the CLI option that
gave it, never a traceback.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from hospiflow.errors import ScenarioError
from hospiflow.simulation.flowconfig import MAX_CAPACITY, Area, FlowConfig, Ward
from hospiflow.simulation.scenario import WEEKDAYS, Scenario, Shift

__all__ = ["ChangeSet", "DoctorChange", "apply", "change_set_from_dict", "describe"]

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
MAX_DOCTOR_CHANGE = 100
MAX_ARRIVAL_GROWTH = 300.0  # percent: beyond it the work budget, not the question, decides
CHANGE_KEYS = (
    "doctors",
    "spaces",
    "ward_beds",
    "arrivals_percent",
    "diagnostics_factor",
    "discharge_hours_earlier",
    "ward_stay_hours",
    "boarding_hours_sooner",
)
_SCALAR_KEYS = CHANGE_KEYS[3:]  # one number each (doctors, spaces and beds come first)


@dataclass(frozen=True)
class DoctorChange:
    """``change`` doctors (negative: fewer) of ``specialty`` on duty from ``start`` to ``end``
    (local HH:MM; an end at or before the start crosses midnight) on the weekdays ``days``:
    an added shift starts on them; a removal applies to the shifts starting on them."""

    specialty: str
    start: str
    end: str
    change: int
    days: tuple[str, ...] = WEEKDAYS
    where: str = field(default="changes.doctors", compare=False)


@dataclass(frozen=True)
class ChangeSet:
    """Everything a what-if changes; the defaults change nothing (a null change).

    ``spaces`` and ``ward_beds`` map an area or ward name to the spaces or beds
    added (negative: removed); the name ``""`` means the largest one.
    """

    doctors: tuple[DoctorChange, ...] = ()
    spaces: tuple[tuple[str, int], ...] = ()
    ward_beds: tuple[tuple[str, int], ...] = ()
    arrivals_percent: float = 0.0  # arrival growth, % of the base rate
    diagnostics_factor: float = 1.0  # diagnostics turnaround x factor
    discharge_hours_earlier: int = 0  # wards discharge N hours earlier in the day
    ward_stay_hours: float = 0.0  # every ward stay N hours longer (negative: shorter)
    # admitted patients leave for a bed N hours sooner: ward stays N hours shorter, and
    # the fitted boarding time of specialties without a ward (a calibrated site) too
    boarding_hours_sooner: float = 0.0

    @property
    def is_null(self) -> bool:
        return self == ChangeSet()


def _fail(where: str, message: str, value: Any) -> ScenarioError:
    return ScenarioError(f"{message}, got {value!r}", where=where, value=value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_doctor(d: DoctorChange) -> None:
    if not isinstance(d.specialty, str) or not d.specialty:
        raise _fail(f"{d.where}.specialty", "must be a specialty code", d.specialty)
    for key in ("start", "end"):
        value = getattr(d, key)
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise _fail(f"{d.where}.{key}", "must be a time HH:MM", value)
    if not _whole(d.change) or d.change == 0 or abs(d.change) > MAX_DOCTOR_CHANGE:
        raise _fail(
            f"{d.where}.change",
            f"must be a whole number of doctors, not 0, between -{MAX_DOCTOR_CHANGE} "
            f"and +{MAX_DOCTOR_CHANGE}",
            d.change,
        )
    if not d.days or any(day not in WEEKDAYS for day in d.days):
        raise _fail(f"{d.where}.days", f"must be weekdays among {', '.join(WEEKDAYS)}", d.days)


def _check(changes: ChangeSet) -> None:
    """Each value on its own (the scenario-dependent checks come in :func:`apply`)."""
    for d in changes.doctors:
        _check_doctor(d)
    for key in ("spaces", "ward_beds"):
        for name, delta in getattr(changes, key):
            where = f"changes.{key}" + (f".{name}" if name else "")
            if not _whole(delta) or abs(delta) > MAX_CAPACITY:
                raise _fail(
                    where,
                    f"must be a whole number between -{MAX_CAPACITY} and +{MAX_CAPACITY}",
                    delta,
                )
    growth = changes.arrivals_percent
    if not _number(growth) or not -100 < growth <= MAX_ARRIVAL_GROWTH:
        raise _fail(
            "changes.arrivals_percent",
            f"must be a percentage above -100 and at most {MAX_ARRIVAL_GROWTH:g}",
            growth,
        )
    factor = changes.diagnostics_factor
    if not _number(factor) or not 0 < factor <= 10:
        raise _fail("changes.diagnostics_factor", "must be a factor above 0 and at most 10", factor)
    earlier = changes.discharge_hours_earlier
    if not _whole(earlier) or not -12 <= earlier <= 12:
        raise _fail(
            "changes.discharge_hours_earlier",
            "must be a whole number of hours from -12 to 12",
            earlier,
        )
    for key in ("ward_stay_hours", "boarding_hours_sooner"):
        hours = getattr(changes, key)
        if not _number(hours) or abs(hours) > 24 * 30:
            raise _fail(f"changes.{key}", "must be a number of hours within ±720", hours)


# --------------------------------------------------------------------------- from JSON


def _named_deltas(where: str, value: Any) -> tuple[tuple[str, int], ...]:
    """``4`` (the largest area or ward) or ``{"boxes": 4, "fast-track": -2}``."""
    if _whole(value):
        return (("", value),) if value else ()
    if isinstance(value, dict):
        out = []
        for name, delta in value.items():
            if not _whole(delta):
                raise _fail(f"{where}.{name}", "must be a whole number", delta)
            out.append((str(name), delta))
        return tuple(out)
    raise _fail(where, "must be a whole number or a table of name = whole number", value)


def change_set_from_dict(data: Any, where: str = "changes") -> ChangeSet:
    """The change set of an API request (``{"doctors": [...], "spaces": 4, ...}``), checked."""
    if not isinstance(data, dict):
        raise _fail(where, "must be an object", data)
    unknown = sorted(set(data) - set(CHANGE_KEYS))
    if unknown:
        raise ScenarioError(
            f"unknown key '{unknown[0]}' (known: {', '.join(CHANGE_KEYS)})", where=where
        )
    kwargs: dict[str, Any] = {}
    raw_doctors = data.get("doctors", [])
    if not isinstance(raw_doctors, list):
        raise _fail(f"{where}.doctors", "must be a list", raw_doctors)
    doctors = []
    for i, raw in enumerate(raw_doctors):
        item = f"{where}.doctors[{i}]"
        if not isinstance(raw, dict):
            raise _fail(item, "must be an object", raw)
        allowed = {"specialty", "start", "end", "change", "days"}
        extra = sorted(set(raw) - allowed)
        if extra:
            raise ScenarioError(
                f"unknown key '{extra[0]}' (known: {', '.join(sorted(allowed))})", where=item
            )
        missing = sorted({"specialty", "start", "end", "change"} - set(raw))
        if missing:
            raise ScenarioError(f"missing key '{missing[0]}'", where=item)
        days = raw.get("days", list(WEEKDAYS))
        if not isinstance(days, list):
            raise _fail(f"{item}.days", "must be a list of weekdays", days)
        doctors.append(
            DoctorChange(
                raw["specialty"], raw["start"], raw["end"], raw["change"], tuple(days), where=item
            )
        )
    kwargs["doctors"] = tuple(doctors)
    for key in ("spaces", "ward_beds"):
        if key in data:
            kwargs[key] = _named_deltas(f"{where}.{key}", data[key])
    for key in _SCALAR_KEYS:
        if key in data:
            kwargs[key] = data[key]
    changes = ChangeSet(**kwargs)
    _check(changes)
    return changes


# --------------------------------------------------------------------------- applying


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _window(start: str, end: str) -> tuple[int, int]:
    """A window as (start minute, length) on the 24-hour circle (equal ends: 24 hours)."""
    a = _minutes(start)
    length = (_minutes(end) - a) % 1440
    return a, length or 1440


def _clock(minute: int) -> str:
    minute %= 1440
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _remove(shifts: list[Shift], d: DoctorChange, count: int) -> list[Shift]:
    """Take ``count`` doctors off duty over ``d``'s window from the shifts that cover it.

    A covering shift keeps its other doctors; the removed ones still work the
    parts of the shift outside the window (the shift is split), so only the
    window loses them.
    """
    a, length = _window(d.start, d.end)
    out: list[Shift] = []
    left = count
    for shift in shifts:
        offset = (a - shift.start_minute) % 1440
        covers = (
            shift.specialty == d.specialty
            and shift.doctors > 0
            and offset + length <= shift.length_minutes
            and set(d.days) <= set(shift.days)
        )
        if not covers or left == 0:
            out.append(shift)
            continue
        taken = min(left, shift.doctors)
        left -= taken
        if shift.doctors > taken:
            out.append(dataclasses.replace(shift, doctors=shift.doctors - taken))
        base = shift.start_minute
        pieces = [(base, offset), (a + length, shift.length_minutes - offset - length)]
        touched = tuple(day for day in shift.days if day in d.days)
        rest = tuple(day for day in shift.days if day not in d.days)
        for begin, minutes in pieces:
            if minutes > 0:
                out.append(
                    Shift(
                        shift.specialty,
                        _clock(begin),
                        _clock(begin + minutes),
                        taken,
                        touched,
                        f"{shift.name} (what-if split)",
                    )
                )
        if rest:  # the days the window does not touch keep the whole shift
            out.append(dataclasses.replace(shift, doctors=taken, days=rest))
    if left:
        covering = [
            f"{s.start}-{s.end} ({s.doctors})" for s in shifts if s.specialty == d.specialty
        ]
        raise ScenarioError(
            f"cannot remove {count} {d.specialty} doctor(s) over {d.start}-{d.end}: only "
            f"{count - left} on shifts covering that whole window on those days "
            f"(its shifts: {', '.join(covering) or 'none'})",
            where=f"{d.where}.change",
            value=-count,
        )
    return out


def _pick(where: str, items: tuple[Any, ...], name: str, size: str, kind: str) -> int:
    """Index of the area or ward ``name`` ('' : the largest)."""
    if not items:
        raise ScenarioError(f"the scenario has no {kind} to change", where=where)
    if name == "":
        return max(range(len(items)), key=lambda i: getattr(items[i], size))
    for i, item in enumerate(items):
        if item.name == name:
            return i
    names = ", ".join(item.name for item in items)
    raise ScenarioError(f"no {kind} named {name!r} (the scenario has: {names})", where=where)


def _areas(scenario: Scenario, deltas: tuple[tuple[str, int], ...]) -> tuple[Area, ...]:
    areas = list(scenario.flow.areas)
    for name, delta in deltas:
        where = "changes.spaces" + (f".{name}" if name else "")
        i = _pick(where, tuple(areas), name, "spaces", "treatment area")
        if areas[i].spaces == 0:
            raise ScenarioError(
                f"area {areas[i].name!r} has unlimited spaces (0): adding or removing "
                "spaces means nothing there",
                where=where,
            )
        spaces = areas[i].spaces + delta
        if not 1 <= spaces <= MAX_CAPACITY:
            raise _fail(
                where,
                f"would leave {areas[i].name!r} with {spaces} spaces (1 to {MAX_CAPACITY})",
                delta,
            )
        areas[i] = dataclasses.replace(areas[i], spaces=spaces)
    return tuple(areas)


def _wards(
    scenario: Scenario,
    deltas: tuple[tuple[str, int], ...],
    stay_hours: float,
    where_stay: str = "changes.ward_stay_hours",
) -> tuple[Ward, ...]:
    wards = list(scenario.flow.wards)
    if deltas and not wards:
        raise ScenarioError(
            "the scenario has no ward to change (a calibrated site's boarding time is fitted "
            "instead: change it with boarding_hours_sooner)",
            where="changes.ward_beds",
        )
    for name, delta in deltas:
        where = "changes.ward_beds" + (f".{name}" if name else "")
        i = _pick(where, tuple(wards), name, "beds", "ward")
        beds = wards[i].beds + delta
        if not 1 <= beds <= MAX_CAPACITY:
            raise _fail(
                where,
                f"would leave {wards[i].name!r} with {beds} beds (1 to {MAX_CAPACITY})",
                delta,
            )
        wards[i] = dataclasses.replace(wards[i], beds=beds)
    if stay_hours:
        if not wards:
            raise ScenarioError("the scenario has no ward", where="changes.ward_stay_hours")
        for i, ward in enumerate(wards):
            days = ward.mean_stay_days + stay_hours / 24.0
            if days <= 0:
                raise _fail(
                    "changes.ward_stay_hours",
                    f"would leave {ward.name!r} with a mean stay of {days:.2f} days",
                    stay_hours,
                )
            wards[i] = dataclasses.replace(ward, mean_stay_days=days)
    return tuple(wards)


def _boarding_sooner(flow: FlowConfig, base: Scenario, hours: float) -> FlowConfig:
    """Admitted patients leave ``hours`` sooner: ward stays that much shorter (a bed frees
    sooner), and each boarder of specialties without a ward (a calibrated site's fitted
    boarding) that much sooner than drawn, not before the bed request."""
    if not hours:
        return flow
    where = "changes.boarding_hours_sooner"
    covered = {code for ward in flow.wards for code in ward.specialties}
    wardless = set(base.load_catalog().specialty_codes) - covered
    fitted = flow.boarding_minutes > 0 and bool(wardless)
    if not flow.wards and not fitted:
        raise ScenarioError(
            "the scenario has neither wards nor a fitted boarding time to shorten", where=where
        )
    if flow.wards:
        flow = dataclasses.replace(flow, wards=_wards(base.replace(flow=flow), (), -hours, where))
    if fitted:  # each boarder, on the wall clock (the fitted time may run on a release clock)
        flow = dataclasses.replace(
            flow, boarding_sooner_minutes=flow.boarding_sooner_minutes + 60.0 * hours
        )
    return flow


def apply(base: Scenario, changes: ChangeSet) -> Scenario:
    """The base scenario with the change set applied (validated again as a scenario)."""
    _check(changes)
    known = set(base.load_catalog().specialty_codes)
    shifts = list(base.shifts)
    for d in changes.doctors:
        if d.specialty not in known:
            raise _fail(
                f"{d.where}.specialty",
                f"is not a specialty of the scenario ({', '.join(sorted(known))})",
                d.specialty,
            )
        if d.change > 0:
            shifts.append(Shift(d.specialty, d.start, d.end, d.change, d.days, "what-if"))
        else:
            shifts = _remove(shifts, d, -d.change)
    flow = base.flow
    uses_flow = (
        changes.spaces
        or changes.ward_beds
        or changes.diagnostics_factor != 1.0
        or changes.discharge_hours_earlier
        or changes.ward_stay_hours
    )
    if uses_flow and not base.flow_active:
        raise ScenarioError(
            "spaces, ward beds, diagnostics and ward discharges need a scenario with the "
            "patient flow ([flow] enabled, pooled routing), such as 'default'",
            where="changes",
        )
    if base.flow_active:
        n = changes.discharge_hours_earlier
        profile = flow.ward_discharge_profile
        wards = _wards(base, changes.ward_beds, changes.ward_stay_hours)
        flow = dataclasses.replace(
            flow,
            areas=_areas(base, changes.spaces),
            wards=wards,
            diagnostics_mean_minutes=flow.diagnostics_mean_minutes * changes.diagnostics_factor,
            ward_discharge_profile=tuple(profile[(h + n) % 24] for h in range(24)),
        )
        flow = _boarding_sooner(flow, base, changes.boarding_hours_sooner)
    try:
        return base.replace(
            name=f"{base.name} (what-if)",
            shifts=tuple(shifts),
            flow=flow,
            arrival_rate_per_hour=base.arrival_rate_per_hour
            * (1.0 + changes.arrivals_percent / 100.0),
        )
    except ScenarioError as error:
        raise ScenarioError(
            f"the changed scenario is impossible: {error}", where="changes", **error.details
        ) from None


def describe(base: Scenario, changes: ChangeSet) -> list[str]:
    """One line per change, in the scenario's terms ("boxes: 44 -> 48 spaces")."""
    changed = apply(base, changes)
    lines = []
    for d in changes.doctors:
        days = "" if set(d.days) == set(WEEKDAYS) else f" on {', '.join(d.days)}"
        lines.append(f"{d.change:+d} {d.specialty} doctor(s) {d.start}-{d.end}{days}")
    if base.flow_active:
        for old, new in zip(base.flow.areas, changed.flow.areas, strict=True):
            if old.spaces != new.spaces:
                lines.append(f"{old.name}: {old.spaces} -> {new.spaces} spaces")
        for old_w, new_w in zip(base.flow.wards, changed.flow.wards, strict=True):
            if old_w.beds != new_w.beds:
                lines.append(f"{old_w.name}: {old_w.beds} -> {new_w.beds} beds")
    if changes.arrivals_percent:
        lines.append(
            f"arrivals {changes.arrivals_percent:+g} %: {base.arrival_rate_per_hour:g} -> "
            f"{changed.arrival_rate_per_hour:.4g} patients/hour"
        )
    if changes.diagnostics_factor != 1.0:
        lines.append(
            f"diagnostics turnaround x{changes.diagnostics_factor:g}: "
            f"{base.flow.diagnostics_mean_minutes:g} -> "
            f"{changed.flow.diagnostics_mean_minutes:.4g} min"
        )
    if changes.discharge_hours_earlier:
        lines.append(f"ward discharges {changes.discharge_hours_earlier:+d} h earlier in the day")
    if changes.ward_stay_hours:
        lines.append(f"ward stays {changes.ward_stay_hours:+g} h")
    if changes.boarding_hours_sooner:
        line = f"admitted patients leave for a bed {changes.boarding_hours_sooner:g} h sooner"
        sooner = changed.flow.boarding_sooner_minutes - base.flow.boarding_sooner_minutes
        if base.flow_active and sooner:
            line += f" (each fitted boarder {sooner:.4g} min sooner, not before the bed request)"
        lines.append(line)
    return lines or ["no change (the null what-if: both arms are the same scenario)"]
