"""What-if simulations started through the API, each in a background thread.

The job is ``runner.simulate_run``, the call the CLI's ``simulate`` makes,
writing the store; its run id is known as soon as the sink has created the
run (status ``running``), which is what ``POST /runs`` answers. Progress
(0..1) is kept in memory for ``GET /runs/{id}``; the run's status in the
store is the truth once the thread ends.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

from hospiflow.errors import HospiflowError, StoreError
from hospiflow.runner import progress_fraction, simulate_run
from hospiflow.simulation.scenario import Scenario

log = logging.getLogger("hospiflow.web.jobs")


class Busy(StoreError):
    """Too many what-if simulations already run in this server."""

    code = "too_many_runs"
    http_status = 409


class Jobs:
    """The app's background simulations: start, progress, stop on shutdown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.progress: dict[int, float] = {}
        self.threads: dict[int, threading.Thread] = {}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.active = 0  # jobs admitted and not yet ended (guarded by ``lock``)

    def running(self) -> int:
        with self.lock:
            return self.active

    def _admit(self, max_jobs: int) -> None:
        """Take one of ``max_jobs`` slots, or refuse: check and take under one lock.

        Counting live threads instead let simultaneous requests all pass the
        check before any of them had registered its thread.
        """
        with self.lock:
            if self.active >= max_jobs:
                raise Busy(
                    f"{max_jobs} simulation(s) already running; try again when one has finished",
                    where="POST /runs",
                    max_jobs=max_jobs,
                )
            self.active += 1

    def _release(self) -> None:
        with self.lock:
            self.active -= 1

    def is_running(self, run_id: int) -> bool:
        with self.lock:
            thread = self.threads.get(run_id)
            return thread is not None and thread.is_alive()

    def start(self, scenario: Scenario, label: str, max_jobs: int, timeout: float = 60.0) -> int:
        """Start simulating ``scenario`` into the store; return its run id once created."""
        opened = threading.Event()
        failure: list[BaseException] = []
        holder: dict[str, int] = {}
        jobs = self

        def created(run_id: int) -> None:
            holder["run_id"] = run_id  # a failure is recorded by work() before it wakes start()
            opened.set()

        def report(minute: float) -> None:
            run_id = holder.get("run_id")
            if run_id is not None:
                jobs.progress[run_id] = min(0.999, progress_fraction(scenario, minute))
            if jobs.closing.is_set():
                raise _Stopped()

        def work() -> None:
            try:
                simulate_run(
                    scenario, database_url=self.url, progress=report, label=label, on_run=created
                )
            except _Stopped:
                log.info("simulation of run %s stopped at shutdown", holder.get("run_id"))
            except BaseException as error:  # noqa: BLE001 - reported through the run's status
                failure.append(error)
                log.error("simulation of run %s failed: %s", holder.get("run_id"), error)
            finally:
                opened.set()
                run_id = holder.get("run_id")
                if run_id is not None:
                    jobs.progress.pop(run_id, None)
                jobs._release()

        thread = threading.Thread(target=work, name="hospiflow-whatif", daemon=True)
        self._admit(max_jobs)  # from here the slot is the thread's to release
        try:
            thread.start()
        except BaseException:
            self._release()
            raise
        if not opened.wait(timeout) or holder.get("run_id") is None:
            if failure and isinstance(failure[0], HospiflowError | sa.exc.DBAPIError):
                raise failure[0]  # a read-only or unreadable store is the app's 503
            raise StoreError("the simulation could not create its run", where="POST /runs")
        run_id = int(holder["run_id"])
        with self.lock:
            self.threads[run_id] = thread
            self.progress.setdefault(run_id, 0.0)
            # forget finished threads
            for key in [k for k, t in self.threads.items() if not t.is_alive() and k != run_id]:
                del self.threads[key]
        return run_id

    def close(self, timeout: float = 30.0) -> None:
        """Stop every simulation (their runs end ``failed``) and wait for the threads."""
        self.closing.set()
        with self.lock:
            threads = list(self.threads.values())
        for thread in threads:
            thread.join(timeout)


class _Stopped(Exception):
    """Raised inside a job's progress callback to stop it at shutdown."""
