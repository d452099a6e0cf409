"""Independent replications in a process pool, each with its own seed.

One 365-day run has a wait coefficient of variation of 0.08-0.18, so a
confident answer needs 10-50 replications. Replication 0 uses the scenario's
own seed (it is the run whose detailed reports are written); replication
``i`` uses ``SeedSequence(seed, spawn_key=(i,))``, independent of the others.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

import numpy as np

from hospiflow.simulation.engine import Engine, SimulationResult
from hospiflow.simulation.recorder import kpis
from hospiflow.simulation.reports import MetricRow
from hospiflow.simulation.scenario import Scenario

T = TypeVar("T")


def replication_seed(seed: int | None, index: int) -> np.random.SeedSequence | int | None:
    """The seed of replication ``index`` (0 is the scenario's own seed)."""
    if index == 0:
        return seed
    if seed is None:
        return np.random.SeedSequence().spawn(1)[0]
    return np.random.SeedSequence(seed, spawn_key=(index,))


def run_metrics(scenario: Scenario, index: int) -> list[MetricRow]:
    """Run replication ``index`` of ``scenario`` and return its KPIs (no reports written)."""
    return run_measured(scenario, index, kpis)


def run_measured(scenario: Scenario, index: int, measure: Callable[[SimulationResult], T]) -> T:
    """Run replication ``index`` of ``scenario`` and return ``measure`` of its result."""
    seed = replication_seed(scenario.seed, index)
    engine = Engine(scenario, seed=seed if index else None)
    return measure(engine.run())


def run_replications(
    scenario: Scenario,
    indices: range,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[list[MetricRow]]:
    """KPIs of the replications ``indices``, in index order, computed in parallel."""
    return measure_replications(scenario, indices, kpis, workers, on_done)


def measure_replications(
    scenario: Scenario,
    indices: range,
    measure: Callable[[SimulationResult], T],
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[T]:
    """``measure`` (a module-level function: it is sent to worker processes) of each
    replication in ``indices``, in index order, computed in parallel."""
    workers = workers or max(1, min(len(indices), os.cpu_count() or 1))
    results: dict[int, T] = {}
    if workers == 1 or len(indices) <= 1:
        for i in indices:
            results[i] = run_measured(scenario, i, measure)
            if on_done:
                on_done(i)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(run_measured, scenario, i, measure): i for i in indices}
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if on_done:
                    on_done(i)
    return [results[i] for i in indices]
