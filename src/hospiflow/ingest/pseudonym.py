"""Pseudonymisation and data minimisation (GDPR art. 4(5), French HDS practice).

Identifiers are replaced by keyed HMAC-SHA256 pseudonyms (RFC 2104): the same
patient gets the same pseudonym in every extract of a site, so re-imports are
recognised and visits of one patient can be linked, but without the site's
secret key nobody can test a guessed identifier against the store (a plain
hash of a hospital number could be reversed by trying every number).

The key is per site and never stored in the database: it comes from
``HOSPIFLOW_PSEUDONYM_KEY`` (hex or text) or from a key file created with mode
0600 when the site is created (``<key dir>/<site>.key``; the key dir is
``HOSPIFLOW_KEY_DIR`` or ``./hospiflow-keys``). Birth dates become an age in
whole years at arrival; postcodes keep their first two characters (the French
département, or the outward area elsewhere).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from hospiflow.ingest.formats import IngestError

KEY_ENV = "HOSPIFLOW_PSEUDONYM_KEY"
KEY_DIR_ENV = "HOSPIFLOW_KEY_DIR"
DEFAULT_KEY_DIR = "hospiflow-keys"
KEY_BYTES = 32
PSEUDONYM_HEX = 32  # 128 bits: no collision in any hospital's lifetime
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def key_dir() -> Path:
    """Where site keys live (outside the database, never in the repository)."""
    return Path(os.environ.get(KEY_DIR_ENV) or DEFAULT_KEY_DIR)


def key_path(site: str) -> Path:
    """The key file of ``site`` (its name made safe for a file name)."""
    return key_dir() / f"{_SAFE_NAME.sub('_', site)}.key"


def create_key(site: str) -> Path | None:
    """Create the site's key file (mode 0600) unless the key comes from the environment.

    An existing file is kept: re-creating a site must not change its pseudonyms.
    """
    if os.environ.get(KEY_ENV):
        return None
    path = key_path(site)
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    except OSError as error:
        raise IngestError(f"cannot create the pseudonym key: {error}", where=str(path)) from error
    return path


def load_key(site: str) -> bytes:
    """The site's secret: ``HOSPIFLOW_PSEUDONYM_KEY``, else its key file."""
    text = os.environ.get(KEY_ENV)
    where = KEY_ENV
    if not text:
        path = key_path(site)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise IngestError(
                f"no pseudonym key for site {site!r}: set {KEY_ENV} or create the site "
                f"on this machine (hospiflow site create) ({error.strerror})",
                where=where,
            ) from error
    if len(text) < 16:
        raise IngestError("the pseudonym key is too short (at least 16 characters)", where=where)
    return text.encode("utf-8")


class Pseudonymiser:
    """Keyed pseudonyms for one site: ``patient``, ``visit`` and ``doctor`` ids.

    HMAC-SHA256 as RFC 2104 defines it, H((K ^ opad) || H((K ^ ipad) || m)),
    with the two keyed SHA-256 states computed once and copied per value:
    the ``hmac`` module's own ``copy`` is Python code and cost more than the
    hashing itself on imports of millions of rows. ``test_pseudonym`` checks
    it against ``hmac.new``. The inner state also holds each kind's
    ``kind:`` prefix already (one state per kind, made on first use).
    """

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._kinds: dict[str, Any] = {}

    def _prefixed(self, kind: str) -> Any:
        prefixed = self._kinds.get(kind)
        if prefixed is None:
            prefixed = self._inner.copy()
            prefixed.update(f"{kind}:".encode())
            self._kinds[kind] = prefixed
        return prefixed

    def pseudonym(self, kind: str, value: str) -> str:
        """HMAC-SHA256(key, kind + ":" + value), 128 bits in hex."""
        inner = self._prefixed(kind).copy()
        inner.update(value.strip().encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:PSEUDONYM_HEX]

    def pseudonyms(self, kind: str, values: Iterable[str]) -> list[str]:
        """``pseudonym(kind, value)`` of each value (one call for a whole column)."""
        prefixed, outer = self._prefixed(kind), self._outer
        out = []
        for value in values:
            inner = prefixed.copy()
            inner.update(value.strip().encode())
            final = outer.copy()
            final.update(inner.digest())
            out.append(final.hexdigest()[:PSEUDONYM_HEX])
        return out


def age_at(birth: date, arrival: date) -> int:
    """Whole years between a birth date and an arrival date."""
    years = arrival.year - birth.year
    if (arrival.month, arrival.day) < (birth.month, birth.day):
        years -= 1
    return years


def area_of(postcode: str | None) -> str | None:
    """A postcode's first two characters (the French département): all that is kept."""
    if not postcode:
        return None
    compact = postcode.replace(" ", "")
    return compact[:2].upper() if len(compact) >= 2 else None
