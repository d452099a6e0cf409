"""Server-Sent Events: a run's new trace rows and state, as they are committed.

Each stream holds one read-only connection and polls the events table by
primary key (``id > last``) every ``SSE_POLL_SECONDS``: one index range
scan that finds nothing most of the time. Every trace row goes out as an
``event: trace`` message whose ``id:`` is the row id — monotonic within a run
because one writer commits a run's batches in order — so a client that
reconnects with ``Last-Event-ID`` gets exactly the rows it missed. When the
run's newest state sample changes, an ``event: state`` message (no id, the
``now`` payload) follows; idle streams get a comment line every
``SSE_HEARTBEAT_SECONDS`` (which also detects gone clients). A finished run
ends its stream with ``event: end``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from hospiflow.store import queries, trace
from hospiflow.store.feeds import run_version
from hospiflow.store.runs import orphan_reason
from hospiflow.store.timeconv import now_ms
from hospiflow.web import observed
from hospiflow.web.context import State, close_stream_connection
from hospiflow.web.data import RunContext, event_item, is_observed
from hospiflow.web.data import now_payload as simulated_now


def _message(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _status(row: dict[str, Any]) -> str:
    """The run's status, ``failed`` for an orphan (its writer died: nothing more will come)."""
    if orphan_reason(row, now_ms()) is not None:
        return "failed"
    return str(row["status"])


def event_stream(
    state: State,
    run: RunContext,
    after_id: int | None,
    kinds: tuple[int, ...] | None,
    config: dict[str, Any],
) -> Iterator[str]:
    """The SSE body of one client (a generator: waitress sends each chunk as it comes)."""
    poll = config["SSE_POLL_SECONDS"]
    heartbeat = config["SSE_HEARTBEAT_SECONDS"]
    batch = config["SSE_BATCH"]
    connection = state.stream_connection()
    # a site's observed run has no state samples: a feed's commit moves its version
    site_run = is_observed(run.row)
    now_payload = observed.now_payload if site_run else simulated_now
    data_end_ms = run_version if site_run else trace.data_end_ms
    try:
        with connection.begin():
            fed = site_run and observed.is_live(connection, run.id)  # a feed: never ends
        with connection.begin():
            if after_id is None:
                after_id = trace.last_event_id(connection, run.id)
            last_sample = data_end_ms(connection, run.id)
            snapshot: dict[str, Any] | None = now_payload(connection, run, config)
        yield "retry: 1000\n\n"
        yield _message("state", snapshot)
        quiet_since = time.monotonic()
        while True:
            with connection.begin():
                rows = trace.events_after(connection, run.id, after_id, batch, kinds)
                sample = data_end_ms(connection, run.id)
                status = _status(queries.run(connection, run.id)) if not rows else None
                snapshot = (
                    now_payload(connection, run, config)
                    if sample is not None and sample != last_sample
                    else None
                )
            chunks = []
            for row in rows:
                event_id, time_ms, kind, patient, pathology, specialty, doctor = row
                item = event_item(
                    {
                        "id": event_id,
                        "time_ms": time_ms,
                        "kind": kind,
                        "patient_no": patient,
                        "pathology_idx": pathology,
                        "specialty_idx": specialty,
                        "doctor_idx": doctor,
                    },
                    run,
                )
                chunks.append(_message("trace", item, event_id))
                after_id = event_id
            if snapshot is not None:
                last_sample = sample
                chunks.append(_message("state", snapshot))
            if chunks:
                yield "".join(chunks)
                quiet_since = time.monotonic()
            elif status is not None and status != "running" and not fed:
                yield _message("end", {"run_id": run.id, "status": status})
                return
            elif time.monotonic() - quiet_since >= heartbeat:
                yield ": heartbeat\n\n"
                quiet_since = time.monotonic()
            if len(rows) < batch:
                time.sleep(poll)
    finally:
        close_stream_connection(connection)
