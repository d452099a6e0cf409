"""Who may do what: bearer tokens with two roles, viewer (read) and admin (everything).

Tokens come from two places: the ``api_tokens`` table (``hospiflow token create
NAME --role viewer|admin``; only their SHA-256 is stored, see
:mod:`hospiflow.store.tokens`) and the ``API_TOKEN`` setting
(``HOSPIFLOW_API_TOKEN`` / ``HOSPIFLOW_API_TOKEN_FILE``), which is an
administrator token named ``api-token``.

* Writes and administration (delete, what-if, sites, imports, exports, audit,
  quarantine) need an admin token: 401 without a token or with a wrong one,
  403 ``forbidden`` with a viewer token, 403 ``writes_disabled`` when the
  server has no admin token at all (writes are then off, not open).
* Reads are open unless ``READS_NEED_TOKEN`` is on (``hospiflow serve``
  turns it on when it listens beyond loopback): then every ``/api/v1`` GET
  but ``/health`` and the OpenAPI document needs a viewer or admin token.
  The Server-Sent Events stream also takes the token as ``?access_token=``,
  since a browser's ``EventSource`` cannot send headers.

Stored tokens are looked up per request through a small cache (``TTL_SECONDS``),
so a read costs no query; a revoked token stops working within that time.
"""

from __future__ import annotations

import functools
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, request
from sqlalchemy.engine import Engine

from hospiflow.errors import HospiflowError
from hospiflow.store import tokens

TTL_SECONDS = 5.0
ENV_TOKEN_NAME = "api-token"
ADMIN, VIEWER = "admin", "viewer"
_MAX_CACHED = 10_000  # wrong tokens are cached too: cap what a flood of them can hold


class WritesDisabled(HospiflowError):
    code = "writes_disabled"
    http_status = 403


class Unauthorized(HospiflowError):
    code = "unauthorized"
    http_status = 401


class Forbidden(HospiflowError):
    code = "forbidden"
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """Whoever holds a valid token: its name (the audit log's actor) and role."""

    name: str
    role: str


class Auth:
    """Token checks of one app: the setting's token and the store's, cached briefly."""

    def __init__(self, engine: Engine, env_token: str | None, ttl: float = TTL_SECONDS) -> None:
        self.engine = engine
        self.env_token = env_token
        self.ttl = ttl
        self.lock = threading.Lock()
        self.known: dict[str, tuple[float, Principal | None]] = {}
        self.roles_cache: tuple[float, frozenset[str]] | None = None

    def identify(self, token: str) -> Principal | None:
        """The holder of ``token``, or None for a token nobody has."""
        if self.env_token is not None and hmac.compare_digest(
            token.encode("utf-8", "surrogateescape"), self.env_token.encode("utf-8")
        ):
            return Principal(ENV_TOKEN_NAME, ADMIN)
        key = tokens.digest(token)
        now = time.monotonic()
        with self.lock:
            hit = self.known.get(key)
        if hit is not None and now - hit[0] <= self.ttl:
            return hit[1]
        with self.engine.connect() as connection:
            found = tokens.lookup(connection, token)
        principal = None if found is None else Principal(found["name"], found["role"])
        with self.lock:
            if len(self.known) >= _MAX_CACHED:
                self.known.clear()
            self.known[key] = (now, principal)
        return principal

    def roles(self) -> frozenset[str]:
        """The roles some token has (``admin`` when the setting's token exists)."""
        now = time.monotonic()
        cached = self.roles_cache
        if cached is None or now - cached[0] > self.ttl:
            with self.engine.connect() as connection:
                stored = frozenset(tokens.roles_present(connection))
            cached = (now, stored)
            self.roles_cache = cached
        return cached[1] | ({ADMIN} if self.env_token is not None else frozenset())

    def admin_exists(self) -> bool:
        """Whether writes are possible at all."""
        return ADMIN in self.roles()

    def writes_possible(self) -> bool:
        """``admin_exists``, and False when the store cannot say (the API answers 503)."""
        if self.env_token is not None:
            return True
        try:
            return self.admin_exists()
        except sa.exc.SQLAlchemyError:
            return False

    def any_token(self) -> bool:
        """Whether anyone can read a server whose reads need a token."""
        return bool(self.roles())


def auth() -> Auth:
    """The running app's ``Auth``."""
    return current_app.extensions["hospiflow.auth"]


def _given_token(allow_query: bool) -> str | None:
    """The bearer token of the request ("" for a credential that is not one), or None."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    if allow_query:
        return request.args.get("access_token")
    return None


def _principal(allow_query: bool = False) -> Principal:
    token = _given_token(allow_query)
    principal = auth().identify(token) if token else None
    if principal is None:
        raise Unauthorized("missing or wrong bearer token", where="Authorization")
    g.principal = principal
    return principal


def actor() -> str:
    """The audit log's name for the request's token holder."""
    principal = g.get("principal")
    return principal.name if principal is not None else ENV_TOKEN_NAME


def check_admin() -> Principal:
    """Refuse the request unless it carries an administrator token (401/403)."""
    if not auth().admin_exists():
        raise WritesDisabled(
            "writes are disabled: the server has no administrator token (set "
            "HOSPIFLOW_API_TOKEN or HOSPIFLOW_API_TOKEN_FILE, or create one with "
            "`hospiflow token create NAME --role admin`)"
        )
    principal = _principal()
    if principal.role != ADMIN:
        raise Forbidden("this needs an administrator token; this one is a viewer's", where="role")
    return principal


def requires_admin(view: Callable) -> Callable:
    """Decorator of write and administration endpoints."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return wrapper


def reads_need_token() -> bool:
    return bool(current_app.config["READS_NEED_TOKEN"])


def check_read(prefix: str, open_paths: frozenset[str]) -> None:
    """``before_request``: a token on every API read when ``READS_NEED_TOKEN`` is on."""
    if request.method not in ("GET", "HEAD") or not reads_need_token():
        return
    path = request.path
    if not path.startswith(prefix + "/") or path in open_paths:
        return
    _principal(allow_query=path.endswith("/stream"))
