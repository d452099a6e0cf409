"""Live mode: the twin paced against the wall clock, written into the store as it happens.

``LiveService`` wires ``runner.LiveRun`` to a ``StoreSink`` of kind
``live`` that commits each tick's records (~0.2 s) in one transaction with
the run's clock, so ``serve`` — in this process or another — streams each
arrival within a second of it happening. ``continue_from`` starts the live
run where a history run ends (same hospital, next day, a fresh random
stream); after a crash, ``plan_live`` carries the interrupted run on instead
(replayed to its stored clock, then paced from there).

``LiveForecaster`` refreshes the run's forecasts (``forecast.service``) every
simulated hour, by default in a child process at a lower priority
(``forecast.worker``): models refitted at most once per simulated day,
predictions each hour; a refresh that fails is logged and retried the next
hour, never stopping the live run.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from hospiflow.errors import ScenarioError
from hospiflow.runner import LiveRun, continuation_of, live_scenario
from hospiflow.simulation.limits import MAX_SEED
from hospiflow.simulation.scenario import Scenario, load_scenario, scenario_from_dict
from hospiflow.store import queries
from hospiflow.store.engine import connect

log = logging.getLogger("hospiflow.live")

LIVE_BATCH_ROWS = 10**9
"""A live sink's batch size: never reached, rows go over only at each tick's checkpoint."""


def live_run_scenario(
    database_url: str, scenario_source: str = "default", continue_from: int | None = None
) -> tuple[Scenario, str]:
    """The scenario a new live run simulates, and its label."""
    if continue_from is None:
        scenario = load_scenario(scenario_source)
        return live_scenario(scenario), f"live ({scenario.name})"
    with connect(database_url) as connection:
        row = queries.run(connection, continue_from)
    if row["status"] != "complete":
        raise ScenarioError(
            f"run {continue_from} is {row['status']}; a live run continues a complete run",
            where="--continue-from",
        )
    history, end = continuation_of(row["parameters"])
    # a new day, new patients; a seed always, so a crashed run can be replayed (``plan_live``)
    seed = secrets.randbelow(MAX_SEED) if history.seed is None else history.seed + 1
    scenario = live_scenario(history.replace(seed=seed), start_date=end)
    return scenario, f"live (continues run {continue_from})"


@dataclass(frozen=True)
class LivePlan:
    """What ``LiveService`` runs: a new live run, or an interrupted one carried on."""

    scenario: Scenario
    label: str
    continues: int | None = None  # the history run it continues
    resume: int | None = None  # the interrupted live run it carries on


def plan_live(
    database_url: str, scenario_source: str = "default", continue_from: int | None = None
) -> LivePlan:
    """The live run ``serve --live [--continue-from N]`` should run.

    When the newest live run continuing N was interrupted by a crash (its
    writer died: ``store.runs.interrupted_continuation``), that run is carried
    on — same id, same stored scenario and seed, its clock from its last
    committed tick — rather than a second run started over the same period.
    """
    if continue_from is not None:
        from hospiflow.store.runs import interrupted_continuation

        with connect(database_url) as connection:
            found = interrupted_continuation(connection, continue_from)
        if found is not None:
            scenario = scenario_from_dict(found["parameters"], where=f"live run {found['id']}")
            if scenario.seed is not None:
                return LivePlan(scenario, found["label"], continue_from, int(found["id"]))
            log.warning(
                "live run %s was interrupted but has no seed to replay: a new run starts",
                found["id"],
            )
    scenario, label = live_run_scenario(database_url, scenario_source, continue_from)
    return LivePlan(scenario, label, continue_from)


class LiveService:
    """One live run writing the store; ``run()`` in the foreground or ``start()`` a thread."""

    def __init__(
        self,
        database_url: str,
        scenario: Scenario,
        speed: float = 60.0,
        label: str = "live",
        forecast: bool = True,
        continues: int | None = None,
        resume: int | None = None,
    ) -> None:
        from hospiflow.store import StoreSink

        # each tick's rows go over in one transaction with the run's clock
        # (``LiveRun`` calls ``checkpoint``), never a part of a tick alone
        self.sink = StoreSink(
            database_url,
            scenario.load_catalog(),
            batch_size=LIVE_BATCH_ROWS,
            kind="live",
            label=label,
            continues_run=continues,
            resume_run=resume,
        )
        self.live = LiveRun(scenario, [self.sink], speed)
        mode = forecast_mode() if forecast else "off"
        self.forecaster: LiveForecaster | None = (
            LiveForecaster(database_url, self, mode) if mode != "off" else None
        )
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.started = threading.Event()

    @classmethod
    def from_plan(
        cls, database_url: str, plan: LivePlan, speed: float = 60.0, forecast: bool = True
    ) -> LiveService:
        return cls(
            database_url,
            plan.scenario,
            speed=speed,
            label=plan.label,
            forecast=forecast,
            continues=plan.continues,
            resume=plan.resume,
        )

    @property
    def run_id(self) -> int | None:
        return self.sink.run_id

    def run(self, max_real_seconds: float | None = None) -> Any:
        """Run until ``stop()`` (or ``max_real_seconds``); the run ends ``complete``."""
        try:
            self.live.engine.open()
        finally:
            self.started.set()
        if self.forecaster is not None:
            self.forecaster.start()
        resume_at = self.sink.resumed_minute if self.sink.resume_run is not None else None
        if resume_at is not None:
            log.warning("live run %s resumed at its minute %.1f", self.run_id, resume_at)
        try:
            return self.live.run(max_real_seconds, resume_at=resume_at)
        finally:
            if self.forecaster is not None:
                self.forecaster.stop()

    def start(self, max_real_seconds: float | None = None, timeout: float = 60.0) -> int:
        """Run in a background thread; returns the run id once the run exists."""

        def work() -> None:
            try:
                self.run(max_real_seconds)
            except BaseException as error:  # noqa: BLE001 - kept for the caller
                self.error = error
                log.error("live run %s failed: %s", self.run_id, error)

        self.thread = threading.Thread(target=work, name="hospiflow-live", daemon=True)
        self.thread.start()
        self.started.wait(timeout)
        if self.run_id is None:
            self.thread.join(timeout)
            if self.error is not None:
                raise self.error
            raise RuntimeError("the live run did not start")
        return self.run_id

    @property
    def failure(self) -> str | None:
        """Why the live run died (None while it runs, or once stopped on purpose)."""
        if self.error is not None:
            return f"live run {self.run_id} failed: {self.error}"
        stopped = self.live.stopped.is_set()
        if self.thread is not None and not self.thread.is_alive() and not stopped:
            return f"live run {self.run_id} ended unexpectedly"
        return None

    def stop(self, timeout: float = 60.0) -> None:
        """Stop pacing, finish the run (status ``complete``) and wait for the thread."""
        self.live.stop()
        if self.thread is not None:
            self.thread.join(timeout)


FORECAST_MODES = ("process", "thread", "off")


def forecast_mode() -> str:
    """Where live forecasts are computed: ``$HOSPIFLOW_LIVE_FORECAST`` (default ``process``)."""
    import os

    mode = os.environ.get("HOSPIFLOW_LIVE_FORECAST", "process").strip().lower()
    if mode not in FORECAST_MODES:
        raise ScenarioError(
            f"must be one of {', '.join(FORECAST_MODES)}, got {mode!r}",
            where="HOSPIFLOW_LIVE_FORECAST",
        )
    return mode


class LiveForecaster:
    """Refreshes a live run's forecasts every simulated hour, in its own thread.

    The work (``ForecastService.run``) runs by default in a child process at a
    lower CPU priority (``ForecastProcess``): in a thread of the server it held
    the GIL through pandas and SciPy for seconds at a time and starved the API's
    readers (``benchmarks/api.py``, a live run at 600x). Models are refitted at
    most once per simulated day and once per ``REFIT_SECONDS`` of real time (at
    600x a simulated day is 2.4 real minutes; one more day barely moves a model
    fitted on years).
    """

    POLL_SECONDS = 0.5
    REFIT_SECONDS = 600.0

    def __init__(self, database_url: str, service: LiveService, mode: str = "process") -> None:
        self.database_url = database_url
        self.service = service
        self.mode = mode
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.refreshes = 0
        self.last_error: str | None = None
        self._last_hour: int | None = None
        self._last_day: int | None = None
        self._last_fit: float | None = None
        self._worker: Any = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="hospiflow-forecast", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stopped.set()
        worker = self._worker
        if worker is not None and hasattr(worker, "interrupt"):
            worker.interrupt()  # a refit under way is dropped, not waited for
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def _loop(self) -> None:
        if self.mode == "process":
            from hospiflow.forecast.worker import ForecastProcess

            forecasts: Any = ForecastProcess(self.database_url)
        else:
            from hospiflow.forecast.service import ForecastService

            forecasts = ForecastService(self.database_url)
        self._worker = forecasts
        try:
            while not self.stopped.wait(self.POLL_SECONDS):
                self.tick(forecasts)
        finally:
            forecasts.close()

    def tick(self, forecasts: Any) -> bool:
        """Refresh when a new simulated hour has begun; True when it did."""
        import time

        run_id = self.service.run_id
        if run_id is None:
            return False
        minute = self.service.live.simulated_minute
        hour = int(minute // 60)
        if hour == self._last_hour or minute < 60:
            return False
        day = int(minute // 1440)
        now = time.monotonic()
        refit = self._last_fit is None or (
            day != self._last_day and now - self._last_fit >= self.REFIT_SECONDS
        )
        from hospiflow.errors import ForecastError

        try:
            forecasts.run(run_id, refit=refit)
        except Exception as error:  # noqa: BLE001 - a forecast must never stop the run
            self.last_error = str(error)
            # too little history yet is expected in a fresh live run: not worth a warning
            level = logging.DEBUG if isinstance(error, ForecastError) else logging.WARNING
            if not self.stopped.is_set():
                log.log(level, "live forecast of run %s not refreshed: %s", run_id, error)
            self._last_hour = hour  # try again next hour, not every poll
            return False
        if refit:
            self._last_day, self._last_fit = day, now
        self._last_hour = hour
        self.refreshes += 1
        self.last_error = None
        return True


class OrphanReaper:
    """Marks orphaned runs ``failed`` every ``every`` seconds, in a thread of its own.

    A run whose writer was killed stays ``running`` in the store; ``serve``
    runs this so its streams end and such runs can be deleted (the lease:
    ``store.runs.reap_orphans``).
    """

    def __init__(self, database_url: str, every: float = 15.0) -> None:
        from hospiflow.store.engine import create_engine_for

        self.engine = create_engine_for(database_url)
        self.every = every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="hospiflow-reaper", daemon=True)

    def reap(self) -> list[int]:
        from hospiflow.store.runs import reap_orphans

        with self.engine.begin() as connection:
            reaped = reap_orphans(connection)
        for run_id in reaped:
            log.warning("run %s was orphaned (its writer died): marked failed", run_id)
        return reaped

    def start(self) -> OrphanReaper:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(10)
        self.engine.dispose()

    def _loop(self) -> None:
        while True:
            try:
                self.reap()
            except Exception as error:  # noqa: BLE001 - a busy store: try again later
                log.debug("orphan check failed: %s", error)
            if self.stopped.wait(self.every):
                return
