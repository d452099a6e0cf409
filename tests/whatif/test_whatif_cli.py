"""``hospiflow whatif`` as an operator runs it: a table of differences, and every bad
change set refused in one line naming the option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hospiflow.cli", "whatif", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )


def test_whatif_prints_the_differences(tmp_path: Path) -> None:
    out = tmp_path / "whatif.json"
    done = _run(
        "--add-doctor",
        "2xgeneral_medicine@08:00-00:00",
        "--add-doctor",
        "2xcardiology@08:00-00:00",
        "--spaces",
        "boxes+4",
        "--replications",
        "4",
        "--weeks",
        "1",
        "--warmup-days",
        "1",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "+2 general_medicine doctor(s) 08:00-00:00" in done.stdout
    assert "boxes: 44 -> 48 spaces" in done.stdout
    assert "95 % interval" in done.stdout and "door-to-doctor wait" in done.stdout
    result = json.loads(out.read_text())
    wait = next(m for m in result["measures"] if m["key"] == "door_to_doctor_mean_min")
    assert wait["pairs"] == 4 and wait["difference"] < 0
    assert f"{wait['baseline']:.1f}" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--add-doctor", "cardiology@18:00"], "--add-doctor[0]: must read"),
        (["--add-doctor", "oncology@18:00-02:00"], "--add-doctor[0].specialty: is not a specialty"),
        (
            ["--remove-doctor", "3xneurology@12:00-16:00"],
            "--remove-doctor[0].change: cannot remove",
        ),
        (["--spaces", "corridor+4"], "--spaces corridor: no treatment area named 'corridor'"),
        (["--ward-beds=-600"], "--ward-beds: would leave 'medicine' with -318 beds"),
        (["--arrivals", "lots"], "--arrivals: must read a percentage"),
        (["--arrivals", "-100%"], "--arrivals: must be a percentage above -100"),
        (["--diagnostics", "0x"], "--diagnostics: must be a factor above 0"),
        (["--replications", "1"], "--replications: must be a whole number from 2"),
        (["--boarding-sooner", "1000"], "--boarding-sooner: must be a number of hours within"),
        (["--scenario", "nowhere.toml"], "nowhere.toml: cannot read scenario file"),
    ],
)
def test_bad_change_sets_are_one_line(args: list[str], says: str) -> None:
    done = _run(*args, "--weeks", "1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0]
    assert "Traceback" not in done.stderr
