"""API tokens: a name, a role (viewer reads, admin also writes), and only a SHA-256.

A token is 32 random bytes (``secrets.token_urlsafe``), shown once when it is
created; the store keeps its SHA-256 hex digest, so a copy of the database
(a backup, a dump) gives nobody a working token. Tokens have enough entropy
that a plain, unsalted hash is safe (no dictionary to try, unlike passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.errors import HospiflowError, NotFoundError
from hospiflow.store import schema
from hospiflow.store.timeconv import now_ms

ROLES = schema.TOKEN_ROLES  # ("viewer", "admin")
TOKEN_BYTES = 32


class TokenError(HospiflowError):
    """A token cannot be created as asked (bad name or role, name taken)."""

    code = "token_invalid"
    http_status = 422


def digest(token: str) -> str:
    """The SHA-256 hex digest stored in place of ``token``."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def create_token(connection: Connection, name: str, role: str) -> str:
    """Create a token called ``name`` with ``role``; return the token (never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("a token name has 1 to 100 characters", where="name")
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, got {role!r}", where="--role")
    t = schema.api_tokens
    if connection.execute(sa.select(t.c.id).where(t.c.name == name)).first() is not None:
        raise TokenError(f"a token named {name!r} already exists", where="name")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    connection.execute(
        t.insert().values(name=name, role=role, token_sha256=digest(token), created_at_ms=now_ms())
    )
    return token


def list_tokens(connection: Connection) -> list[dict[str, Any]]:
    """Every token's name, role and creation time (never its digest)."""
    t = schema.api_tokens
    rows = connection.execute(sa.select(t.c.name, t.c.role, t.c.created_at_ms).order_by(t.c.name))
    return [dict(row._mapping) for row in rows]


def revoke_token(connection: Connection, name: str) -> None:
    """Delete the token called ``name`` (``NotFoundError`` if there is none)."""
    t = schema.api_tokens
    if connection.execute(t.delete().where(t.c.name == name)).rowcount == 0:
        raise NotFoundError(f"no token named {name!r}", where="name")


def lookup(connection: Connection, token: str) -> dict[str, str] | None:
    """``{"name", "role"}`` of the stored token equal to ``token``, or None."""
    wanted = digest(token)
    t = schema.api_tokens
    row = connection.execute(
        sa.select(t.c.name, t.c.role, t.c.token_sha256).where(t.c.token_sha256 == wanted)
    ).first()
    if row is None or not hmac.compare_digest(row.token_sha256, wanted):
        return None
    return {"name": row.name, "role": row.role}


def role_of(connection: Connection, token: str) -> str | None:
    """The role of ``token`` ("viewer" or "admin"), or None if no stored token matches."""
    found = lookup(connection, token)
    return None if found is None else found["role"]


def roles_present(connection: Connection) -> set[str]:
    """Which roles have at least one token (to tell "no admin at all" from "wrong token")."""
    t = schema.api_tokens
    return {r for (r,) in connection.execute(sa.select(t.c.role).distinct())}
