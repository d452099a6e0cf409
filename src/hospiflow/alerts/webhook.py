"""Pushing alerts to a webhook (``HOSPIFLOW_ALERT_WEBHOOK``), never blocking anyone.

``Webhook.send`` queues a JSON payload and returns at once; one thread POSTs it.
A delivery that fails (connection refused, timeout, an answer other than 2xx) is
retried with exponential backoff (``first_delay`` doubling up to ``max_delay``,
``attempts`` tries in all) while other alerts keep going out; every outcome is
logged and handed to ``record`` (the store's ``webhook_state``: ``pending`` after
a failed try, then ``sent`` or ``failed``), so failures are visible in the API
and the page. The simulation and the checks only ever call ``send``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hospiflow.alerts")

Record = Callable[[int, str, int, str | None], None]  # alert id, state, attempts, error


class Webhook:
    """A webhook endpoint and the thread delivering to it."""

    def __init__(
        self,
        url: str,
        record: Record,
        attempts: int = 6,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 5.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"HOSPIFLOW_ALERT_WEBHOOK must be an http(s) URL, not {url!r}")
        self.url = url
        self.record = record
        self.attempts = max(1, attempts)
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._due: list[tuple[float, int, int, dict[str, Any], int]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._busy = 0
        self.thread = threading.Thread(target=self._loop, name="hospiflow-webhook", daemon=True)
        self.thread.start()

    def send(self, alert_id: int, payload: dict[str, Any]) -> None:
        """Queue one alert's payload for delivery now; returns at once."""
        with self._wake:
            heapq.heappush(self._due, (time.monotonic(), next(self._order), alert_id, payload, 0))
            self._wake.notify()

    def idle(self) -> bool:
        """Nothing queued or being delivered (tests wait on it)."""
        with self._wake:
            return not self._due and not self._busy

    def close(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self.thread.join(timeout)

    def post(self, payload: dict[str, Any]) -> None:
        """One POST; raises on anything but a 2xx answer."""
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "hospiflow-alerts"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
            if not 200 <= answer.status < 300:
                raise urllib.error.HTTPError(
                    self.url, answer.status, "not 2xx", answer.headers, None
                )

    def _next(self) -> tuple[int, dict[str, Any], int] | None:
        with self._wake:
            while not self._stopped:
                if self._due and self._due[0][0] <= time.monotonic():
                    _due, _n, alert_id, payload, tries = heapq.heappop(self._due)
                    self._busy += 1
                    return alert_id, payload, tries
                wait = self._due[0][0] - time.monotonic() if self._due else None
                self._wake.wait(wait)
            return None

    def _loop(self) -> None:
        while (item := self._next()) is not None:
            alert_id, payload, tries = item
            tries += 1
            try:
                self.post(payload)
            except Exception as error:  # noqa: BLE001 - any failure is retried, then recorded
                reason = f"{type(error).__name__}: {error}"
                final = tries >= self.attempts
                state = "failed" if final else "pending"
                log.warning(
                    "alert %s: webhook try %d/%d failed: %s", alert_id, tries, self.attempts, reason
                )
                self._record(alert_id, state, tries, reason)
                if not final:
                    delay = min(self.max_delay, self.first_delay * 2 ** (tries - 1))
                    with self._wake:
                        item_due = (time.monotonic() + delay, next(self._order))
                        heapq.heappush(self._due, (*item_due, alert_id, payload, tries))
            else:
                log.info("alert %s: webhook delivered (try %d)", alert_id, tries)
                self._record(alert_id, "sent", tries, None)
            finally:
                with self._wake:
                    self._busy -= 1

    def _record(self, alert_id: int, state: str, tries: int, error: str | None) -> None:
        try:
            self.record(alert_id, state, tries, error)
        except Exception as failure:  # noqa: BLE001 - a busy store must not stop deliveries
            log.warning("alert %s: webhook outcome not recorded: %s", alert_id, failure)
