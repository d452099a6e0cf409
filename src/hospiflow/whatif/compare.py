"""Run a what-if: paired replications of the baseline and the changed scenario.

Both arms of replication ``i`` use the same seed (common random numbers: the
same patients arrive with the same acuity, age and fate in both, as far as the
change leaves the arrival stream alone), so each replication gives one
difference and the measures get paired-t intervals (``paired.py``). Every run
simulates only the period asked (default 8 weeks) after the base scenario's
warm-up, without a trace or a store: the engine builds its per-patient arrays
and ``measures.measure`` reduces them in the worker, which sends back a few
numbers. The runs go to a process pool (``simulation.replications``), one task
per run, so the two arms share the workers evenly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hospiflow.errors import ScenarioError
from hospiflow.simulation.limits import expected_patients
from hospiflow.simulation.replications import replication_seed, run_in_pool
from hospiflow.simulation.scenario import Scenario
from hospiflow.tension.status import StatusRule
from hospiflow.whatif.changes import ChangeSet, apply, describe
from hospiflow.whatif.measures import MEASURES, Measure, run_arm
from hospiflow.whatif.paired import PairedInterval, paired_interval

__all__ = ["Prepared", "WhatIfResult", "WhatIfSettings", "period", "prepare", "run_whatif"]

MIN_REPLICATIONS = 2
MAX_REPLICATIONS = 200
MAX_WEEKS = 52.0


@dataclass(frozen=True)
class WhatIfSettings:
    """How much to simulate: replications of a period of ``weeks`` after a warm-up."""

    replications: int = 20
    weeks: float = 8.0
    warmup_days: float | None = None  # None: the base scenario's
    confidence: float = 0.95
    workers: int | None = None

    def __post_init__(self) -> None:
        r = self.replications
        if (
            not isinstance(r, int)
            or isinstance(r, bool)
            or not (MIN_REPLICATIONS <= r <= MAX_REPLICATIONS)
        ):
            raise ScenarioError(
                f"must be a whole number from {MIN_REPLICATIONS} to {MAX_REPLICATIONS}, got {r!r}",
                where="replications",
            )
        w = self.weeks
        if not isinstance(w, int | float) or isinstance(w, bool) or not 0 < w <= MAX_WEEKS:
            raise ScenarioError(
                f"must be a number of weeks above 0 and at most {MAX_WEEKS:g}, got {w!r}",
                where="weeks",
            )
        if self.warmup_days is not None and (
            not isinstance(self.warmup_days, int | float) or not 0 <= self.warmup_days <= 60
        ):
            raise ScenarioError(
                f"must be from 0 to 60 days, got {self.warmup_days!r}", where="warmup_days"
            )
        if not 0.5 <= self.confidence < 1:
            raise ScenarioError(
                f"must be between 0.5 and 1, got {self.confidence!r}", where="confidence"
            )


@dataclass(frozen=True)
class WhatIfResult:
    """Baseline and change for each measure, with the paired interval of the difference."""

    base: str
    changes: list[str]
    settings: WhatIfSettings
    rows: list[tuple[Measure, PairedInterval]]
    baseline: dict[str, list[float]]  # per replication, in seed order
    change: dict[str, list[float]]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None): what the API answers and ``--json`` writes."""

        def num(x: float) -> float | None:
            return None if x is None or not np.isfinite(x) else float(x)

        return {
            "base": self.base,
            "changes": self.changes,
            "replications": self.settings.replications,
            "weeks": self.settings.weeks,
            "warmup_days": self.extra.get("warmup_days"),
            "confidence": self.settings.confidence,
            "method": "paired-t interval over replications with common random numbers "
            "(Law 2015, §10.2.1)",
            "seconds": round(self.seconds, 3),
            "measures": [
                {
                    "key": m.key,
                    "label": m.label,
                    "unit": m.unit,
                    "lower_is_better": m.lower_is_better,
                    "baseline": num(ci.baseline_mean),
                    "change": num(ci.change_mean),
                    "difference": num(ci.difference),
                    "low": num(ci.low),
                    "high": num(ci.high),
                    "pairs": ci.n,
                    "significant": bool(ci.significant),
                }
                for m, ci in self.rows
            ],
        }


