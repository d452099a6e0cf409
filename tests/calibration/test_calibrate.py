"""Calibration on a hospital whose parameters are known: the built-in ``emergency``
scenario simulated for 17 weeks, exported as CSV and imported as a site (as a
hospital's data would come), then fitted and validated through the command line."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hospiflow.cli import main
from hospiflow.simulation.calendar import build_calendar, hourly_arrival_rates
from hospiflow.simulation.flow import flow_tables
from hospiflow.simulation.scenario import load_scenario
from hospiflow.store import calibrations, schema
from hospiflow.store.engine import create_engine_for

DAYS = 121  # 17 weeks and 2 days: 8 weeks to fit on + 8 held out, the last day partial
SEED = 5


def cli(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output


def known_site(folder: Path, seed: int, days: int = DAYS) -> Path:
    """The true hospital run with ``seed``, exported and imported as the site "Known"."""
    db = folder / "site.db"
    cli(
        "simulate",
        "--scenario",
        "emergency",
        "--days",
        str(days),
        "--seed",
        str(seed),
        "--db",
        str(db),
        "--no-reports",
        "--quiet",
    )
    visits = folder / "visits.csv"
    cli("export", "--run", "1", "--format", "csv", "--out", str(visits), "--db", str(db))
    cli("site", "create", "Known", "--db", str(db))
    cli("import", "--site", "Known", "--format", "csv", str(visits), "--db", str(db), "--quiet")
    return db


@pytest.fixture(scope="module")
def site_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return known_site(tmp_path_factory.mktemp("calibration"), SEED)


@pytest.fixture(scope="module")
def fitted(site_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    out = tmp_path_factory.mktemp("fit") / "known.toml"
    output = cli("calibrate", "--site", "Known", "--out", str(out), "--db", str(site_db), "--quiet")
    assert "not estimated from the data" in output and "doctors" in output
    scenario = tomllib.loads(out.read_text(encoding="utf-8"))
    catalog = tomllib.loads((out.parent / "known.catalog.toml").read_text(encoding="utf-8"))
    return scenario, catalog, out


def test_the_written_scenario_is_accepted_and_documents_what_was_not_estimated(fitted, tmp_path):
    _, _, out = fitted
    assert "valid" in cli("scenario", "check", str(out))
    text = out.read_text(encoding="utf-8")
    assert "# Not estimated from the data" in text and "triage scale" in text
    text_report = (out.parent / "known-fit.csv").read_text(encoding="utf-8")
    report = list(csv.DictReader(text_report.splitlines()))
    sections = {row["section"] for row in report}
    assert {"arrivals", "mix", "care time", "boarding", "patience", "capacity"} <= sections
    chosen = [row for row in report if row["section"] == "care time" and row["note"] == "chosen"]
    assert len(chosen) >= 20  # one family chosen by AIC per pathology with enough visits
    cli("simulate", "--scenario", str(out), "--days", "2", "--out", str(tmp_path), "--quiet")


def test_the_stored_fit_holds_its_plots_beside_the_data(fitted, site_db):
    """What the dashboard draws of a fit: arrivals by hour of the week (the profiles'
    product against the history's means) and care time by pathology (the twin's one
    family and cv with each pathology's mean, against the observed quantiles)."""
    engine = create_engine_for(f"sqlite:///{site_db}")
    try:
        with engine.connect() as connection:
            row = calibrations.latest_calibration(connection, 1)
    finally:
        engine.dispose()
    assert row is not None  # the fit alone, or a validation's if it ran first
    plots = row["details"]["plots"]
    observed = np.array(plots["arrivals"]["observed"], dtype=float)
    fitted_how = np.array(plots["arrivals"]["fitted"], dtype=float)
    assert len(observed) == len(fitted_how) == 168
    assert np.mean(np.abs(fitted_how - observed) / observed) < 0.12  # 9 weeks of Poisson noise
    assert observed[9] > 2 * observed[4]  # Monday 09:00 busier than 04:00
    care = plots["care_time"]
    assert care["family"] in ("exponential", "lognormal", "gamma") and care["cv"] > 0
    rows = care["pathologies"]
    assert len(rows) >= 20 and [r["n"] for r in rows] == sorted(
        (r["n"] for r in rows), reverse=True
    )
    for r in rows:
        assert 0 < r["twin_p50"] < r["twin_p90"] and 0 < r["observed_p50"] <= r["observed_p90"]
        assert 0.5 < r["twin_p90"] / r["observed_p90"] < 2, r


def test_recovers_rate_mix_admissions_and_patience(fitted):
    scenario, catalog, _ = fitted
    truth = load_scenario("emergency").replace(days=float(DAYS - 1), seed=SEED)
    calendar = build_calendar(truth)
    rates = hourly_arrival_rates(truth, calendar)[calendar.reported_slots()]
    rate = scenario["arrivals"]["rate_per_hour"]
    print(f"rate fitted {rate:.3f} / true {rates.mean():.3f}")
    assert abs(rate / rates.mean() - 1) < 0.03
    # pathology mix: the true mix of the months simulated, weighted by their arrivals
    true_catalog = truth.load_catalog()
    months = calendar.month[calendar.reported_slots()]
    weights = true_catalog.monthly_weights(True)
    mix = (weights[np.asarray(months) - 1] * rates[:, None]).sum(axis=0) / rates.sum()
    fitted_mix = {p["code"]: p["base_weight"] / 100 for p in catalog["pathologies"]}
    worst = max(abs(fitted_mix[p.code] - mix[j]) for j, p in enumerate(true_catalog.pathologies))
    print(f"largest pathology share error {worst:.4f}")
    assert worst < 0.01
    # admission of each pathology over its age mix, fitted vs true
    tables = flow_tables(truth.flow, true_catalog)
    flow = scenario["flow"]
    factors = np.array(flow["admission_age_factor"])
    errors = []
    for j, p in enumerate(true_catalog.pathologies):
        age_true = np.diff(np.concatenate([[0.0], tables.age_cum[j]]))
        true_share = float(
            (age_true * np.minimum(tables.admission[j] * tables.age_factor, 1)).sum()
        )
        override = flow["pathologies"].get(p.code, {})
        age_fit = np.array(override.get("age_mix", flow["age_mix"]))
        fit_share = float(
            (age_fit * np.minimum(override.get("admission", flow["admission"]) * factors, 1)).sum()
        )
        if p.base_weight >= 2:
            errors.append(abs(fit_share - true_share))
    print(f"largest admission error {max(errors):.4f}")
    assert (
        max(errors) < 0.07
    )  # the truth caps admission × age factor at 1: not quite multiplicative
    # patience, censored: CCMU levels 1 and 2 leave (900 and 1500 min), 3-5 never
    patience = flow["patience_minutes"]
    print(f"patience fitted {patience} / true {truth.flow.patience_minutes}")
    assert abs(patience[0] / 900 - 1) < 0.25 and abs(patience[1] / 1500 - 1) < 0.25
    assert patience[2:] == [0, 0, 0]


def test_recovers_exit_block_episodes(fitted):
    """The true wards fill for weeks at a time: the fitted boarding varies by day in
    episodes, and the waits are spread as queues spread them."""
    scenario, _, _ = fitted
    flow = scenario["flow"]
    days = np.array(flow["boarding_days"])
    print(f"{len(days)} day factors, sd {days.std():.2f}, block {flow['boarding_block_days']} d")
    assert len(days) >= 100 and days.std() > 0.8 and (days > 2).sum() >= 10
    assert flow["boarding_block_days"] >= 2
    assert flow["triage_cv"] > 0.7  # queues spread the waits (a nurse's triage: 0.5)


def test_recovers_care_time_means(fitted):
    """Care (first doctor to decision) = treatment + diagnostics share × (turnaround +
    reassessment), plus the wait for the doctor's reassessment, which the model's
    parameters do not give (up to +60 % here for pathologies of low priority under load):
    fitted means must lie within [0.9, 1.7] × expected."""
    _, catalog, _ = fitted
    truth = load_scenario("emergency")
    true_catalog = truth.load_catalog()
    tables = flow_tables(truth.flow, true_catalog)
    fitted_mean = {p["code"]: p["mean_treatment_minutes"] for p in catalog["pathologies"]}
    extra = truth.flow.diagnostics_mean_minutes + truth.flow.reassessment_minutes
    ratios = []
    for j, p in enumerate(true_catalog.pathologies):
        if p.base_weight < 2:
            continue
        expected = p.mean_treatment_minutes + tables.diagnostics[j] * extra
        ratios.append(fitted_mean[p.code] / expected)
    print(f"care time fitted / expected: {min(ratios):.3f} .. {max(ratios):.3f}")
    assert 0.9 < min(ratios) and max(ratios) < 1.7
    assert np.median(ratios) < 1.35


def validate_known(site_db: Path, replications: int = 6) -> dict[str, dict]:
    """``calibrate --validate`` of the site "Known", 8 weeks held out: its stored criteria
    by name."""
    output = cli(
        "calibrate",
        "--site",
        "Known",
        "--validate",
        "--holdout-weeks",
        "8",
        "--replications",
        str(replications),
        "--workers",
        "2",
        "--db",
        str(site_db),
        "--quiet",
    )
    print(output)
    engine = create_engine_for(f"sqlite:///{site_db}")
    try:
        with engine.connect() as connection:
            row = connection.execute(
                schema.calibrations.select().where(schema.calibrations.c.kind == "validation")
            ).first()
    finally:
        engine.dispose()
    assert row is not None and row.replications == replications and row.holdout_weeks == 8
    criteria = {c["key"]: c for c in row.criteria}
    assert len(criteria) == 7
    assert row.passed == all(c["passed"] for c in criteria.values())
    census = row.details["series"]["census"]  # what the fidelity card draws
    twin, low, high = (np.array(census[k], dtype=float) for k in ("twin", "low", "high"))
    assert len(twin) == 168 and np.all(low <= twin) and np.all(twin <= high)
    assert census["coverage"] == pytest.approx(1 - 2 / (replications + 1), abs=1e-4)
    inside = np.mean((census["observed"] >= low) & (census["observed"] <= high))
    assert inside == pytest.approx(criteria["census_band"]["value"])
    return criteria


# the goals on stays and dispositions, which the twin meets on these sites
STAY_GOALS = ("los_p50", "los_p90", "within_4h", "admissions")


def test_validation_scores_the_twin_and_stores_its_verdict(site_db):
    criteria = validate_known(site_db)
    # what the twin reproduces on this site, 6 replications: census 13.8 % and 40 % of
    # hours inside the band (with 6 replications, their range: a 71 % prediction band;
    # 34 % inside the 5th-95th percentiles used before). The goals (10 %, 80 %) do not
    # hold: even the true hospital's own replications reach only 9.1 % on this
    # realisation (docs/architecture.md)
    assert criteria["census_mape"]["value"] < 0.145
    assert criteria["census_band"]["value"] >= 0.3
    for name in STAY_GOALS:
        assert criteria[name]["passed"], criteria[name]
    assert criteria["arrivals_mape"]["value"] < 0.12


@pytest.mark.slow
def test_a_year_of_history_gives_the_held_out_winter_its_exit_block(tmp_path):
    """Seed 7 over 421 days: the held-out weeks are January and February, whose wards
    were full the winter before. With exit block by month (``boarding_monthly``) the
    twin gives them their boarding; with one level for the year it ran 8 patients low
    (census MAPE 21.2 %, 26 % of hours in the band, LOS p90 20.5 % off; the true
    hospital itself, 15.6 % and 66 %). Measured, 20 replications: 12.9 %, 79 % of hours
    inside the 90 % prediction band (65 % inside the 5th-95th percentiles used before),
    LOS p90 9.9 %."""
    criteria = validate_known(known_site(tmp_path, 7, days=421), replications=20)
    assert criteria["census_mape"]["value"] < 0.14
    assert criteria["census_band"]["value"] >= 0.7
    for name in STAY_GOALS:
        assert criteria[name]["passed"], criteria[name]


def test_too_little_history_is_refused_naming_what_cannot_be_estimated(site_db, tmp_path):
    output = cli(
        "calibrate",
        "--site",
        "Known",
        "--until",
        "2025-02-15",
        "--out",
        str(tmp_path / "x.toml"),
        "--db",
        str(site_db),
        ok=False,
    )
    assert "at least 8 weeks" in output and "nothing was estimated" in output
    assert not (tmp_path / "x.toml").exists()
    for weeks in (12, 30):  # 30: more weeks held out than the site has
        output = cli(
            *("calibrate", "--site", "Known", "--validate", "--holdout-weeks", str(weeks)),
            *("--db", str(site_db)),
            ok=False,
        )
        assert "--holdout-weeks" in output and "at least 8 weeks" in output
    # nothing left to fit on, said as such, not as a negative count
    assert "has 120 days of visits" in output and "leaves 0 days to fit on" in output


def test_visits_without_departures_are_refused(tmp_path):
    db = tmp_path / "nodep.db"
    # one arrival an hour for 9 weeks, no departure times
    header = "visit_id,patient_id,arrival,first_seen,departure,acuity,disposition,diagnosis,"
    rows = [header + "diagnosis_system,age,sex,specialty"] + [
        f"v{i},p{i},{np.datetime64('2025-01-01T00:10') + np.timedelta64(i, 'h')},,,3,discharged,"
        "R07.4,,50,,".replace("T", " ")
        for i in range(24 * 7 * 9)
    ]
    source = tmp_path / "visits.csv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cli("site", "create", "No departures", "--db", str(db))
    cli(
        "import",
        "--site",
        "No departures",
        "--format",
        "csv",
        str(source),
        "--db",
        str(db),
        "--quiet",
    )
    output = cli(
        "calibrate",
        "--site",
        "No departures",
        "--out",
        str(tmp_path / "x.toml"),
        "--db",
        str(db),
        ok=False,
    )
    assert "departure" in output and "length of stay" in output and "cannot be estimated" in output


def test_a_site_of_hourly_counts_only_is_refused_saying_why(tmp_path):
    """The real UIHC series (hourly arrival counts, no visits) cannot calibrate a twin."""
    counts = Path(__file__).parents[2] / ".." / "shared" / "ed-data" / "uihc-iowa"
    source = counts / "uihc_ed_arrivals.csv"
    if not source.is_file():
        pytest.skip("the shared ED data are not beside the repository")
    db = tmp_path / "counts.db"
    cli("site", "create", "Iowa", "--timezone", "America/Chicago", "--db", str(db))
    cli("import", "--site", "Iowa", "--format", "counts", str(source), "--db", str(db), "--quiet")
    output = cli(
        "calibrate", "--site", "Iowa", "--out", str(tmp_path / "x.toml"), "--db", str(db), ok=False
    )
    assert "no visit records" in output and "hourly arrival counts alone" in output
