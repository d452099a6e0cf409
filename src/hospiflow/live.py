"""Live mode: the twin paced against the wall clock, written into the store as it happens.

``LiveService`` wires ``runner.LiveRun`` to a ``StoreSink`` of kind
``live`` that commits every write (the engine flushes every tick, ~0.2 s),
so ``serve`` — in this process or another — streams each arrival within a
second of it happening. ``continue_from`` starts the live run where a
history run ends (same hospital, next day, a fresh random stream).

``LiveForecaster`` refreshes the run's forecasts (``forecast.service``) in a
thread of its own every simulated hour: models refitted at most once per
simulated day, predictions each hour; a refresh that fails is logged and
retried the next hour, never stopping the live run.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hospiflow.errors import ScenarioError
from hospiflow.runner import LiveRun, continuation_of, live_scenario
from hospiflow.simulation.scenario import Scenario, load_scenario
from hospiflow.store import queries
from hospiflow.store.engine import connect

log = logging.getLogger("hospiflow.live")


def live_run_scenario(
    database_url: str, scenario_source: str = "default", continue_from: int | None = None
) -> tuple[Scenario, str]:
    """The scenario a live run simulates, and its label."""
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
    seed = None if history.seed is None else history.seed + 1  # a new day, new patients
    scenario = live_scenario(history.replace(seed=seed), start_date=end)
    return scenario, f"live (continues run {continue_from})"


class LiveService:
    """One live run writing the store; ``run()`` in the foreground or ``start()`` a thread."""

    def __init__(
        self,
        database_url: str,
        scenario: Scenario,
        speed: float = 60.0,
        label: str = "live",
        forecast: bool = True,
    ) -> None:
        from hospiflow.store import StoreSink

        # batch_size=1: every write the engine hands over (once a tick) is committed at once
        self.sink = StoreSink(
            database_url, scenario.load_catalog(), batch_size=1, kind="live", label=label
        )
        self.live = LiveRun(scenario, [self.sink], speed)
        self.forecaster: LiveForecaster | None = (
            LiveForecaster(database_url, self) if forecast else None
        )
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.started = threading.Event()

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
        try:
            return self.live.run(max_real_seconds)
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


class LiveForecaster:
    """Refreshes a live run's forecasts every simulated hour, in its own thread."""

    POLL_SECONDS = 0.5

    def __init__(self, database_url: str, service: LiveService) -> None:
        self.database_url = database_url
        self.service = service
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.refreshes = 0
        self.last_error: str | None = None
        self._last_hour: int | None = None
        self._last_day: int | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="hospiflow-forecast", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stopped.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def _loop(self) -> None:
        from hospiflow.forecast.service import ForecastService

        forecasts = ForecastService(self.database_url)
        try:
            while not self.stopped.wait(self.POLL_SECONDS):
                self.tick(forecasts)
        finally:
            forecasts.close()

    def tick(self, forecasts: Any) -> bool:
        """Refresh when a new simulated hour has begun; True when it did."""
        run_id = self.service.run_id
        if run_id is None:
            return False
        minute = self.service.live.simulated_minute
        hour = int(minute // 60)
        if hour == self._last_hour or minute < 60:
            return False
        day = int(minute // 1440)
        from hospiflow.errors import ForecastError

        try:
            forecasts.run(run_id, refit=day != self._last_day)
        except Exception as error:  # noqa: BLE001 - a forecast must never stop the run
            self.last_error = str(error)
            # too little history yet is expected in a fresh live run: not worth a warning
            level = logging.DEBUG if isinstance(error, ForecastError) else logging.WARNING
            log.log(level, "live forecast of run %s not refreshed: %s", run_id, error)
            self._last_hour = hour  # try again next hour, not every poll
            return False
        self._last_hour, self._last_day = hour, day
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
