"""Independent replications in a process pool, each with its own seed.

One 365-day run has a wait coefficient of variation of 0.08-0.18, so a
confident answer needs 10-50 replications. Replication 0 uses the scenario's
own seed (it is the run whose detailed reports are written); replication
``i`` uses ``SeedSequence(seed, spawn_key=(i,))``, independent of the others.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

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
    seed = replication_seed(scenario.seed, index)
    engine = Engine(scenario, seed=seed if index else None)
    return kpis(engine.run())


def run_measured(scenario: Scenario, index: int, measure: Callable[[SimulationResult], T]) -> T:
    """Run replication ``index`` of ``scenario`` and return ``measure`` of its result
    (``measure`` a module-level function or partial: it is sent to worker processes)."""
    seed = replication_seed(scenario.seed, index)
    return measure(Engine(scenario, seed=seed if index else None).run())


def run_replications(
    scenario: Scenario,
    indices: range,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[list[MetricRow]]:
    """KPIs of the replications ``indices``, in index order, computed in parallel."""
    tasks = [(scenario, i) for i in indices]
    report = None if on_done is None else (lambda k: on_done(indices[k]))
    return run_in_pool(run_metrics, tasks, workers, report)


def new_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes (default: one per core), spawned: a fork of a
    threaded server (the API's jobs) could copy a held lock."""
    workers = workers or os.cpu_count() or 1
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def run_in_pool(
    function: Callable[..., T],
    tasks: Sequence[tuple[Any, ...]],
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
    pool: Executor | None = None,
) -> list[T]:
    """``function(*task)`` for every task, in task order; ``on_done(k)`` as task ``k`` ends.

    Runs in ``pool`` when given (kept by the caller: a server reuses one so every
    what-if does not pay the workers' start-up), else in a pool of its own, or
    in this process with one worker or one task.
    """
    results: dict[int, T] = {}
    workers = workers or max(1, min(len(tasks), os.cpu_count() or 1))
    if pool is None and (workers == 1 or len(tasks) <= 1):
        for k, task in enumerate(tasks):
            results[k] = function(*task)
            if on_done:
                on_done(k)
        return [results[k] for k in range(len(tasks))]
    own = pool is None
    executor = new_pool(workers) if pool is None else pool
    try:
        futures = {executor.submit(function, *task): k for k, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                k = futures[future]
                results[k] = future.result()
                if on_done:
                    on_done(k)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    return [results[k] for k in range(len(tasks))]
