"""The recorder: a run's results by hour, day and month, and its KPIs.

Everything is computed from the result's flat per-patient and per-duty-period
arrays with NumPy (``bincount``, ``searchsorted``), never row by row. State
(patients waiting, in treatment, doctors on duty and busy) is *time-averaged*
exactly over each hour from the intervals themselves, so it does not depend
on the snapshot step: the mean number waiting in an hour is the integral of
the waiting count over that hour divided by 60 minutes.

Minute-level state is what the engine's snapshots sample (step 1 in live mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hospiflow.simulation.engine import SimulationResult


def integral_at(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """∫₋∞^t N(u) du at each t in ``points``, N(u) = number of intervals [start, end) holding u.

    Uses Σ_{start<t} (t − start) − Σ_{end<t} (t − end), with sorted starts/ends
    and prefix sums: O((n + m) log n).
    """
    a = np.sort(starts)
    b = np.sort(ends)
    ca = np.concatenate(([0.0], np.cumsum(a)))
    cb = np.concatenate(([0.0], np.cumsum(b)))
    na = np.searchsorted(a, points, side="left")
    nb = np.searchsorted(b, points, side="left")
    integral: np.ndarray = (na * points - ca[na]) - (nb * points - cb[nb])
    return integral


def slot_means(starts: np.ndarray, ends: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """Time-averaged number of open intervals within each [boundaries[k], boundaries[k+1])."""
    if len(starts) == 0:
        return np.zeros(len(boundaries) - 1)
    area = integral_at(boundaries, starts, ends)
    return np.diff(area) / np.diff(boundaries)


def grouped_quantile(groups: np.ndarray, values: np.ndarray, n_groups: int, q: float) -> np.ndarray:
    """Per-group quantile (NumPy's default linear interpolation); NaN values ignored."""
    keep = ~np.isnan(values)
    g = groups[keep]
    v = values[keep]
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    counts = np.bincount(g, minlength=n_groups)
    first = np.cumsum(counts) - counts
    result = np.full(n_groups, np.nan)
    has = counts > 0
    position = (counts[has] - 1) * q
    low = np.floor(position).astype(np.int64)
    high = np.ceil(position).astype(np.int64)
    fraction = position - low
    lo_values = v[first[has] + low]
    hi_values = v[first[has] + high]
    result[has] = lo_values + (hi_values - lo_values) * fraction
    return result


def grouped_mean(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group mean ignoring NaN; NaN for empty groups."""
    keep = ~np.isnan(values)
    counts = np.bincount(groups[keep], minlength=n_groups)
    sums = np.bincount(groups[keep], weights=values[keep], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class HourlyState:
    """Per reported hour (rows) and specialty (columns), time-averaged."""

    arrivals: np.ndarray
    waiting: np.ndarray
    in_treatment: np.ndarray
    doctors_on_duty: np.ndarray
    mean_wait: np.ndarray
    left_without_being_seen: np.ndarray

    @property
    def utilisation(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                self.doctors_on_duty > 0, self.in_treatment / self.doctors_on_duty, np.nan
            )


def reported_hour_of(result: SimulationResult, minutes: np.ndarray) -> np.ndarray:
    """Index of the reported hour holding each time (may be out of range)."""
    return np.floor(minutes / 60.0).astype(np.int64)


def hourly_state(result: SimulationResult) -> HourlyState:
    """Arrivals, state and waits for every reported hour and specialty (computed once per result).

    The CSV reports and the store's rollups both need it at the end of a run.
    """
    cached = result.derived.get("hourly_state")
    if cached is None:
        cached = result.derived["hourly_state"] = _hourly_state(result)
    return cached


def _hourly_state(result: SimulationResult) -> HourlyState:
    cal = result.calendar
    hours = cal.horizon_hours
    n_spec = len(result.run.specialties)
    boundaries = 60.0 * np.arange(hours + 1, dtype=float)
    shape = (hours, n_spec)
    waiting = np.zeros(shape)
    in_treatment = np.zeros(shape)
    on_duty = np.zeros(shape)
    for s in range(n_spec):
        m = result.state_specialty == s
        waiting[:, s] = slot_means(result.state_arrival[m], result.state_start[m], boundaries)
        if result.flow is not None:  # doctors' contacts (first assessment, reassessment)
            b = result.flow.busy_specialty == s
            in_treatment[:, s] = slot_means(
                result.flow.busy_start[b], result.flow.busy_end[b], boundaries
            )
        else:
            treated = m & (result.state_end > result.state_start)
            in_treatment[:, s] = slot_means(
                result.state_start[treated], result.state_end[treated], boundaries
            )
        d = result.doctor_specialty[result.duty_doctor] == s
        on_duty[:, s] = slot_means(result.duty_start[d], result.duty_end[d], boundaries)
    hour = reported_hour_of(result, result.arrival)
    inside = (hour >= 0) & (hour < hours)
    cell = hour[inside] * n_spec + result.specialty[inside]
    size = hours * n_spec
    arrivals = np.bincount(cell, minlength=size).reshape(shape)
    lwbs = np.bincount(cell, weights=~np.isnan(result.left[inside]), minlength=size)
    mean_wait = grouped_mean(cell, result.wait[inside], size).reshape(shape)
    return HourlyState(
        arrivals=arrivals,
        waiting=waiting,
        in_treatment=in_treatment,
        doctors_on_duty=on_duty,
        mean_wait=mean_wait,
        left_without_being_seen=lwbs.reshape(shape).astype(np.int64),
    )


@dataclass(frozen=True)
class GroupStats:
    """Counts and wait statistics of patients grouped by some key (flattened groups)."""

    arrivals: np.ndarray
    treated: np.ndarray
    left_without_being_seen: np.ndarray
    mean_wait: np.ndarray
    p50_wait: np.ndarray
    p90_wait: np.ndarray
    mean_treatment: np.ndarray


def group_stats(result: SimulationResult, groups: np.ndarray, n_groups: int) -> GroupStats:
    """Statistics of patients per group id (patients with a negative id are ignored)."""
    keep = groups >= 0
    g = groups[keep]
    wait = result.wait[keep]
    treated = ~np.isnan(result.start[keep])
    return GroupStats(
        arrivals=np.bincount(g, minlength=n_groups),
        treated=np.bincount(g, weights=treated, minlength=n_groups).astype(np.int64),
        left_without_being_seen=np.bincount(
            g, weights=~np.isnan(result.left[keep]), minlength=n_groups
        ).astype(np.int64),
        mean_wait=grouped_mean(g, wait, n_groups),
        p50_wait=grouped_quantile(g, wait, n_groups, 0.5),
        p90_wait=grouped_quantile(g, wait, n_groups, 0.9),
        mean_treatment=grouped_mean(g, result.treatment_minutes[keep], n_groups),
    )


def day_of(result: SimulationResult, minutes: np.ndarray) -> np.ndarray:
    """Local day index (0 = start_date) of each time, through the calendar's slots."""
    cal = result.calendar
    slot = np.clip(np.floor(minutes / 60.0).astype(np.int64) + cal.warmup_hours, 0, cal.n_slots - 1)
    return cal.day_index[slot]


def month_of(result: SimulationResult, minutes: np.ndarray) -> np.ndarray:
    """Local month index (0 = start month) of each time."""
    cal = result.calendar
    slot = np.clip(np.floor(minutes / 60.0).astype(np.int64) + cal.warmup_hours, 0, cal.n_slots - 1)
    return cal.month_index[slot]


def reported_days(result: SimulationResult) -> np.ndarray:
    """Local day indices covered by the reported hours."""
    cal = result.calendar
    return np.unique(cal.day_index[cal.reported_slots()])


def reported_months(result: SimulationResult) -> np.ndarray:
    """Local month indices covered by the reported hours."""
    cal = result.calendar
    return np.unique(cal.month_index[cal.reported_slots()])


def hour_groups_by_month(result: SimulationResult) -> np.ndarray:
    """Month index of each reported hour."""
    cal = result.calendar
    return cal.month_index[cal.reported_slots()]


def kpis(
    result: SimulationResult, hourly: HourlyState | None = None
) -> list[tuple[str, str, float, str]]:
    """Global performance metrics: (metric, scope, value, unit), scope a specialty or 'all'."""
    hourly = hourly or hourly_state(result)
    specialties = result.run.specialties
    rows: list[tuple[str, str, float, str]] = []
    days = result.calendar.horizon_hours / 24.0
    scopes = [("all", np.ones(result.n_patients, dtype=bool), slice(None))]
    scopes += [(code, result.specialty == s, slice(s, s + 1)) for s, code in enumerate(specialties)]
    for scope, mask, cols in scopes:
        wait = result.wait[mask]
        treated = ~np.isnan(wait)
        n = int(mask.sum())
        lwbs = int((~np.isnan(result.left[mask])).sum())
        finished = int(treated.sum())
        los = ((result.end - result.arrival) if result.flow is None else result.flow_los)[mask]
        busy = hourly.in_treatment[:, cols].sum(axis=1)
        duty = hourly.doctors_on_duty[:, cols].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            hour_util = np.where(duty > 0, busy / duty, np.nan)
        present = (hourly.waiting[:, cols] + hourly.in_treatment[:, cols]).sum(axis=1)
        rows += [
            ("arrivals", scope, n, "patients"),
            ("treated", scope, finished, "patients"),
            ("left_without_being_seen", scope, lwbs, "patients"),
            ("lwbs_rate", scope, lwbs / n if n else np.nan, "share"),
            ("unfinished_at_end", scope, n - finished - lwbs, "patients"),
            ("throughput_per_day", scope, finished / days if days else np.nan, "patients/day"),
            ("wait_mean", scope, _nanmean(wait), "minutes"),
            ("wait_p50", scope, _nanquantile(wait, 0.5), "minutes"),
            ("wait_p90", scope, _nanquantile(wait, 0.9), "minutes"),
            (
                "p_wait_positive",
                scope,
                float((wait[treated] > 0).mean()) if finished else np.nan,
                "share",
            ),
            ("treatment_mean", scope, _nanmean(result.treatment_minutes[mask]), "minutes"),
            ("length_of_stay_mean", scope, _nanmean(los), "minutes"),
            ("utilisation", scope, busy.sum() / duty.sum() if duty.sum() > 0 else np.nan, "share"),
            ("doctor_hours", scope, float(duty.sum()), "hours"),
            (
                "mean_patients_present",
                scope,
                float(present.mean()) if len(present) else np.nan,
                "patients",
            ),
            (
                "mean_waiting",
                scope,
                float(hourly.waiting[:, cols].sum(axis=1).mean()) if len(present) else np.nan,
                "patients",
            ),
            (
                "peak_hour_arrivals",
                scope,
                float(hourly.arrivals[:, cols].sum(axis=1).max()) if len(present) else 0.0,
                "patients",
            ),
            (
                "peak_hour_waiting",
                scope,
                float(hourly.waiting[:, cols].sum(axis=1).max()) if len(present) else 0.0,
                "patients",
            ),
            ("hours_utilisation_ge_0_9", scope, int(np.nansum(hour_util >= 0.9)), "hours"),
        ]
        if result.flow is not None:
            rows += _flow_rows(result, scope, mask)
    if result.flow is not None:
        rows += _resource_rows(result)
    return rows


ACUITY_LEVELS = (1, 2, 3, 4, 5)


def _flow_rows(
    result: SimulationResult, scope: str, mask: np.ndarray
) -> list[tuple[str, str, float, str]]:
    """The flow's measures for one scope: waits by acuity, stays, dispositions, boarding."""
    flow = result.flow
    assert flow is not None
    wait = result.wait[mask]
    acuity = flow.acuity[mask]
    disposition = flow.disposition[mask]
    los = result.flow_los[mask]
    gone = ~np.isnan(los)
    n = int(mask.sum())
    admitted = disposition == 2
    # boarding: every patient a bed was asked for, admitted or transferred for want of one
    bed_request = flow.bed_request[mask]
    asked = ~np.isnan(bed_request)
    boarding = (flow.departure[mask] - bed_request)[asked]
    rows: list[tuple[str, str, float, str]] = []
    for level in ACUITY_LEVELS:
        at = acuity == level
        rows += [
            (f"door_to_doctor_mean_acuity_{level}", scope, _nanmean(wait[at]), "minutes"),
            (f"door_to_doctor_p50_acuity_{level}", scope, _nanquantile(wait[at], 0.5), "minutes"),
            (f"arrivals_acuity_{level}", scope, int(at.sum()), "patients"),
        ]

    def share(k: int) -> float:
        return int((disposition == k).sum()) / n if n else np.nan

    rows += [
        ("length_of_stay_p50", scope, _nanquantile(los, 0.5), "minutes"),
        ("length_of_stay_p90", scope, _nanquantile(los, 0.9), "minutes"),
        (
            "share_within_4h",
            scope,
            float((los[gone] <= 240).mean()) if gone.any() else np.nan,
            "share",
        ),
        (
            "share_over_12h",
            scope,
            float((los[gone] > 720).mean()) if gone.any() else np.nan,
            "share",
        ),
        ("admissions", scope, int(admitted.sum()), "patients"),
        ("admission_rate", scope, share(2), "share"),
        ("transfers", scope, int((disposition == 3).sum()), "patients"),
        ("transfers_no_bed", scope, int(((disposition == 3) & asked).sum()), "patients"),
        ("deaths", scope, int((disposition == 5).sum()), "patients"),
        ("boarding_mean", scope, _nanmean(boarding), "minutes"),
        ("boarding_p90", scope, _nanquantile(boarding, 0.9), "minutes"),
        ("boarding_hours", scope, float(np.nansum(boarding)) / 60.0, "hours"),
        ("boarding_over_4h", scope, int((boarding > 240).sum()), "patients"),
    ]
    asked = ~np.isnan(flow.consult_request)
    if asked.any():  # shared emergency physicians: the specialists' consults
        consult_wait = (flow.consult_start - flow.consult_request)[mask & asked]
        rows += [
            ("consults", scope, int((mask & asked).sum()), "patients"),
            ("consult_wait_mean", scope, _nanmean(consult_wait), "minutes"),
            ("consult_wait_p90", scope, _nanquantile(consult_wait, 0.9), "minutes"),
        ]
    return rows


def _resource_rows(result: SimulationResult) -> list[tuple[str, str, float, str]]:
    """Time-averaged spaces in use, boarders and ward beds in use over the reported period."""
    flow = result.flow
    assert flow is not None
    edges = np.array([0.0, result.calendar.horizon_minute])
    rows: list[tuple[str, str, float, str]] = []
    spaces = 0.0
    for a, (name, capacity) in enumerate(zip(flow.area_names, flow.area_spaces, strict=True)):
        m = flow.space_area == a
        used = float(slot_means(flow.space_start_all[m], flow.space_end_all[m], edges)[0])
        spaces += used
        rows.append((f"spaces_in_use_mean:{name}", "all", used, "spaces"))
        if capacity:
            rows.append((f"spaces_occupancy:{name}", "all", used / capacity, "share"))
    rows.append(("spaces_in_use_mean", "all", spaces, "spaces"))
    capacity = sum(flow.area_spaces)
    if capacity and all(flow.area_spaces):
        rows.append(("spaces_occupancy", "all", spaces / capacity, "share"))
    boarders = float(slot_means(flow.board_start, flow.board_end, edges)[0])
    rows.append(("boarding_mean_patients", "all", boarders, "patients"))
    beds_used = 0.0
    for w, (name, beds) in enumerate(zip(flow.ward_names, flow.ward_beds, strict=True)):
        m = flow.stay_ward == w
        used = float(slot_means(flow.stay_start[m], flow.stay_end[m], edges)[0])
        beds_used += used
        rows.append((f"ward_occupancy:{name}", "all", used / beds, "share"))
    if flow.ward_beds:
        rows.append(("ward_beds_in_use_mean", "all", beds_used, "beds"))
        rows.append(("ward_occupancy", "all", beds_used / sum(flow.ward_beds), "share"))
    return rows


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def _nanquantile(values: np.ndarray, q: float) -> float:
    values = values[~np.isnan(values)]
    return float(np.quantile(values, q)) if len(values) else float("nan")
