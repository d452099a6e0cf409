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

import numpy as np

from hospiflow.simulation.engine import Engine
from hospiflow.simulation.recorder import kpis
from hospiflow.simulation.reports import MetricRow
from hospiflow.simulation.scenario import Scenario


def replication_seed(seed: int | None, index: int) -> np.random.SeedSequence | int | None:
    """The seed of replication ``index`` (0 is the scenario's own seed)."""
    if index == 0:
        return seed
    if seed is None:
        return np.random.SeedSequence().spawn(1)[0]
    return np.random.SeedSequence(seed, spawn_key=(index,))


def run_metrics(scenario: Scenario, index: int) -> list[MetricRow]:
    """Run replication ``index`` of ``scenario`` and return its KPIs (no reports written)."""
    seed = replication_seed(scenario.seed, index)
    engine = Engine(scenario, seed=seed if index else None)
    return kpis(engine.run())


def run_replications(
    scenario: Scenario,
    indices: range,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[list[MetricRow]]:
    """KPIs of the replications ``indices``, in index order, computed in parallel."""
    workers = workers or max(1, min(len(indices), os.cpu_count() or 1))
    results: dict[int, list[MetricRow]] = {}
    if workers == 1 or len(indices) <= 1:
        for i in indices:
            results[i] = run_metrics(scenario, i)
            if on_done:
                on_done(i)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(run_metrics, scenario, i): i for i in indices}
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if on_done:
                    on_done(i)
    return [results[i] for i in indices]
