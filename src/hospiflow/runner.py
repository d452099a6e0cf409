"""Turns a source into a run: the one place the CLI and the API both call.

A *batch* run simulates a scenario to the end, writing the five CSV reports
and/or the store. A *live* run paces the same engine against the wall clock
(``speed`` simulated seconds per real second: 60 = one simulated hour per
real minute), writing events and snapshots into the store as they happen, so
``serve`` can stream them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hospiflow.errors import ScenarioError
from hospiflow.simulation.engine import Engine, SimulationResult
from hospiflow.simulation.replications import run_replications
from hospiflow.simulation.reports import CsvReportSink
from hospiflow.simulation.scenario import Scenario, scenario_from_dict

LIVE_DAYS = 366 * 3  # horizon of a live run; it normally stops long before
LIVE_TICK_SECONDS = 0.2


@dataclass
class RunOutcome:
    """What a batch run produced."""

    result: SimulationResult
    report_paths: list[Path] = field(default_factory=list)
    run_id: int | None = None


def simulate_run(
    scenario: Scenario,
    *,
    database_url: str | None = None,
    out_dir: Path | None = None,
    replications: int = 1,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
    label: str = "",
    on_replication: Callable[[int], None] | None = None,
    on_run: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Simulate ``scenario`` to the end; write the reports and/or the store.

    ``progress`` gets the engine's clock (run minutes, warm-up negative) after
    each chunk; ``on_run`` gets the store's run id as soon as the run exists
    (status ``running``), before any simulation: what the API's jobs answer.
    """
    sinks: list[Any] = []
    store_sink = None
    if database_url is not None:
        from hospiflow.store import StoreSink

        store_sink = StoreSink(database_url, scenario.load_catalog(), label=label, on_open=on_run)
        sinks.append(store_sink)
    csv_sink = None
    if out_dir is not None:
        others = (
            run_replications(scenario, range(1, replications), workers, on_done=on_replication)
            if replications > 1
            else []
        )
        csv_sink = CsvReportSink(out_dir, others)
        sinks.append(csv_sink)
    result = Engine(scenario, sinks, progress).run()
    return RunOutcome(
        result=result,
        report_paths=csv_sink.paths if csv_sink is not None else [],
        run_id=getattr(store_sink, "run_id", None),
    )


def progress_fraction(scenario: Scenario, minute: float) -> float:
    """How far a batch run is (0..1) when the engine's clock reads ``minute``."""
    begin = -60.0 * Engine.warmup_hours(scenario)
    total = 60.0 * Engine.horizon_hours(scenario) - begin
    return max(0.0, min(1.0, (minute - begin) / total))


def live_scenario(scenario: Scenario, start_date: date | None = None) -> Scenario:
    """The scenario as a live run: long horizon, 1-minute snapshots, optional new start."""
    changes: dict[str, Any] = {"days": float(LIVE_DAYS), "snapshot_step_minutes": 1.0}
    if start_date is not None:
        changes["start_date"] = start_date
    return scenario.replace(**changes)


def continuation_of(parameters: dict[str, Any]) -> tuple[Scenario, date]:
    """The scenario stored with a history run, and the local day its history ends.

    A history of whole days ends at local midnight, exactly where a live run
    starting that day begins (a fractional history: the next midnight).
    """
    history = scenario_from_dict(parameters, where="history run parameters")
    return history, history.start_date + timedelta(days=math.ceil(history.days))


class LiveRun:
    """Paces an ``Engine`` against the wall clock until stopped."""

    def __init__(
        self,
        scenario: Scenario,
        sinks: list[Any],
        speed: float,
        tick_seconds: float = LIVE_TICK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ScenarioError(f"must be > 0, got {speed!r}", where="speed", value=speed)
        self.engine = Engine(scenario, sinks)
        self.speed = speed
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.stopped = threading.Event()

    @property
    def simulated_minute(self) -> float:
        return self.engine.now

    def run(
        self, max_real_seconds: float | None = None, resume_at: float | None = None
    ) -> SimulationResult:
        """Advance in ticks until ``stop()`` (or ``max_real_seconds``); returns the result.

        ``resume_at`` (a resumed run's stored clock): the engine first replays
        the run up to that minute with its sinks muted (same seed, so the same
        patients and the same state; what it emits is already stored), then
        paces on from there.
        """
        engine = self.engine
        try:
            if resume_at is None:
                engine.advance_to(0.0)  # the warm-up happens at once, unreported
                self._tick()
            else:
                self._replay(resume_at)
            begin = engine.now
            started = self.clock()
            horizon = engine.calendar.horizon_minute
            while not self.stopped.is_set():
                elapsed = self.clock() - started
                if max_real_seconds is not None and elapsed >= max_real_seconds:
                    break
                target = min(begin + elapsed * self.speed / 60.0, horizon)
                engine.advance_to(target)
                self._tick()
                if target >= horizon:
                    break
                self.stopped.wait(self.tick_seconds)
        except BaseException:
            engine.abort()
            raise
        return engine.finish()

    def _tick(self) -> None:
        """Hand the tick's records over; sinks that can commit them with the clock do."""
        engine = self.engine
        engine.flush()
        for sink in engine.sinks:
            checkpoint = getattr(sink, "checkpoint", None)
            if checkpoint is not None:
                checkpoint(engine.now)

    def _replay(self, minute: float) -> None:
        """Advance to ``minute`` emitting nothing (the engine is deterministic given its seed)."""
        engine = self.engine
        engine.open()
        sinks, engine.sinks = engine.sinks, []
        try:
            engine.advance_to(minute)
            engine.flush()  # to no sink: drops the replayed records
        finally:
            engine.sinks = sinks

    def stop(self) -> None:
        self.stopped.set()