def period(base: Scenario, settings: WhatIfSettings) -> Scenario:
    """The base scenario cut to the what-if's period (its start date, its warm-up)."""
    warmup = base.warmup_days if settings.warmup_days is None else float(settings.warmup_days)
    return base.replace(days=7.0 * float(settings.weeks), warmup_days=warmup)


def seeds(base: Scenario, n: int) -> list[np.random.SeedSequence | int]:
    """One seed per replication, shared by both arms (a random base seed is drawn once)."""
    if base.seed is None:
        root = np.random.SeedSequence()
        return [np.random.SeedSequence(root.entropy, spawn_key=(i,)) for i in range(n)]
    out: list[np.random.SeedSequence | int] = []
    for i in range(n):
        seed = replication_seed(base.seed, i)
        assert seed is not None
        out.append(seed)
    return out


@dataclass(frozen=True)
class Prepared:
    """Both arms, checked, ready to run."""

    baseline: Scenario
    changed: Scenario
    lines: list[str]
    settings: WhatIfSettings


def prepare(
    base: Scenario,
    changes: ChangeSet,
    settings: WhatIfSettings | None = None,
    max_patients: float | None = None,
) -> Prepared:
    """Apply and check everything a what-if needs before any run starts (the API answers
    422 from here, before it starts a job). ``max_patients`` bounds the expected patients
    of all the runs together (the API's work budget)."""
    settings = settings or WhatIfSettings()
    baseline = period(base, settings)
    changed = period(apply(base, changes), settings)
    n = settings.replications
    if max_patients is not None:
        expected = n * (expected_patients(baseline) + expected_patients(changed))
        if expected > max_patients:
            raise ScenarioError(
                f"{n} replications of both arms expect {expected:,.0f} patients in all; the "
                f"budget is {max_patients:,.0f}: fewer replications or weeks",
                where="replications",
                expected_patients=round(expected),
                max_patients=max_patients,
            )
    return Prepared(baseline, changed, describe(base, changes), settings)


def run_whatif(
    base: Scenario,
    changes: ChangeSet,
    settings: WhatIfSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    pool: Executor | None = None,
    rule: StatusRule | None = None,
    max_patients: float | None = None,
) -> WhatIfResult:
    """Simulate both arms ``settings.replications`` times and compare them.

    ``progress(done, total)`` is called in this thread as each run ends (total =
    2 x replications). ``pool``: a process pool to reuse (else one of its own).
    """
    started = time.perf_counter()
    prepared = prepare(base, changes, settings, max_patients)
    settings = prepared.settings
    baseline, changed = prepared.baseline, prepared.changed
    rule = rule or StatusRule()
    n = settings.replications
    run_seeds = seeds(base, n)
    tasks = [(scenario, seed, rule) for seed in run_seeds for scenario in (baseline, changed)]
    done = [0]

    def report(_k: int) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], len(tasks))

    results = run_in_pool(run_arm, tasks, settings.workers, report, pool)
    arms: tuple[dict[str, list[float]], dict[str, list[float]]] = (
        {m.key: [] for m in MEASURES},
        {m.key: [] for m in MEASURES},
    )
    for k, values in enumerate(results):
        for m in MEASURES:
            arms[k % 2][m.key].append(values[m.key])
    rows = []
    for m in MEASURES:
        if m.flow_only and not baseline.flow_active:
            continue
        ci = paired_interval(
            np.array(arms[0][m.key]), np.array(arms[1][m.key]), settings.confidence
        )
        rows.append((m, ci))
    return WhatIfResult(
        base=base.name,
        changes=prepared.lines,
        settings=settings,
        rows=rows,
        baseline=arms[0],
        change=arms[1],
        seconds=time.perf_counter() - started,
        extra={"warmup_days": baseline.warmup_days},
    )
