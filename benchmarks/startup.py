"""Start-up benchmark: how long the ``hospiflow`` command takes before it answers.

Run: ``.venv/bin/python benchmarks/startup.py [--repeat 7]``. Prints one table.
Goal (issue 13): ``hospiflow --help`` and ``hospiflow db status`` in <= 0.5 s.

References measured in the same run: a bare ``python -c pass`` (the floor)
and "eager", every command module imported up front as the CLI did before
its commands were loaded lazily (SciPy, pandas and the forecaster included).
Each command runs as a fresh process; the table gives the median wall time
and the median CPU time (user + system of the child), which moves less when
other processes load the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EAGER = (
    "import hospiflow.cli as c, importlib; "
    "[importlib.import_module('hospiflow.cli.' + m) for m, _a, _h in c.COMMANDS.values()]"
)


def _time(argv: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    hospiflow = [python, "-m", "hospiflow.cli"]
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "hospiflow.db")
        subprocess.run([*hospiflow, "db", "init", "--db", db], check=True, capture_output=True)
        cases = {
            "python -c pass (floor)": [python, "-c", "pass"],
            "eager: every command module (before)": [python, "-c", EAGER],
            "hospiflow --help": [*hospiflow, "--help"],
            "hospiflow db status": [*hospiflow, "db", "status", "--db", db],
            "hospiflow scenario show": [*hospiflow, "scenario", "show"],
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.repeat):  # interleaved: a load burst hits every case alike
            for name, argv in cases.items():
                samples[name].append(_time(argv, folder))
    eager = statistics.median(w for w, _c in samples["eager: every command module (before)"])
    print(f"start-up, median of {args.repeat} runs (load average {os.getloadavg()[0]:.1f})")
    print(f"{'command':40} {'wall s':>8} {'CPU s':>8} {'vs eager':>9} {'goal':>7}")
    for name, values in samples.items():
        wall = statistics.median(w for w, _c in values)
        cpu = statistics.median(c for _w, c in values)
        goal = "<= 0.5" if name in ("hospiflow --help", "hospiflow db status") else ""
        print(f"{name:40} {wall:8.3f} {cpu:8.3f} {wall / eager:8.2f}x {goal:>7}")


if __name__ == "__main__":
    main()
