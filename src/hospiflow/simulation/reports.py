"""The five CSV reports of a run (columns documented in ``docs/reports.md``).

``hourly_detail.csv``, ``daily_pathology_stats.csv``, ``treatments.csv``,
``monthly_summary.csv`` and ``performance_metrics.csv``. Each file is written
once, with ``csv.writer`` over plain lists (about twice as fast as
``DataFrame.to_csv`` here), numbers rounded to 3 decimals so the same seed
gives byte-identical files. Times are local ISO 8601 with their UTC offset.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np

from hospiflow.simulation.engine import SimulationResult
from hospiflow.simulation.events import RunInfo
from hospiflow.simulation.recorder import (
    HourlyState,
    day_of,
    group_stats,
    hour_groups_by_month,
    hourly_state,
    kpis,
    month_of,
    reported_days,
    reported_months,
)

REPORT_FILES = (
    "hourly_detail.csv",
    "daily_pathology_stats.csv",
    "treatments.csv",
    "monthly_summary.csv",
    "performance_metrics.csv",
)
DIGITS = 3


def local_times(result: SimulationResult, minutes: np.ndarray) -> list[str]:
    """ISO 8601 local times with offset, truncated to the second, for run minutes."""
    cal = result.calendar
    if len(minutes) == 0:
        return []
    slot = np.clip(np.floor(minutes / 60.0).astype(np.int64) + cal.warmup_hours, 0, cal.n_slots - 1)
    offsets = cal.offset_minutes[slot]
    base = np.datetime64(cal.start_utc.astimezone(UTC).replace(tzinfo=None), "s")
    # floor to the millisecond, then to the second: the store keeps epoch ms the same way
    milliseconds = np.floor(minutes * 60_000.0).astype(np.int64)
    seconds = milliseconds // 1000 + offsets * 60
    text = np.datetime_as_string(base + seconds.astype("timedelta64[s]"), unit="s")
    suffix = np.array([_offset_text(int(o)) for o in range(-1440, 1441)])[offsets + 1440]
    return np.char.add(text, suffix).tolist()


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _numbers(values: np.ndarray, digits: int = DIGITS) -> list[Any]:
    """Rounded floats, NaN as an empty cell."""
    return [
        None if v != v else v for v in np.round(np.asarray(values, dtype=float), digits).tolist()
    ]


def _write(path: Path, header: Sequence[str], columns: Sequence[Iterable[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*columns, strict=True))


def _day_labels(result: SimulationResult, days: np.ndarray) -> list[str]:
    start = np.datetime64(result.run.parameters["time"]["start_date"], "D")
    return np.datetime_as_string(start + days.astype("timedelta64[D]"), unit="D").tolist()


def _month_labels(result: SimulationResult, months: np.ndarray) -> list[str]:
    start = np.datetime64(result.run.parameters["time"]["start_date"][:7], "M")
    return np.datetime_as_string(start + months.astype("timedelta64[M]"), unit="M").tolist()


def write_hourly_detail(
    result: SimulationResult, path: Path, hourly: HourlyState | None = None
) -> None:
    """Per hour and specialty: arrivals, time-averaged state, utilisation, mean wait."""
    hourly = hourly or hourly_state(result)
    hours, n_spec = hourly.arrivals.shape
    hour_labels = local_times(result, 60.0 * np.arange(hours))
    _write(
        path,
        (
            "hour",
            "specialty",
            "arrivals",
            "waiting",
            "in_treatment",
            "doctors_on_duty",
            "doctors_busy",
            "utilisation",
            "mean_wait_minutes",
            "left_without_being_seen",
        ),
        (
            np.repeat(np.array(hour_labels, dtype=object), n_spec).tolist(),
            list(result.run.specialties) * hours,
            hourly.arrivals.ravel().tolist(),
            _numbers(hourly.waiting.ravel()),
            _numbers(hourly.in_treatment.ravel()),
            _numbers(hourly.doctors_on_duty.ravel()),
            _numbers(hourly.in_treatment.ravel()),
            _numbers(hourly.utilisation.ravel()),
            _numbers(hourly.mean_wait.ravel()),
            hourly.left_without_being_seen.ravel().tolist(),
        ),
    )


def write_daily_pathology_stats(result: SimulationResult, path: Path) -> None:
    """Per local day and pathology: arrivals, treated, waits and treatment time."""
    days = reported_days(result)
    first = int(days[0]) if len(days) else 0
    n_days = len(days)
    catalog = result.catalog
    n_path = len(catalog.pathologies)
    day = day_of(result, result.arrival) - first
    groups = np.where((day >= 0) & (day < n_days), day * n_path + result.pathology, -1)
    stats = group_stats(result, groups, n_days * n_path)
    _write(
        path,
        (
            "date",
            "pathology",
            "icd10",
            "specialty",
            "arrivals",
            "treated",
            "left_without_being_seen",
            "mean_wait_minutes",
            "p90_wait_minutes",
            "mean_treatment_minutes",
        ),
        (
            np.repeat(np.array(_day_labels(result, days), dtype=object), n_path).tolist(),
            list(catalog.pathology_codes) * n_days,
            [p.icd10 for p in catalog.pathologies] * n_days,
            [p.specialty for p in catalog.pathologies] * n_days,
            stats.arrivals.tolist(),
            stats.treated.tolist(),
            stats.left_without_being_seen.tolist(),
            _numbers(stats.mean_wait),
            _numbers(stats.p90_wait),
            _numbers(stats.mean_treatment),
        ),
    )


def patient_pseudonym(number: int) -> str:
    """The pseudonymous id of a simulated patient (no real identity exists)."""
    return f"SIM-{number:07d}"


def write_treatments(result: SimulationResult, path: Path) -> None:
    """One row per treatment, in arrival order."""
    treated = np.flatnonzero(~np.isnan(result.start))
    catalog = result.catalog
    pathologies = catalog.pathologies
    path_codes = [pathologies[j].code for j in range(len(pathologies))]
    icd = [pathologies[j].icd10 for j in range(len(pathologies))]
    specialties = result.run.specialties
    doctors = [d.code for d in result.run.doctors]
    j = result.pathology[treated].tolist()
    _write(
        path,
        (
            "patient_id",
            "pathology",
            "icd10",
            "specialty",
            "doctor",
            "arrival",
            "start",
            "end",
            "wait_minutes",
            "treatment_minutes",
        ),
        (
            [patient_pseudonym(n) for n in treated.tolist()],
            [path_codes[k] for k in j],
            [icd[k] for k in j],
            [specialties[s] for s in result.specialty[treated].tolist()],
            [doctors[d] for d in result.doctor[treated].tolist()],
            local_times(result, result.arrival[treated]),
            local_times(result, result.start[treated]),
            local_times(result, result.end[treated]),
            _numbers(result.wait[treated]),
            _numbers(result.treatment_minutes[treated]),
        ),
    )


def write_monthly_summary(
    result: SimulationResult, path: Path, hourly: HourlyState | None = None
) -> None:
    """Per local month and specialty: volumes, waits, doctor hours and utilisation."""
    months = reported_months(result)
    first = int(months[0]) if len(months) else 0
    n_months = len(months)
    n_spec = len(result.run.specialties)
    month = month_of(result, result.arrival) - first
    groups = np.where(
        (month >= 0) & (month < n_months) & (result.arrival < result.calendar.horizon_minute),
        month * n_spec + result.specialty,
        -1,
    )
    stats = group_stats(result, groups, n_months * n_spec)
    hourly = hourly or hourly_state(result)
    hour_month = hour_groups_by_month(result) - first
    duty = np.zeros((n_months, n_spec))
    busy = np.zeros((n_months, n_spec))
    waiting = np.zeros((n_months, n_spec))
    hours_in_month = np.bincount(hour_month, minlength=n_months)
    for s in range(n_spec):
        duty[:, s] = np.bincount(
            hour_month, weights=hourly.doctors_on_duty[:, s], minlength=n_months
        )
        busy[:, s] = np.bincount(hour_month, weights=hourly.in_treatment[:, s], minlength=n_months)
        waiting[:, s] = np.bincount(hour_month, weights=hourly.waiting[:, s], minlength=n_months)
    with np.errstate(invalid="ignore", divide="ignore"):
        utilisation = np.where(duty > 0, busy / duty, np.nan)
        mean_waiting = waiting / hours_in_month[:, None]
    _write(
        path,
        (
            "month",
            "specialty",
            "arrivals",
            "treated",
            "left_without_being_seen",
            "mean_wait_minutes",
            "p50_wait_minutes",
            "p90_wait_minutes",
            "mean_treatment_minutes",
            "mean_waiting",
            "doctor_hours",
            "busy_hours",
            "utilisation",
        ),
        (
            np.repeat(np.array(_month_labels(result, months), dtype=object), n_spec).tolist(),
            list(result.run.specialties) * n_months,
            stats.arrivals.tolist(),
            stats.treated.tolist(),
            stats.left_without_being_seen.tolist(),
            _numbers(stats.mean_wait),
            _numbers(stats.p50_wait),
            _numbers(stats.p90_wait),
            _numbers(stats.mean_treatment),
            _numbers(mean_waiting.ravel()),
            _numbers(duty.ravel()),
            _numbers(busy.ravel()),
            _numbers(utilisation.ravel()),
        ),
    )


MetricRow = tuple[str, str, float, str]


def write_performance_metrics(path: Path, replications: Sequence[Sequence[MetricRow]]) -> None:
    """Global KPIs; with several replications, their mean and a 95 % t confidence interval."""
    first = replications[0]
    n = len(replications)
    values = np.array([[row[2] for row in rep] for rep in replications], dtype=float)
    mean = np.nanmean(values, axis=0) if n > 1 else values[0]
    low: list[Any] = [None] * len(first)
    high: list[Any] = [None] * len(first)
    if n > 1:
        from scipy import stats  # imported here: a single run does not pay for scipy

        sd = np.nanstd(values, axis=0, ddof=1)
        half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        low = _numbers(mean - half, 4)
        high = _numbers(mean + half, 4)
    _write(
        path,
        ("metric", "scope", "value", "unit", "ci95_low", "ci95_high", "replications"),
        (
            [row[0] for row in first],
            [row[1] for row in first],
            _numbers(mean, 4),
            [row[3] for row in first],
            low,
            high,
            [n] * len(first),
        ),
    )


def write_reports(
    result: SimulationResult,
    out_dir: Path,
    other_replications: Sequence[Sequence[MetricRow]] = (),
) -> list[Path]:
    """Write the five reports of ``result`` into ``out_dir``; return their paths.

    ``other_replications`` are the KPIs of replications 2..N of the same
    scenario: ``performance_metrics.csv`` then holds the mean and 95 % CI.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    hourly = hourly_state(result)
    write_hourly_detail(result, paths[0], hourly)
    write_daily_pathology_stats(result, paths[1])
    write_treatments(result, paths[2])
    write_monthly_summary(result, paths[3], hourly)
    write_performance_metrics(paths[4], [kpis(result, hourly), *other_replications])
    return paths


class CsvReportSink:
    """A sink that writes the five reports when the run closes successfully."""

    wants_events = False

    def __init__(
        self, out_dir: Path, other_replications: Sequence[Sequence[MetricRow]] = ()
    ) -> None:
        self.out_dir = Path(out_dir)
        self.paths: list[Path] = []
        self.other_replications = other_replications

    def open(self, run: RunInfo) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def write_events(self, events: Sequence[Any]) -> None:  # pragma: no cover - not wanted
        pass

    def write_snapshots(self, snapshots: Sequence[Any]) -> None:
        pass

    def write_visits(self, visits: Sequence[Any]) -> None:  # pragma: no cover - not wanted
        pass

    def close(self, result: SimulationResult | None) -> None:
        if result is not None:
            self.paths = write_reports(result, self.out_dir, self.other_replications)
