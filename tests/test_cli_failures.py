"""Every way an operator's command can fail ends in one line on stderr and a non-zero exit.

One table: each row runs the real ``hospiflow`` command in a process of its
own against a real broken environment (a corrupted, read-only or locked
SQLite file, an unreachable PostgreSQL, a full disk, a taken port, bad
values) and checks the answer is one clear line naming the cause, never a
traceback. Rows run a few at a time: the locked-database row waits out
SQLite's 15 s ``busy_timeout``.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import POSTGRES_URL


@dataclass
class Case:
    """One failing command: its arguments, what must appear in the line, how to set it up."""

    name: str
    args: list[str]
    says: tuple[str, ...]  # each (lower-cased) must be in the one line
    file_limit: int | None = None  # RLIMIT_FSIZE of the child, bytes (a full disk)
    extra: dict[str, Any] = field(default_factory=dict)


def _pg_base() -> str:
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]


def _cases(root: Path, port: int, mounted: bool) -> list[Case]:
    corrupt = str(root / "corrupt.db")
    readonly = str(root / "ro" / "readonly.db")
    locked = str(root / "locked.db")
    fresh = str(root / "fresh.db")
    bad_toml = str(root / "latin1.toml")
    short = ["--days", "1", "--quiet"]
    return [
        Case("status corrupted", ["db", "status", "--db", corrupt], ("corrupt",)),
        Case("simulate corrupted", ["simulate", *short, "--db", corrupt], ("corrupt",)),
        Case("serve corrupted", ["serve", "--port", "0", "--db", corrupt], ("corrupt",)),
        Case(
            "simulate read-only",
            ["simulate", *short, "--no-reports", "--db", readonly],
            ("read-only",),
        ),
        Case(
            "live read-only",
            ["live", "--for", "1", "--db", readonly],
            ("read-only",),
        ),
        Case(
            "delete-run read-only",
            ["db", "delete-run", "1", "--db", readonly],
            ("read-only",),
        ),
        Case("locked", ["simulate", *short, "--no-reports", "--db", locked], ("locked",)),
        Case(
            "postgres unreachable",
            ["db", "status", "--database-url", "postgresql://postgres@127.0.0.1:1/test"],
            ("postgresql", "127.0.0.1"),
        ),
        Case(
            "postgres database missing",
            ["db", "status", "--database-url", f"{_pg_base()}/hospiflow_no_such_db"],
            ("does not exist",),
        ),
        Case("db is a folder", ["db", "status", "--db", str(root)], ("folder",)),
        Case("not a url", ["db", "status", "--database-url", "not a url"], ("url",)),
        Case(
            "out unwritable",
            ["simulate", *short, "--no-store", "--out", str(Path(corrupt) / "reports")],
            ("--out",),
        ),
        Case(
            "out in /proc",
            ["simulate", *short, "--no-store", "--out", "/proc/hospiflow-reports"],
            ("--out",),
        ),
        Case(
            "disk full",
            ["simulate", "--days", "60", "--quiet", "--no-store", "--out", str(root / "disk")],
            ("no room",),
            file_limit=None if mounted else 150_000,  # a real full tmpfs, else a file limit
        ),
        Case("port in use", ["serve", "--port", str(port), "--db", fresh], ("port", "in use")),
        Case("bad host", ["serve", "--host", "256.1.1.1", "--db", fresh], ("256.1.1.1",)),
        Case(
            "scenario not utf-8",
            ["simulate", "--scenario", bad_toml, *short],
            ("utf-8", "latin1.toml"),
        ),
        Case("scenario check not utf-8", ["scenario", "check", bad_toml], ("utf-8", "latin1.toml")),
        Case("start 9999", ["simulate", "--start-date", "9999-12-31", *short], ("start",)),
        Case("seed 2^70", ["simulate", "--seed", str(2**70), *short], ("seed",)),
        Case("rate 1e9", ["simulate", "--rate", "1e9", *short], ("patients",)),
        Case("warm-up 1e9", ["simulate", "--warmup-days", "1e9", *short], ("warm",)),
    ]


def _run(case: Case, cwd: Path) -> subprocess.CompletedProcess[str]:
    def limits() -> None:
        if case.file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.file_limit, case.file_limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSPIFLOW_")}
    env["HOME"] = str(cwd)
    return subprocess.run(
        [sys.executable, "-m", "hospiflow.cli", *case.args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limits,
        stdin=subprocess.DEVNULL,
    )


def _mount(*argv: str | Path) -> bool:
    """``mount ARGV`` (root only); True when it worked."""
    if shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *map(str, argv)], capture_output=True).returncode == 0


@pytest.fixture
def world() -> Iterator[tuple[Path, int, bool]]:
    """A folder every user can read: broken databases, a taken port, a tiny disk."""
    root = Path(tempfile.mkdtemp(prefix="hospiflow-failures-"))
    root.chmod(0o755)
    (root / "corrupt.db").write_bytes(b"this is not a database\n" * 400)
    for name in ("ro/readonly.db", "locked.db"):
        subprocess.run(
            [sys.executable, "-m", "hospiflow.cli", "db", "init", "--db", str(root / name)],
            check=True,
            capture_output=True,
        )
    mounts = []
    if os.geteuid() != 0:  # permissions hold for everyone but root
        (root / "ro" / "readonly.db").chmod(0o444)
        (root / "ro").chmod(0o555)
    elif _mount("--bind", root / "ro", root / "ro") and _mount(
        "-o", "remount,bind,ro", root / "ro"
    ):
        mounts.append(root / "ro")  # root writes anywhere but on a read-only mount
    else:
        pytest.fail("as root, a read-only bind mount is needed for the read-only rows")
    (root / "latin1.toml").write_bytes('name = "Hôpital"\n'.encode("latin-1"))
    disk = root / "disk"
    disk.mkdir()
    mounted = os.geteuid() == 0 and _mount("-t", "tmpfs", "-o", "size=128k", "tmpfs", disk)
    if mounted:
        mounts.append(disk)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    lock = sqlite3.connect(root / "locked.db", isolation_level=None, timeout=1)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield root, taken.getsockname()[1], mounted
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        taken.close()
        for folder in mounts:
            subprocess.run(["umount", str(folder)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_every_failure_is_one_line(world: tuple[Path, int, bool]) -> None:
    root, port, mounted = world
    cases = _cases(root, port, mounted)
    run: Callable[[Case], subprocess.CompletedProcess[str]] = lambda c: _run(c, root)  # noqa: E731
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(run, cases))
    problems = []
    for case, result in zip(cases, done, strict=True):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        line = lines[-1].lower() if lines else ""
        if (
            result.returncode == 0
            or len(lines) != 1
            or "traceback" in result.stderr.lower()
            or not all(word in line for word in case.says)
        ):
            problems.append(
                f"{case.name}: exit {result.returncode}, {len(lines)} lines: "
                f"{result.stderr.strip()[-600:]!r}"
            )
    assert not problems, "\n".join(problems)
