"""From a site's history to a calibrated scenario: each part estimated, or listed with
the default used and why.

What the simulator runs (``[flow]``, ``simulation.flowconfig``) and what visits show
are matched like this:

- the door-to-doctor wait is the flow's triage delay (its mean), doctors being
  sized so they do not add a queue the data cannot show (``capacity``);
- a doctor's *care* is the time from the first doctor to the decision (leaving, or
  the bed request of an admitted patient): its mean per pathology is the catalog's
  treatment time, its family (AIC) and spread the scenario's treatment distribution;
  diagnostics are inside it (the visits do not time them);
- an admitted patient then *boards* until a bed frees: measured from bed-request
  times where the source has them, else by deconvolution of moments (boarding =
  time after the first doctor of admitted patients − the care time of their
  pathologies, means and variances, assuming independence);
- wards are not modelled (their beds are not in the data): the boarding time is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hospiflow.calibration import capacity, exitblock
from hospiflow.calibration.arrivals import RECENT_DAYS, ArrivalFit, fit_arrivals
from hospiflow.calibration.dispositions import AGE_BANDS, fit_dispositions, fit_mix
from hospiflow.calibration.distributions import FAMILIES, DistributionFit, fit_times, quantile
from hospiflow.calibration.history import History, local_midnight_ms
from hospiflow.calibration.survival import fit_patience
from hospiflow.catalog import load_catalog
from hospiflow.records import Disposition
from hospiflow.simulation.flowconfig import LEVELS, Area, FlowConfig, PathologyFlow
from hospiflow.simulation.scenario import Scenario, Shift

MIN_PATHOLOGY = 30  # visits below which a pathology keeps the catalog's treatment time
_ADMITTED = int(Disposition.ADMITTED)
_LWBS = int(Disposition.LEFT_WITHOUT_BEING_SEEN)


@dataclass(frozen=True)
class ReportRow:
    """One line of the fit report CSV."""

    section: str
    item: str
    value: float | str | None
    unit: str = ""
    n: int | None = None
    method: str = ""
    note: str = ""


@dataclass(frozen=True)
class NotEstimated:
    """A parameter the data could not give, the default used instead, and why."""

    item: str
    default: str
    reason: str


@dataclass
class Calibration:
    """A fitted scenario (without its catalog path yet), its catalog and its report."""

    site: str
    timezone: str
    start: str
    until: str
    fields: dict[str, Any]
    catalog_toml: str
    report: list[ReportRow] = field(default_factory=list)
    not_estimated: list[NotEstimated] = field(default_factory=list)
    plots: dict[str, Any] = field(default_factory=dict)  # the fit beside the data (dashboard)

    def scenario(self, catalog_path: Path, **changes: Any) -> Scenario:
        """The scenario, reading its catalog from ``catalog_path`` (written by ``writer``)."""
        return Scenario(catalog=str(catalog_path), **{**self.fields, **changes})


def calibrate(
    history: History, country: str = "FR", step: Callable[[str], None] | None = None
) -> Calibration:
    """Estimate every part of the scenario from ``history``."""
    say = step or (lambda _name: None)
    visits = history.visits
    report: list[ReportRow] = []
    missing: list[NotEstimated] = []
    catalog = load_catalog()

    say("arrivals")
    arrivals = fit_arrivals(
        visits["local_ms"].to_numpy(),
        local_midnight_ms(history.start, "UTC"),
        local_midnight_ms(history.end, "UTC"),
        country,
    )
    _arrival_rows(arrivals, report, missing)

    say("pathology mix")
    known = visits[visits["pathology"].notna()]
    unmapped = len(visits) - len(known)
    report.append(
        ReportRow(
            "mix",
            "unmapped diagnoses",
            round(unmapped / len(visits), 4),
            "share",
            unmapped,
            "counted in the arrival rate, spread over the known mix",
        )
    )
    codes = [p.code for p in catalog.pathologies if (known["pathology"] == p.code).any()]
    month = pd.to_datetime(known["local_ms"], unit="ms").dt.month.to_numpy()
    share = known["pathology"].value_counts(normalize=True)
    recent = known["local_ms"].to_numpy() >= local_midnight_ms(
        history.end - timedelta(days=RECENT_DAYS), "UTC"
    )
    monthly_mix = _monthly_factors(known["pathology"].to_numpy(), month, recent, codes, arrivals)
    mix = fit_mix(known)
    for code in codes:
        report.append(
            ReportRow(
                "mix", code, round(float(share[code]), 4), "share", int(share[code] * len(known))
            )
        )
    if mix.acuity is None:
        missing.append(
            NotEstimated("acuity mix", "all patients at level 3", "acuity is not in the data")
        )
    else:
        report.append(ReportRow("mix", "acuity levels 1..5", str(mix.acuity), "shares"))
    if mix.age is None:
        missing.append(NotEstimated("age mix", "0.2, 0.4, 0.25, 0.15", "ages are not in the data"))
    else:
        report.append(ReportRow("mix", f"age bands {AGE_BANDS}", str(mix.age), "shares"))

    say("care times")
    seen = visits[visits["wait"].notna() & np.isfinite(visits["los"])]
    post = (seen["los"] - seen["wait"]).clip(lower=0.0)
    admitted = seen["disposition"] == _ADMITTED
    has_request = seen["bed_request_ms"].notna()
    care = post.where(~admitted)
    request_care = (seen["bed_request_ms"] - seen["arrival_ms"]) / 60_000 - seen["wait"]
    # care ends at the bed request: for the admitted, and for boarders transferred for
    # want of a bed (a boarding limit), whose time after it is boarding, not care
    care = care.where(~has_request, request_care)
    fits: dict[str, DistributionFit] = {}
    means: dict[str, float] = {}
    observed_care: dict[str, tuple[int, float, float]] = {}  # n, p50, p90
    for p in catalog.pathologies:
        if p.code not in codes:
            continue
        sample = care[(seen["pathology"] == p.code)].dropna().to_numpy()
        fitted = fit_times(sample) if len(sample) >= MIN_PATHOLOGY else None
        if fitted is None:
            means[p.code] = p.mean_treatment_minutes
            missing.append(
                NotEstimated(
                    f"care time of {p.code}",
                    f"{p.mean_treatment_minutes:g} min (catalog)",
                    f"{len(sample)} timed visits (< {MIN_PATHOLOGY})",
                )
            )
            continue
        fits[p.code] = fitted
        means[p.code] = round(float(np.mean(sample)), 2)
        observed_care[p.code] = (len(sample), *np.percentile(sample, [50, 90]).tolist())
        for f in fitted.fits:
            report.append(
                ReportRow(
                    "care time",
                    f"{p.code} {f.family}",
                    round(f.mean, 2),
                    "min (mean)",
                    fitted.n,
                    f"MLE; AIC {f.aic:.1f}; cv {f.cv:.3f}",
                    "chosen" if f is fitted.best else "",
                )
            )
    family, cv = _family(fits)
    plots: dict[str, Any] = {
        "arrivals": {
            "observed": plot_values(arrivals.hour_of_week),
            "fitted": plot_values(arrivals.fitted_hour_of_week),
        },
        "care_time": _care_plot(observed_care, means, family, cv),
    }
    report.append(
        ReportRow(
            "care time",
            "scenario distribution",
            family,
            "",
            sum(f.n for f in fits.values()),
            "family with the smallest total AIC over pathologies; cv its visit-weighted mean",
            f"cv {cv:.3f}",
        )
    )
    missing.append(
        NotEstimated(
            "diagnostics (share, turnaround)",
            "inside the care time (diagnostics_share = 0)",
            "the visits do not time labs or imaging",
        )
    )

    say("boarding")
    triage_profile = _hour_profile(seen["wait"], seen["local_ms"], week=True)
    first_seen_local = seen["local_ms"] + seen["wait"] * 60_000
    treatment_profile = _hour_profile(care, first_seen_local)
    report.append(
        ReportRow("wait", "door to doctor by hour of arrival", str(triage_profile), "× mean")
    )
    report.append(
        ReportRow("care time", "by hour of the first doctor", str(treatment_profile), "× mean")
    )
    boarding = _boarding(
        seen, post, admitted, has_request, care, treatment_profile, report, missing
    )

    triage_days: tuple[float, ...] = ()
    wait_factor = None
    if boarding.days and len(seen):
        triage_days, wait_factor = _wait_days(
            seen, triage_profile, boarding.first_day, len(boarding.days)
        )
        report.append(
            ReportRow(
                "wait",
                "door to doctor by day",
                round(float(np.std(triage_days)), 4) if triage_days else None,
                "sd of the day factors",
                len(triage_days),
                "a day's mean wait / (mean × hour-of-week factor), redrawn with exit block's days",
            )
        )

    say("patience")
    patience = _patience(visits, mix.acuity is not None, report, missing)

    say("dispositions")
    dispositions = fit_dispositions(known)
    for name in ("admission", "transfer", "death", "left_unseen"):
        report.append(
            ReportRow(
                "disposition",
                name,
                round(getattr(dispositions, name), 4),
                "share",
                dispositions.known,
            )
        )
    for code, rate in dispositions.admission_by_pathology.items():
        report.append(
            ReportRow("admission", code, rate, "probability", None, "IPF pathology × age band")
        )
    if dispositions.age_factor is not None:
        report.append(
            ReportRow(
                "admission", "age band factors", str(dispositions.age_factor), "", None, "IPF"
            )
        )
    if dispositions.known == 0:
        missing.append(
            NotEstimated("dispositions", "nobody admitted", "no disposition in the data")
        )

    say("capacity")
    start_ms = local_midnight_ms(history.start, history.timezone)
    end_ms = local_midnight_ms(history.end, history.timezone)
    spaces, census = capacity.census_spaces(visits, start_ms, end_ms)
    declared = history.site.get("capacity_spaces")
    report.append(
        ReportRow(
            "capacity",
            "treatment spaces",
            int(declared) if declared else spaces,
            "spaces",
            len(census),
            "declared by the site"
            if declared
            else f"p{capacity.CENSUS_PERCENTILE} of the hourly census",
            f"census mean {census.mean():.1f}, max {census.max():.1f}",
        )
    )
    spec_of = {p.code: p.specialty for p in catalog.pathologies}
    spec_share: dict[str, float] = {}
    spec_care: dict[str, float] = {}
    for code in codes:
        s = spec_of[code]
        spec_share[s] = spec_share.get(s, 0.0) + float(share[code])
        spec_care[s] = spec_care.get(s, 0.0) + float(share[code]) * means[code]
    spec_care = {s: spec_care[s] / spec_share[s] for s in spec_share}
    shifts = _shifts(history, visits, arrivals, spec_share, spec_care, report, missing)

    overrides: dict[str, PathologyFlow] = {}
    for code in codes:
        overrides[code] = PathologyFlow(
            acuity_mix=mix.acuity_by_pathology.get(code),
            age_mix=mix.age_by_pathology.get(code),
            admission=dispositions.admission_by_pathology.get(code),
        )
    flow = FlowConfig(
        enabled=True,
        triage_scale="CCMU",
        acuity_mix=mix.acuity or (0.0, 0.0, 1.0, 0.0, 0.0),
        triage_minutes=round(float(seen["wait"].mean()), 2) if len(seen) else 0.0,
        triage_cv=_wait_cv(seen, triage_profile, report, wait_factor),
        triage_days=triage_days,
        patience_minutes=patience,
        diagnostics_share=0.0,
        admission=round(dispositions.admission, 4),
        transfer=round(dispositions.transfer, 4),
        death=round(dispositions.death, 4),
        age_bands=AGE_BANDS,
        age_mix=mix.age or (0.2, 0.4, 0.25, 0.15),
        admission_age_factor=dispositions.age_factor or (1.0,) * len(AGE_BANDS),
        boarding_minutes=boarding.mean,
        boarding_cv=boarding.cv,
        boarding_profile=boarding.profile,
        boarding_days=boarding.days,
        boarding_block_days=boarding.block_days,
        boarding_level_days=boarding.level_days,
        boarding_monthly=boarding.monthly,
        triage_profile=triage_profile,
        treatment_profile=treatment_profile,
        areas=(Area("boxes", int(declared) if declared else spaces),),
        wards=(),
        pathologies=overrides,
    )
    report.append(
        ReportRow(
            "wait",
            "door to doctor",
            flow.triage_minutes,
            "min (mean)",
            len(seen),
            "the flow's triage delay",
        )
    )
    missing.append(
        NotEstimated("triage scale", "CCMU (5 most urgent)", "a site does not declare its scale")
    )
    missing.append(
        NotEstimated(
            "ward beds and stays",
            "no wards: boarding fitted instead (by hour of request and by day)",
            "ward census not in the data",
        )
    )
    if arrivals.holiday_factor is not None:
        missing.append(
            NotEstimated(
                "public holidays",
                "arrivals as on an ordinary day",
                f"measured factor {arrivals.holiday_factor:.2f} on {arrivals.holidays_seen} "
                "holidays, but the simulator has no holiday calendar",
            )
        )
    fields: dict[str, Any] = {
        "name": _name(history.site["name"]),
        "start_date": history.end,
        "timezone": history.timezone,
        "days": 365.0,
        "warmup_days": 7.0,
        "seed": 1,
        "arrival_rate_per_hour": round(arrivals.scenario_rate, 4),
        "hourly_profile": arrivals.hourly,
        "weekday_profile": arrivals.weekday,
        "monthly_profile": arrivals.monthly,
        "pathology_seasonality": True,
        "treatment_distribution": family,
        "treatment_cv": round(cv, 4),
        "routing": "pooled",
        "shifts": tuple(shifts),
        "flow": flow,
    }
    catalog_toml = _catalog_toml(catalog, codes, share, means, monthly_mix)
    return Calibration(
        site=history.site["name"],
        timezone=history.timezone,
        start=history.start.isoformat(),
        until=history.end.isoformat(),
        fields=fields,
        catalog_toml=catalog_toml,
        report=report,
        not_estimated=missing,
        plots=plots,
    )


def plot_values(values: Any) -> list[float | None]:
    """Plot values to 3 decimals, NaN as None (JSON has no NaN)."""
    return [round(float(v), 3) if np.isfinite(v) else None for v in values]


def _care_plot(
    observed: dict[str, tuple[int, float, float]], means: dict[str, float], family: str, cv: float
) -> dict[str, Any]:
    """Care time by pathology, most visits first: the observed median and 90th percentile
    beside the twin's (the scenario's family and cv with the pathology's mean), so a
    reader sees where one family for all pathologies fits and where it does not."""
    rows = [
        {
            "pathology": code,
            "n": n,
            "observed_p50": round(p50, 1),
            "observed_p90": round(p90, 1),
            "twin_p50": round(quantile(family, means[code], cv, 0.5), 1),
            "twin_p90": round(quantile(family, means[code], cv, 0.9), 1),
        }
        for code, (n, p50, p90) in sorted(observed.items(), key=lambda kv: -kv[1][0])
    ]
    return {"family": family, "cv": round(cv, 3), "pathologies": rows}


def _name(site: str) -> str:
    return "calibrated-" + (re.sub(r"[^a-z0-9]+", "-", site.lower()).strip("-") or "site")


def _arrival_rows(
    arrivals: ArrivalFit, report: list[ReportRow], missing: list[NotEstimated]
) -> None:
    report += [
        ReportRow(
            "arrivals",
            "rate",
            round(arrivals.rate_per_hour, 4),
            "per hour",
            arrivals.hours,
            "mean hourly count",
        ),
        ReportRow(
            "arrivals", "hourly profile", str(arrivals.hourly), "", None, "hour-of-day mean / rate"
        ),
        ReportRow(
            "arrivals", "weekday profile", str(arrivals.weekday), "", None, "weekday mean / rate"
        ),
        ReportRow(
            "arrivals", "monthly profile", str(arrivals.monthly), "", None, "month mean / rate"
        ),
        ReportRow(
            "arrivals",
            "hour × weekday product vs hour-of-week means",
            round(arrivals.separable_mape, 4),
            "MAPE",
            168,
            "how much the separable profiles lose",
        ),
        ReportRow(
            "arrivals",
            "overdispersion (Pearson)",
            round(arrivals.dispersion, 3),
            "variance / mean",
            arrivals.hours,
            "hourly counts around the fitted rate; 1 = Poisson",
            "the simulator draws Poisson counts" if arrivals.dispersion > 1.2 else "",
        ),
        ReportRow(
            "arrivals",
            "variance / mean of hourly counts",
            round(arrivals.variance_to_mean, 3),
            "",
            arrivals.hours,
        ),
        ReportRow(
            "arrivals",
            "public holiday factor",
            None if arrivals.holiday_factor is None else round(arrivals.holiday_factor, 3),
            "× same weekday",
            arrivals.holidays_seen,
        ),
    ]
    unseen = [m for m in range(1, 13) if m not in arrivals.months_seen]
    if unseen:
        missing.append(
            NotEstimated(
                "monthly profile and pathology mix of months " + ", ".join(str(m) for m in unseen),
                f"the level ({arrivals.recent:g} × the mean) and mix of the last {RECENT_DAYS} "
                "days",
                "the history does not cover them",
            )
        )


def _monthly_factors(
    pathology: np.ndarray,
    month: np.ndarray,
    recent: np.ndarray,
    codes: list[str],
    arrivals: ArrivalFit,
) -> dict[str, tuple[float, ...]]:
    """Each pathology's share in each month seen / its share overall; months unseen take
    its share over the ``recent`` visits (the last weeks: the latest level, as for the
    arrival rate, ``arrivals``). Counts get half a visit added so a month without a case
    keeps a small share."""
    out = {}
    for code in codes:
        mine = pathology == code
        overall = mine.mean()
        latest = (mine[recent].sum() + 0.5) / max(int(recent.sum()), 1) / overall
        factors = []
        for m in range(1, 13):
            in_month = month == m
            if m not in arrivals.months_seen or not in_month.any():
                factors.append(round(float(latest), 4) if recent.any() else 1.0)
                continue
            factors.append(round(float((mine[in_month].sum() + 0.5) / in_month.sum() / overall), 4))
        out[code] = tuple(factors)
    return out


def _family(fits: dict[str, DistributionFit]) -> tuple[str, float]:
    if not fits:
        return "exponential", 1.0
    totals = {
        family: sum(next(f.aic for f in fit.fits if f.family == family) for fit in fits.values())
        for family in FAMILIES
    }
    best = min(totals, key=lambda k: totals[k])
    weights = np.array([fit.n for fit in fits.values()], dtype=float)
    cvs = np.array([next(f.cv for f in fit.fits if f.family == best) for fit in fits.values()])
    cv = float((weights * cvs).sum() / weights.sum()) if best != "exponential" else 1.0
    return best, cv


def _hour_profile(values: pd.Series, local_ms: pd.Series, week: bool = False) -> tuple[float, ...]:
    """Mean of ``values`` by local hour of the day (or of the week: the local epoch began
    on a Thursday, hour 72 of a week from Monday) / overall mean; 1 for hours with < 10."""
    ok = values.notna() & local_ms.notna()
    length = 168 if week else 24
    epoch_shift = 72 if week else 0
    values = values[ok]
    hours = ((local_ms[ok] // 3_600_000 + epoch_shift) % length).astype(int)
    overall = float(values.mean()) if len(values) else 0.0
    if overall <= 0:
        return (1.0,) * 24
    grouped = values.groupby(hours.to_numpy()).agg(["mean", "count"])
    means = dict(zip(grouped.index.tolist(), grouped["mean"].tolist(), strict=True))
    counts = dict(zip(grouped.index.tolist(), grouped["count"].tolist(), strict=True))
    return tuple(
        round(max(float(means[h]) / overall, 0.05), 4) if counts.get(h, 0) >= 10 else 1.0
        for h in range(length)
    )


@dataclass(frozen=True)
class Boarding:
    """The fitted boarding of admitted patients (``[flow] boarding_*``)."""

    mean: float = 0.0
    cv: float = 1.0
    profile: tuple[float, ...] = (1.0,) * 24
    days: tuple[float, ...] = ()
    block_days: int = 7
    level_days: int = 0
    monthly: tuple[float, ...] = (1.0,) * 12
    first_day: int = 0  # local epoch day of days[0]


def _wait_days(
    seen: pd.DataFrame, profile: tuple[float, ...], first_day: int, n_days: int
) -> tuple[tuple[float, ...], np.ndarray]:
    """The door-to-doctor wait's day factors over the boarding days (``first_day`` on, in
    local epoch days): a day's mean of wait / (mean × its hour-of-week factor), days
    without a timed wait 1, scaled to mean 1; and each visit's factor. Crowding comes in
    the same episodes as exit block (boarders hold the spaces), so the simulator redraws
    both with the same blocks: a replication's blocked days are crowded days too."""
    wait = seen["wait"]
    hour = ((seen["local_ms"] // 3_600_000 + 72) % 168).astype(int).to_numpy()
    ratio = wait / (float(wait.mean()) * np.asarray(profile)[hour])
    day = (seen["local_ms"] // 86_400_000).astype(np.int64) - first_day
    inside = (day >= 0) & (day < n_days)
    by_day = ratio[inside].groupby(day[inside].to_numpy()).mean()
    factors = by_day.reindex(pd.RangeIndex(n_days)).fillna(1.0).clip(lower=0.0).to_numpy()
    if factors.sum() <= 0:
        return (), np.ones(len(seen))
    factors = factors / factors.mean()
    per_visit = np.where(inside, factors[np.clip(day.to_numpy(), 0, n_days - 1)], 1.0)
    return tuple(round(float(v), 4) for v in factors), per_visit


def _wait_cv(
    seen: pd.DataFrame,
    profile: tuple[float, ...],
    report: list[ReportRow],
    day_factor: np.ndarray | None = None,
) -> float:
    """The door-to-doctor wait's cv once its hour of the week (and day) is known: lognormal
    MLE (σ² = variance of the logs) of wait / (mean × the hour's factor × the day's), the
    triage delay's family. Queues spread waits far more than a nurse's triage (cv 0.5),
    and that tail is who is still waiting hours after an evening surge."""
    wait = seen["wait"]
    if len(wait) < 2 or float(wait.mean()) <= 0:
        return 0.5
    hour = ((seen["local_ms"] // 3_600_000 + 72) % 168).astype(int).to_numpy()
    ratio = (wait / (float(wait.mean()) * np.asarray(profile)[hour])).to_numpy()
    if day_factor is not None:
        ratio = ratio / np.where(day_factor > 0, day_factor, 1.0)
    logs = np.log(ratio[ratio > 0])
    if len(logs) < 2:
        return 0.5
    cv = round(min(max(float(np.sqrt(np.expm1(logs.var()))), 0.05), 5.0), 4)
    report.append(
        ReportRow(
            "wait",
            "door to doctor, spread",
            cv,
            "cv",
            len(wait),
            "lognormal MLE of wait / (mean × its hour-of-week and day factors): the triage "
            "delay's cv",
        )
    )
    return cv


def _boarding(
    seen: pd.DataFrame,
    post: pd.Series,
    admitted: pd.Series,
    has_request: pd.Series,
    care: pd.Series,
    by_hour_seen: tuple[float, ...],
    report: list[ReportRow],
    missing: list[NotEstimated],
) -> Boarding:
    """Mean, hour-of-request profile, day factors and cv of the boarding time of admitted
    patients.

    With bed-request times the boarding times are measured; without, by moments:
    boarding = time after the first doctor − the care time expected for the
    pathology at the hour of the first doctor (``treatment_profile``; means and, by the
    law of total variance, variances), the request hour taken as the first-seen hour
    plus that expected care time. The profile
    (mean boarding by local request hour / overall mean) carries exit block: a
    bed asked for at night waits for the morning. The day factors (a day's mean /
    the overall mean, ``exitblock``) carry exit block's episodes: the simulator redraws
    them in blocks, so replications differ as the site's weeks do. The cv is what is
    left once hour and day are known: boarding = mean × hour × day × ε, E ε = 1, and
    Var(boarding − mean × hour × day) = care noise + mean² E[(hour × day)²] cv².
    Exit block has a season (the wards fill in winter): each calendar month seen gets its
    mean day factor (``boarding_monthly``), divided out of the day factors
    (``exitblock.monthly_factors``); months not seen keep 1, the history's mean (the
    latest level was measured no better over eight weeks: docs/architecture.md).
    Exit block's level also drifts over weeks (the wards' load follows the seasons), and
    the weeks ahead may have any of the levels the site has had: each window of
    ``RECENT_DAYS`` days of a run takes the level of as many days of the history from a
    random start (``boarding_level_days``; with at least two such windows of history).
    """
    if not admitted.any():
        missing.append(NotEstimated("boarding time", "0 (none)", "nobody was admitted in the data"))
        return Boarding()
    care_mean = care.groupby(seen["pathology"]).mean()
    care_var = care.groupby(seen["pathology"]).var()
    requested = admitted & has_request
    measured = bool(requested.sum() >= max(MIN_PATHOLOGY, 0.5 * admitted.sum()))
    if measured:
        rows = seen[requested]
        boarding = ((rows["departure_ms"] - rows["bed_request_ms"]) / 60_000).clip(lower=0)
        request_local = rows["local_ms"] + (rows["bed_request_ms"] - rows["arrival_ms"])
        within_var = 0.0
        method = "measured from bed-request times"
    else:
        rows = seen[admitted]
        # the care expected for the pathology at the hour the doctor first saw them (care is
        # longer in the evening: without the hour, evening care would pass for boarding)
        seen_hour = ((rows["local_ms"] + rows["wait"] * 60_000) // 3_600_000 % 24).astype(int)
        expected = (
            rows["pathology"].map(care_mean).fillna(care.mean())
            * np.asarray(by_hour_seen)[seen_hour.to_numpy()]
        )
        boarding = post[admitted] - expected
        request_local = rows["local_ms"] + (rows["wait"] + expected) * 60_000
        # law of total variance of the admitted's care: E[Var | p] + Var(E[care | p])
        within_var = float(
            rows["pathology"].map(care_var).fillna(care.var()).mean() + expected.var()
        )
        method = "moments: admitted patients' time after the first doctor − their pathologies' care"
    mean = float(boarding.mean())
    if mean <= 0:
        missing.append(
            NotEstimated(
                "boarding time",
                "0 (none)",
                "admitted patients stay no longer after the first doctor than the others",
            )
        )
        return Boarding()
    hour = ((request_local // 3_600_000) % 24).astype(int)
    by_hour = boarding.groupby(hour.to_numpy()).agg(["mean", "count"])
    hour_mean = dict(zip(by_hour.index.tolist(), by_hour["mean"].tolist(), strict=True))
    hour_count = dict(zip(by_hour.index.tolist(), by_hour["count"].tolist(), strict=True))
    profile = [
        round(max(float(hour_mean[h]) / mean, 0.05), 4) if hour_count.get(h, 0) >= 10 else 1.0
        for h in range(24)
    ]
    day = request_local // 86_400_000
    days = exitblock.daily_factors(boarding, day, mean)
    monthly: tuple[float, ...] = (1.0,) * 12
    if days:
        stamps = pd.to_datetime((int(day.min()) + np.arange(len(days))) * 86_400_000, unit="ms")
        monthly, days = exitblock.monthly_factors(days, np.asarray(stamps.month))
        days_of_month = np.asarray(monthly)[np.asarray(stamps.month) - 1]
        report.append(
            ReportRow(
                "boarding",
                "exit block by month",
                str(monthly),
                "× the mean",
                len(days),
                f"a month's mean day factor (months with {exitblock.MIN_MONTH_DAYS}+ days; "
                "others 1); the day factors are divided by it",
            )
        )
    block = exitblock.block_length(days)
    model = mean * np.asarray(profile)[hour.to_numpy()]
    if days:
        index = (day - day.min()).to_numpy().astype(int)
        model = model * (np.asarray(days) * days_of_month)[index]
    scale = float(np.mean((model / mean) ** 2))
    var = float(np.mean((boarding.to_numpy() - model) ** 2)) - within_var
    cv = float(np.sqrt(var / scale) / mean) if var > 0 and scale > 0 else 0.5
    report.append(
        ReportRow(
            "boarding",
            "admitted patients",
            round(mean, 2),
            "min (mean)",
            int(len(rows)),
            method,
            f"cv within an hour and day {cv:.3f}; profile by request hour {tuple(profile)}",
        )
    )
    report.append(
        ReportRow(
            "boarding",
            "exit block by day",
            round(float(np.std(days)), 4) if days else None,
            "sd of the day factors",
            len(days),
            "a day's mean boarding / the mean, resampled in circular blocks of "
            f"{block} days (Politis-White)",
            f"days over 2× the mean {sum(d > 2 for d in days)}",
        )
    )
    level_days = RECENT_DAYS if len(days) >= 2 * RECENT_DAYS else 0
    if level_days:
        sums = np.concatenate([[0.0], np.cumsum(days)])
        levels = (sums[level_days:] - sums[:-level_days]) / level_days
        report.append(
            ReportRow(
                "boarding",
                f"exit block's level over {level_days} days",
                f"{levels.min():.2f}..{levels.max():.2f}",
                "× the mean",
                len(levels),
                f"means of the day factors over each {level_days} days: a run's every "
                f"{level_days} days take one of them (boarding_level_days)",
            )
        )
    return Boarding(
        round(mean, 2),
        round(max(cv, 0.05), 4),
        tuple(profile),
        days,
        block,
        level_days,
        monthly,
        int(day.min()),
    )


def _patience(
    visits: pd.DataFrame, by_level: bool, report: list[ReportRow], missing: list[NotEstimated]
) -> tuple[float, ...]:
    """Mean patience per acuity level (0: nobody of that level left unseen)."""
    left = visits["disposition"] == _LWBS
    seen = visits["wait"].notna()
    levels = visits["acuity"] if by_level else pd.Series(0, index=visits.index)
    out = []
    groups = range(1, LEVELS + 1) if by_level else [0]
    for level in groups:
        mine = levels == level
        fit = fit_patience(
            visits.loc[left & mine, "los"].to_numpy(), visits.loc[seen & mine, "wait"].to_numpy()
        )
        label = f"level {level}" if by_level else "all levels"
        report.append(
            ReportRow(
                "patience",
                label,
                round(fit.mean_minutes, 1),
                "min (mean)",
                fit.left,
                "exponential MLE, seen patients right-censored at their wait",
                f"Kaplan-Meier P(>1h) {fit.km_stay_1h}, P(>4h) {fit.km_stay_4h}; "
                f"exponential P(>4h) {fit.exponential_stay_4h}",
            )
        )
        out.append(round(fit.mean_minutes, 1))
    if not left.any():
        missing.append(NotEstimated("patience", "never leaves", "nobody left without being seen"))
    if by_level:
        return tuple(out)
    return (out[0],) * LEVELS


def _shifts(
    history: History,
    visits: pd.DataFrame,
    arrivals: ArrivalFit,
    share: dict[str, float],
    care: dict[str, float],
    report: list[ReportRow],
    missing: list[NotEstimated],
) -> list[Shift]:
    roster = history.site.get("roster")
    if roster:
        shifts = capacity.roster_shifts(roster)
        report.append(
            ReportRow("capacity", "doctors", len(shifts), "shifts", None, "declared roster")
        )
        return shifts
    with_ids = visits["wait"].notna()
    if with_ids.any() and visits.loc[with_ids, "doctor"].notna().mean() >= 0.5:
        hours = capacity.doctors_from_ids(visits)
        method = "median distinct doctors seeing a new patient, per hour of day"
    else:
        hours = capacity.doctors_from_load(
            arrivals.rate_per_hour, arrivals.hourly, arrivals.weekday, share, care
        )
        method = f"offered load (arrivals × care time) at {capacity.UTILISATION:.0%} utilisation"
        missing.append(
            NotEstimated(
                "doctors",
                method,
                "no declared roster and no doctor ids on the visits",
            )
        )
    shifts = []
    for specialty, counts in sorted(hours.items()):
        if specialty not in share:
            continue
        shifts += capacity.shifts_from_hours(specialty, counts)
        report.append(
            ReportRow(
                "capacity", f"doctors {specialty}", str(counts), "per hour 0..23", None, method
            )
        )
    return shifts


def _catalog_toml(
    catalog: Any,
    codes: list[str],
    share: pd.Series,
    means: dict[str, float],
    monthly: dict[str, tuple[float, ...]],
) -> str:
    """A catalog holding the site's pathologies: its mix and its care times."""
    used = {catalog.pathology(c).specialty for c in codes}
    lines = [
        "# hospiflow catalog fitted by `hospiflow calibrate` from a site's visits:",
        "# base_weight = % of the visits with a known pathology, monthly_factors = the",
        "# pathology's share in each month seen / its overall share (months not seen: its share",
        "# over the last weeks fitted / its overall share),",
        "# mean_treatment_minutes = mean care time (first doctor to decision), minutes.",
        "",
    ]
    for s in catalog.specialties:
        if s.code in used:
            lines += [
                "[[specialties]]",
                f'code = "{s.code}"',
                f'name_en = "{s.name_en}"',
                f'name_fr = "{s.name_fr}"',
                "",
            ]
    for code in codes:
        p = catalog.pathology(code)
        factors = ", ".join(f"{v:g}" for v in monthly[code])
        lines += [
            "[[pathologies]]",
            f'code = "{p.code}"',
            f'name_en = "{p.name_en}"',
            f'name_fr = "{p.name_fr}"',
            f'icd10 = "{p.icd10}"',
            f'specialty = "{p.specialty}"',
            f"mean_treatment_minutes = {max(means[code], 0.5):g}",
            f"base_weight = {max(float(share[code]) * 100, 1e-4):.4f}",
            f"monthly_factors = [{factors}]",
            "",
        ]
    return "\n".join(lines)
