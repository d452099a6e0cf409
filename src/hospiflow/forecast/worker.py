"""``ForecastService`` in a child process at a lower CPU priority, for live mode.

A forecast refresh is seconds of pandas, SciPy and NumPy (a refit: tens of
seconds on a loaded machine). In a thread of the server it held the GIL for
most of that time, so the API's request threads waited behind it; in a
process of its own it competes for the CPU only, where the operating system
favours the server (``NICE``). The child keeps its ``ForecastService`` (its
fitted models and ``HistoryCache``) between calls, and ends when its parent
does (its end of the pipe closes).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from typing import Any

from hospiflow.errors import ForecastError

NICE = 10
"""How much lower the child's CPU priority is (``os.nice``): the server's readers come first."""


def _serve(url: str, pipe: Connection) -> None:
    """The child: answer ``(run_id, refit)`` requests until ``None`` or the parent is gone."""
    try:
        os.nice(NICE)
    except OSError:  # not allowed here: the same priority, still off the server's GIL
        pass
    from hospiflow.forecast.service import ForecastService

    forecasts = ForecastService(url)
    try:
        while True:
            try:
                request = pipe.recv()
            except (EOFError, OSError):
                return
            if request is None:
                return
            run_id, refit = request
            answer: tuple[bool, str] | None = None
            try:
                forecasts.run(run_id, refit=refit)
            except Exception as error:  # noqa: BLE001 - sent back, raised in the parent
                answer = (isinstance(error, ForecastError), str(error))
            try:
                pipe.send(answer)
            except OSError:  # the parent is gone
                return
    finally:
        forecasts.close()


class ForecastProcess:
    """``run(run_id, refit=...)`` as ``ForecastService.run``, computed in a child process."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(url, child), name="hospiflow-forecast", daemon=True
        )
        self.process.start()
        child.close()
        self.lock = threading.Lock()

    def run(self, run_id: int, *, refit: bool = True) -> None:
        """Refresh ``run_id``'s forecast; the child's failure raised here."""
        with self.lock:
            try:
                self.pipe.send((run_id, refit))
                answer: Any = self.pipe.recv()
            except (EOFError, OSError) as error:
                raise RuntimeError("the forecast process has stopped") from error
        if answer is not None:
            expected, message = answer
            raise (ForecastError(message, where="run_id") if expected else RuntimeError(message))

    def interrupt(self) -> None:
        """Stop the child now, whatever it is doing (a forecast is written in one
        transaction, so an interrupted one leaves the previous forecast)."""
        if self.process.is_alive():
            self.process.terminate()

    def close(self) -> None:
        try:
            self.pipe.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.pipe.close()
