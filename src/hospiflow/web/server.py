"""The HTTP server: waitress, with request bodies bounded before they are read.

waitress reads (and spools to disk) a whole request body before the app sees
it, so Flask's ``MAX_CONTENT_LENGTH`` alone would let anyone, with or without
a token, make the server store 300 MB before answering 413. Here the limit is
applied by waitress's own parser as soon as the request line and headers are
in: ``MAX_CONTENT_LENGTH`` (1 MiB) for every request, ``MAX_IMPORT_BYTES``
(200 MiB) only for ``POST /api/v1/sites/{id}/imports`` that carry a bearer
token. A declared ``Content-Length`` over the limit is refused at once; a
chunked body is cut off when it crosses it. The app checks the same limits
again (``web.app``), for servers other than this one.
"""

from __future__ import annotations

import re
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server

IMPORT_PATH = re.compile(r"^/api/v1/sites/[^/]+/imports/?$")


def body_limit(method: str, path: str, authorization: str, config: dict[str, Any]) -> int:
    """The largest body accepted for a request: large for a token holder's import only."""
    if method == "POST" and IMPORT_PATH.match(path) and authorization.startswith("Bearer "):
        return int(config["MAX_IMPORT_BYTES"])
    return int(config["MAX_CONTENT_LENGTH"])


def _channel_class(config: dict[str, Any]) -> type[HTTPChannel]:
    """A waitress channel whose parser bounds each request's body by ``body_limit``."""
    adjusted: dict[tuple[int, int], Any] = {}

    class Parser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            # types-waitress lags waitress: parse_header decodes ``command`` to str
            # and sets ``path`` (waitress/parser.py)
            command: str = self.command  # type: ignore[assignment]
            path: str = self.path  # type: ignore[attr-defined]
            limit = body_limit(command, path, self.headers.get("AUTHORIZATION", ""), config)
            if limit < self.adj.max_request_body_size:
                key = (id(self.adj), limit)
                if key not in adjusted:
                    smaller = type(self.adj).__new__(type(self.adj))
                    smaller.__dict__.update(self.adj.__dict__)
                    smaller.max_request_body_size = limit + 1  # waitress refuses at >= limit
                    adjusted[key] = smaller
                self.adj = adjusted[key]

    return type("BoundedChannel", (HTTPChannel,), {"parser_class": Parser})


def make_server(app: Any, **options: Any) -> Any:
    """A waitress server for ``app`` (``options`` as ``waitress.create_server``)."""
    config = app.config
    largest = max(int(config["MAX_CONTENT_LENGTH"]), int(config["MAX_IMPORT_BYTES"]))
    server = create_server(app, max_request_body_size=largest + 1, **options)
    channel = _channel_class(config)
    servers = [server] if isinstance(server, BaseWSGIServer) else list((server.map or {}).values())
    for each in servers:
        if isinstance(each, BaseWSGIServer):
            each.channel_class = channel
    return server


def serve(app: Any, **options: Any) -> None:
    """Serve ``app`` until interrupted (``options`` as ``waitress.serve``)."""
    make_server(app, **options).run()
