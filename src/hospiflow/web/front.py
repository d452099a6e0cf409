"""Answers already given, sent again before Flask: the dashboard's repeated reads at the
cost of a dictionary lookup.

Profiling 20 dashboard clients showed that once an answer is cached (complete
runs never change) nearly all of a request's time was Flask's: the request
context, URL routing, the query schema, before/after hooks, building a
``Response`` and its headers (~0.5 ms of CPU against ~0.15 ms for a bare
WSGI function serving the same bytes, ``benchmarks/api.py``). This WSGI layer
keeps, per exact URL and encoding, the final status line, headers and body
of answers the app marked as reusable (``mark``): a complete run's answers
until the run is deleted (they share ``State.cache``, so deleting a run
drops them), a running run's ``now`` for ``LIVE_CACHE_SECONDS``. A request
it knows is answered at once (304 when ``If-None-Match`` names its ETag);
anything else goes to Flask, which answers the same bytes. When reads need a
token, or a browser asks for CORS, every request goes to Flask.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import request
from werkzeug.datastructures import Accept
from werkzeug.http import parse_accept_header

MARK = "hospiflow.reusable"
"""The WSGI environ key the app sets on an answer this layer may keep: ``(run_id, ttl)``."""
PREFIX = "/api/v1/runs/"
_304_DROP = frozenset({"content-length", "content-type", "content-encoding"})


@dataclass(frozen=True)
class Kept:
    """An answer as sent: status line, headers, body, ETag, and until when (monotonic)."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    etag: str | None
    until: float | None

    @property
    def size(self) -> int:
        return len(self.body)


def mark(run_id: int, ttl: float | None = None) -> None:
    """Let the front layer keep this request's answer (for ``ttl`` seconds, or for good)."""
    request.environ[MARK] = (run_id, ttl)


class Front:
    """The WSGI layer in front of the Flask app (``app.wsgi_app = Front(app, ...)``)."""

    def __init__(self, flask_app: Any, wsgi: Callable[..., Any], cache: Any) -> None:
        self.config = flask_app.config
        self.wsgi = wsgi
        self.cache = cache
        self.gzip: dict[str, bool] = {}  # Accept-Encoding value -> accepts gzip (few values)

    def _accepts_gzip(self, header: str) -> bool:
        known = self.gzip.get(header)
        if known is None:
            known = parse_accept_header(header, Accept)["gzip"] > 0
            if len(self.gzip) < 256:
                self.gzip[header] = known
        return known

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not path.startswith(PREFIX)
            or self.config["READS_NEED_TOKEN"]
            or ("HTTP_ORIGIN" in environ and self.config["CORS_ORIGINS"])
        ):
            return self.wsgi(environ, start_response)
        query = environ.get("QUERY_STRING", "")
        gzip = self._accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        run = path[len(PREFIX) :].split("/", 1)[0]
        key = (int(run) if run.isdigit() else -1, f"front|{path}?{query}|{gzip}")
        kept = self.cache.get(key)
        if isinstance(kept, Kept) and (kept.until is None or time.monotonic() < kept.until):
            return self._send(kept, environ, start_response)
        return self._through(key, environ, start_response)

    def _send(self, kept: Kept, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        asked = environ.get("HTTP_IF_NONE_MATCH")
        if kept.etag is not None and asked is not None and _matches(asked, kept.etag):
            start_response(
                "304 NOT MODIFIED", [h for h in kept.headers if h[0].lower() not in _304_DROP]
            )
            return []
        start_response(kept.status, kept.headers)
        return [kept.body]

    def _through(
        self, key: tuple[int, str], environ: dict[str, Any], start_response: Callable
    ) -> Any:
        """Ask Flask; keep its answer when the app marked it reusable and it is a 200."""
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status, headers]
            return (
                start_response(status, headers, exc_info)
                if exc_info
                else start_response(status, headers)
            )

        body: Iterable[bytes] = self.wsgi(environ, capture)
        reusable = environ.get(MARK)
        if reusable is None or not seen or not seen[0].startswith("200"):
            return body
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        run_id, ttl = reusable
        headers = list(seen[1])
        etag = next((v for k, v in headers if k.lower() == "etag"), None)
        until = None if ttl is None else time.monotonic() + ttl
        if key[0] == run_id and (ttl is None or ttl > 0):
            self.cache.put(key, Kept(seen[0], headers, data, etag, until))
        return [data]


def _matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, RFC 9110)."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))
