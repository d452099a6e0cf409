"""Every failure of a command as one line for an operator, never a traceback.

Our own errors (``HospiflowError``) already say what and where. The rest
come from the environment — the database (corrupted, read-only, locked,
unreachable), the file system (unwritable, full), the network (port in use)
— or, for what nothing checked, from Python itself; each gets one line that
names the cause, and what to do where we know it. ``HOSPIFLOW_DEBUG=1``
prints the traceback too, for a developer.
"""

from __future__ import annotations

import errno
import os
import traceback
from typing import Any

EXIT_INPUT = 2  # our own, named error: the input or the request was wrong
EXIT_FAILURE = 1  # the environment failed us (database, disk, network) or a bug

_SQLITE_HINTS = (
    ("file is not a database", "is corrupted or not a hospiflow database"),
    ("malformed", "is corrupted (its disk image is malformed)"),
    ("readonly database", "is read-only: this command needs to write it"),
    ("read-only", "is read-only: this command needs to write it"),
    (
        "database is locked",
        "is locked by another process for longer than the wait allowed; "
        "try again when it has finished",
    ),
    (
        "unable to open database file",
        "cannot be opened (a folder? a missing or unwritable folder?)",
    ),
    ("disk i/o error", "could not be read or written (disk I/O error)"),
    ("database or disk is full", "cannot grow: the disk is full"),
)


def one_line(error: BaseException) -> tuple[str, int]:
    """The message (one line) and exit status for ``error``."""
    from hospiflow.errors import HospiflowError

    if os.environ.get("HOSPIFLOW_DEBUG"):
        traceback.print_exception(error)
    if isinstance(error, HospiflowError):
        return _flat(str(error)), EXIT_INPUT
    database = _database_message(error)
    if database is not None:
        return database, EXIT_FAILURE
    if isinstance(error, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text (byte {error.object[error.start : error.start + 1]!r} "
            f"at position {error.start}); save it as UTF-8",
            EXIT_INPUT,
        )
    if isinstance(error, OSError):
        return _os_message(error), EXIT_FAILURE
    if isinstance(error, OverflowError | ValueError):
        return f"a value is out of range: {_flat(str(error))}", EXIT_INPUT
    return (
        f"unexpected {type(error).__name__}: {_flat(str(error))} "
        "(HOSPIFLOW_DEBUG=1 shows the traceback)",
        EXIT_FAILURE,
    )


def _flat(text: str) -> str:
    """The first line of ``text``, without SQLAlchemy's trailing advice."""
    line = text.strip().splitlines()[0] if text.strip() else "(no message)"
    return line.split(" (Background on this error")[0].strip()


def _database_message(error: BaseException) -> str | None:
    """A database failure in the operator's words; None when ``error`` is not one."""
    try:
        from sqlalchemy import exc
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if isinstance(error, exc.ArgumentError):
        return f"not a database URL: {_flat(str(error))} (use sqlite:///FILE or postgresql://...)"
    if not isinstance(error, exc.DBAPIError):
        return None
    original: Any = error.orig
    text = _flat(str(original)) if original is not None else _flat(str(error))
    module = type(original).__module__ if original is not None else ""
    if module.startswith("sqlite3"):
        lowered = text.lower()
        for needle, hint in _SQLITE_HINTS:
            if needle in lowered:
                return f"the SQLite database {hint} (sqlite: {text})"
        return f"the SQLite database failed: {text}"
    if module.startswith("psycopg"):
        if "does not exist" in text:
            return f"PostgreSQL: {text}; create it (createdb) or fix --database-url"
        if "connect" in text.lower() or "refused" in text.lower():
            return f"cannot reach the PostgreSQL server: {text}"
        return f"PostgreSQL failed: {text}"
    return f"the database failed: {text}"


def _os_message(error: OSError) -> str:
    where = error.filename if error.filename is not None else None
    reason = error.strerror or _flat(str(error))
    if error.errno == errno.EADDRINUSE:
        return f"the port is already in use ({reason}): stop the other server or choose --port"
    if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        target = f"writing {where}" if where else "writing a file"
        return f"no room left while {target} ({reason}); free some space and run again"
    if where is not None:
        return f"{where}: {reason}"
    return f"{type(error).__name__}: {reason}"
