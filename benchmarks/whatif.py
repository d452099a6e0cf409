"""What-if benchmark: 20 paired replications x 8 weeks of the emergency scenario, baseline
and change (40 runs), time to result, against the issue's goal of 10 s on 2 cores.

    .venv/bin/python benchmarks/whatif.py [--replications 20] [--weeks 8]

The change is the issue's example: one more cardiologist from 18:00 to 02:00, four
more treatment spaces, ten more ward beds. Measured in one run, printed as a table:

1. **reference**: one run of the period in this process (the unit of work), and
   the floor it implies: 40 runs / the cores (perfect parallelism, no start-up);
2. **cold**: ``run_whatif`` with a pool of its own (``hospiflow whatif``: the
   workers' start-up included);
3. **warm pool**: ``run_whatif`` in a pool already started (what the server does
   from its second what-if on, ``web.jobs``);
4. **API, first / again**: ``POST /whatifs`` then polling ``GET /whatifs/{id}``
   every 0.1 s on a real app (the page's path), first (pool started by it) and
   again (pool reused).

The machine's load average is printed before and after: on a shared machine
the wall times move with it. The CPU seconds do not: the reference run's own CPU
time, and the CPU time the pool's workers spent in all (``getrusage`` of the
ended children: imports, the 40 runs, the pickling), divided by the cores, is
the time the same work takes on this machine when nothing else runs on it
("idle estimate").
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hospiflow.simulation.replications import new_pool  # noqa: E402
from hospiflow.simulation.scenario import load_scenario  # noqa: E402
from hospiflow.tension.status import StatusRule  # noqa: E402
from hospiflow.whatif.changes import change_set_from_dict  # noqa: E402
from hospiflow.whatif.compare import WhatIfSettings, period, run_whatif  # noqa: E402
from hospiflow.whatif.measures import run_arm  # noqa: E402

GOAL_SECONDS = 10.0
CHANGES = {
    "doctors": [{"specialty": "cardiology", "start": "18:00", "end": "02:00", "change": 1}],
    "spaces": 4,
    "ward_beds": 10,
}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _api(replications: int, weeks: float) -> tuple[float, float]:
    """Seconds from POST to a complete answer, first and again, on a real app."""
    from hospiflow.store import migrate
    from hospiflow.web.app import create_app, state

    folder = Path(tempfile.mkdtemp(prefix="hospiflow-whatif-bench-"))
    url = f"sqlite:///{folder / 'store.db'}"
    migrate.init(url)
    app = create_app({"DATABASE_URL": url, "API_TOKEN": "bench", "TESTING": True})
    client = app.test_client()
    body = {"base": "emergency", "changes": CHANGES, "replications": replications, "weeks": weeks}
    times = []
    try:
        for _ in range(2):
            started = time.perf_counter()
            answer = client.post(
                "/api/v1/whatifs", json=body, headers={"Authorization": "Bearer bench"}
            )
            assert answer.status_code == 202, answer.get_data(as_text=True)
            job_url = answer.get_json()["status_url"]
            while True:
                job = client.get(job_url).get_json()["whatif"]
                if job["status"] != "running":
                    break
                time.sleep(0.1)
            assert job["status"] == "complete", job["error"]
            times.append(time.perf_counter() - started)
    finally:
        state(app).close()
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--weeks", type=float, default=8.0)
    args = parser.parse_args()
    base = load_scenario("emergency")
    changes = change_set_from_dict(CHANGES)
    settings = WhatIfSettings(replications=args.replications, weeks=args.weeks)
    runs = 2 * args.replications
    cores = os.cpu_count() or 1
    print(f"cores: {cores}; load before: {_load()}")

    one = period(base, settings)
    run_arm(one, 1, StatusRule())  # imports and caches warmed
    started, cpu = time.perf_counter(), time.process_time()
    run_arm(one, 2, StatusRule())
    unit, unit_cpu = time.perf_counter() - started, time.process_time() - cpu
    floor = runs * unit / cores

    started, cpu = time.perf_counter(), _children_cpu()
    cold = run_whatif(base, changes, settings)
    cold_s, cold_cpu = time.perf_counter() - started, _children_cpu() - cpu

    pool = new_pool()
    try:
        pool.submit(run_arm, period(base, WhatIfSettings(weeks=0.1)), 1, StatusRule()).result()
        started = time.perf_counter()
        warm = run_whatif(base, changes, settings, pool=pool)
        warm_s = time.perf_counter() - started
    finally:
        cpu = _children_cpu()
        pool.shutdown()
        warm_cpu = _children_cpu() - cpu  # the warm-up task included (a few runs' imports)
    assert cold.baseline == warm.baseline and cold.change == warm.change  # same seeds

    api_first, api_again = _api(args.replications, args.weeks)
    print(f"load after: {_load()}")
    print()
    header = f"{'case':<34} {'seconds':>8} {'s/run':>7} {'x floor':>8} {'goal 10 s':>10}"
    print(
        f"{runs} runs: {args.replications} paired replications x {args.weeks:g} weeks "
        f"of 'emergency' (+{base.warmup_days:g} days warm-up), baseline and change"
    )
    print(header)
    print("-" * len(header))
    rows = [
        ("reference: one run, in process", unit, None),
        (f"floor: {runs} runs / {cores} cores", floor, None),
        ("cold: own pool (CLI)", cold_s, cold_s),
        ("warm pool (server, 2nd what-if on)", warm_s, warm_s),
        ("API first: POST + polling", api_first, api_first),
        ("API again: pool reused", api_again, api_again),
    ]
    for name, seconds, total in rows:
        per_run = "" if total is None else f"{total / runs:7.2f}"
        ratio = "" if total is None else f"{total / floor:8.2f}"
        verdict = "" if total is None else ("ok" if total <= GOAL_SECONDS else "over")
        print(f"{name:<34} {seconds:8.2f} {per_run:>7} {ratio:>8} {verdict:>10}")
    print()
    print("CPU seconds (independent of the load):")
    print(
        f"  one run: {unit_cpu:.2f} s CPU ({unit:.2f} s wall); {runs} runs: "
        f"{runs * unit_cpu:.1f} s CPU, {runs * unit_cpu / cores:.1f} s on {cores} idle cores"
    )
    for name, used in (
        ("cold pool (start-up included)", cold_cpu),
        ("warm pool (its start-up included)", warm_cpu),
    ):
        verdict = "ok" if used / cores <= GOAL_SECONDS else "over"
        print(
            f"  {name}: workers used {used:.1f} s CPU -> idle estimate "
            f"{used / cores:.1f} s on {cores} cores ({verdict} against {GOAL_SECONDS:g} s)"
        )
    wait = next(ci for m, ci in warm.rows if m.key == "door_to_doctor_mean_min")
    print()
    print(
        f"door-to-doctor wait: {wait.baseline_mean:.1f} -> {wait.change_mean:.1f} min, "
        f"difference {wait.difference:+.1f} [{wait.low:+.1f}, {wait.high:+.1f}]"
    )


if __name__ == "__main__":
    main()
