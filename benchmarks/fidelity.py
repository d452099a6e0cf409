"""Twin fidelity on round-trip sites (issue 12, the proof): the ``emergency`` hospital
simulated for 121 days with a seed, exported as CSV, imported as a site, then
``calibrate --validate --holdout-weeks 8`` scored over its replications. Also the
true hospital's own replications over the same weeks (the reference: what a perfect
fit reaches on that realisation). Not a timing benchmark: it prints the criteria.

    python benchmarks/fidelity.py --seeds 5 7 --replications 20 [--truth] [--days 421]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from hospiflow.calibration import validate
from hospiflow.calibration.history import data_days, local_midnight_ms, read_visits
from hospiflow.cli import main
from hospiflow.simulation.replications import run_in_pool, run_measured
from hospiflow.simulation.scenario import load_scenario
from hospiflow.store import sites as store_sites
from hospiflow.store.engine import create_engine_for

DAYS = 121


def cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def site(folder: Path, seed: int, days: int = DAYS) -> Path:
    db = folder / (f"site{seed}.db" if days == DAYS else f"site{seed}-{days}d.db")
    if db.exists():
        return db
    cli(
        *("simulate", "--scenario", "emergency", "--days", str(days), "--seed", str(seed)),
        *("--db", str(db), "--no-reports", "--quiet"),
    )
    visits = folder / f"visits{seed}-{days}.csv"
    cli("export", "--run", "1", "--format", "csv", "--out", str(visits), "--db", str(db))
    cli("site", "create", "Known", "--db", str(db))
    cli("import", "--site", "Known", "--format", "csv", str(visits), "--db", str(db), "--quiet")
    return db


def show(label: str, criteria: list[validate.Criterion]) -> None:
    cells = []
    for c in criteria:
        value = c.value * 100 if c.unit == "%" else c.value
        cells.append(f"{c.key} {value:.1f}{'' if c.passed else '*'}")
    print(f"{label:<22} " + "  ".join(cells), flush=True)


def truth(
    db: Path, seed: int, replications: int, workers: int, days: int = DAYS
) -> list[validate.Criterion]:
    """The true hospital, other seeds, over the held-out weeks of the site's realisation."""
    engine = create_engine_for(f"sqlite:///{db}")
    with engine.connect() as connection:
        s = store_sites.get_site(connection, "Known")
        first, end = data_days(connection, int(s["run_id"]), s["timezone"])  # type: ignore[misc]
        visits = read_visits(connection, int(s["run_id"]))
    engine.dispose()
    holdout = end - timedelta(weeks=8)
    tz = s["timezone"]
    start_ms, end_ms = local_midnight_ms(holdout, tz), local_midnight_ms(end, tz)
    scenario = load_scenario("emergency").replace(days=float(days), seed=seed + 1000)
    origin = local_midnight_ms(scenario.start_date, tz)
    one = partial(validate.measure_simulation, origin, start_ms, end_ms, tz)
    simulated = run_in_pool(
        run_measured, [(scenario, i, one) for i in range(replications)], workers
    )
    return validate.criteria(validate._observed(visits, start_ms, end_ms, tz), simulated)


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 7])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--truth", action="store_true")
    parser.add_argument("--folder", default=None)
    parser.add_argument("--days", type=int, default=DAYS, help="days the site's history spans")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="fidelity-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()}", flush=True)
    for seed in args.seeds:
        db = site(folder, seed, args.days)
        t0 = time.perf_counter()
        engine = create_engine_for(f"sqlite:///{db}")
        result = validate.validate_site(
            engine, "Known", replications=args.replications, workers=args.workers
        )
        engine.dispose()
        show(f"seed {seed} twin", result.criteria)
        census = np.array([m.census for m in result.simulated])
        print(
            f"  observed census mean {np.nanmean(result.observed.census):.1f}, twin "
            f"{np.nanmean(census):.1f} (8-week means {np.nanmean(census, axis=1).min():.1f}.."
            f"{np.nanmean(census, axis=1).max():.1f}), {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        if args.truth:
            show(f"seed {seed} true", truth(db, seed, args.replications, args.workers, args.days))
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main_()
