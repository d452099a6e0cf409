"""The ``hospiflow`` command starts without importing what its commands need.

Start-up time itself is measured in ``benchmarks/startup.py`` (not here: the
machine is shared); this checks the cause it had: every command imported
SciPy, pandas and the forecaster before ``--help`` could answer.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from hospiflow.cli import COMMANDS, main

HEAVY = ("numpy", "pandas", "scipy", "sklearn", "hospiflow.forecast", "hospiflow.simulation")


def _modules_after(args: list[str]) -> set[str]:
    """The modules loaded by the time ``hospiflow ARGS`` finished, in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "from hospiflow.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_help_imports_no_heavy_library() -> None:
    loaded = _modules_after(["--help"])
    assert "click" in loaded  # the probe sees what was imported
    assert not [m for m in loaded for h in HEAVY if m == h or m.startswith(h + ".")]


def test_db_status_imports_no_numerical_library(tmp_path) -> None:
    db = str(tmp_path / "s.db")
    subprocess.run(
        [sys.executable, "-m", "hospiflow.cli", "db", "init", "--db", db],
        check=True,
        capture_output=True,
    )
    loaded = _modules_after(["db", "status", "--db", db])
    assert "sqlalchemy" in loaded
    assert not [m for m in loaded for h in HEAVY if m == h or m.startswith(h + ".")]


def test_listed_help_is_each_commands_own() -> None:
    """The help --help prints without importing a command is that command's first line."""
    for name, (module, attribute, short) in COMMANDS.items():
        command = getattr(importlib.import_module(f"hospiflow.cli.{module}"), attribute)
        text = (command.short_help or command.help or "").split("\n\n")[0]
        assert " ".join(text.split()) == short, name
        assert main.get_command(None, name) is command  # type: ignore[arg-type]
