"""Risks on the shared status rule, backtested (issue 11): the department turning red
1-8 h ahead on a simulated run of the default (flow) hospital, and tension tomorrow.

Each prints its Brier skill over the base rate of the same hour (day) of the week.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hospiflow.errors import ForecastError
from hospiflow.forecast.history import load_history, load_state
from hospiflow.forecast.status_risk import HORIZONS, tension_risk_backtest
from hospiflow.forecast.storebacktest import status_risks
from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import migrate
from hospiflow.store.engine import connect

TEST_DAYS = 56


@pytest.fixture(scope="module")
def risks(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """200 days of the default hospital in SQLite, and both backtests on its last 56."""
    url = f"sqlite:///{tmp_path_factory.mktemp('risk') / 'run.db'}"
    migrate.init(url)
    run_id = simulate_run(default_scenario(days=200.0, seed=3), database_url=url).run_id
    assert run_id is not None
    with connect(url) as connection:
        history = load_history(connection, run_id, with_predecessor=False)
        state = load_state(connection, run_id)
        return status_risks(connection, run_id, history, state, TEST_DAYS)


def test_red_within_hours_beats_the_hour_of_week_base_rate(risks) -> None:
    red = risks["red"]
    horizons = red["horizons"]
    assert [h["hours_ahead"] for h in horizons] == list(range(1, HORIZONS + 1))
    print(f"\nred base rate in the test period {red['base_rate']:.3f} ({red['rule']})")
    for h in horizons:
        print(
            f"  {h['hours_ahead']} h ahead: Brier {h['brier']:.4f}, base rate "
            f"{h['brier_base_rate']:.4f}, skill {h['brier_skill']:+.3f} ({h['cases']} hours)"
        )
    assert all(h["cases"] >= TEST_DAYS * 24 - HORIZONS - 2 for h in horizons)
    assert 0.02 < red["base_rate"] < 0.3  # red happens, and is not the norm
    assert horizons[0]["brier_skill"] > 0.2  # the state now tells much about the next hour
    assert horizons[0]["brier_skill"] > horizons[-1]["brier_skill"]  # and less 8 h ahead
    assert red["mean_brier_skill"] > 0.0


def test_tension_tomorrow_is_backtested_or_says_why(risks) -> None:
    """At k = 1 the default hospital almost never reaches global level 3 (none in two
    simulated years): the backtest then says there is nothing to learn from."""
    if "tension" in risks:
        t = risks["tension"]
        print(f"\ntension tomorrow: skill {t['brier_skill']}, base rate {t['base_rate']:.3f}")
        assert t["cases"] >= TEST_DAYS - 2
    else:
        print(f"\ntension tomorrow: {risks['tension_note']}")
        assert "nothing to learn" in risks["tension_note"]


def _persistent_tension(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A Markov chain of global levels with tension episodes lasting several days."""
    rng = np.random.default_rng(seed)
    level = np.zeros(days, dtype=int)
    for d in range(1, days):
        if level[d - 1] >= 3:
            level[d] = 3 if rng.random() < 0.7 else rng.integers(0, 3)
        else:
            level[d] = 3 if rng.random() < 0.06 + 0.04 * (level[d - 1] == 2) else rng.integers(0, 3)
    indicators = np.vstack([np.clip(level + rng.integers(-1, 2, days), 0, 4)] * 6)
    return indicators, level


def test_tension_risk_learns_persistent_episodes() -> None:
    indicators, level = _persistent_tension(400, seed=1)
    days = pd.date_range("2025-01-01", periods=400, freq="D")
    result = tension_risk_backtest(days, indicators, level, test_days=120)
    print(f"\npersistent episodes: skill {result['brier_skill']:.3f}")
    assert result["brier_skill"] > 0.2 and result["cases"] == 120


def test_tension_risk_without_any_tension_day_says_so() -> None:
    days = pd.date_range("2025-01-01", periods=200, freq="D")
    with pytest.raises(ForecastError, match="nothing to learn") as caught:
        tension_risk_backtest(days, np.ones((6, 200), dtype=int), np.ones(200, dtype=int), 50)
    assert caught.value.where == "test_days"


def test_live_tension_risk_uses_the_backtested_fit() -> None:
    """The live tension risk (fitted on every day) rises after a day in tension, and carries
    the skill of the same fit backtested on its last days."""
    from hospiflow.forecast.status_risk import tension_risk_now

    indicators, level = _persistent_tension(400, seed=1)
    days = pd.date_range("2025-01-01", periods=400, freq="D")
    tense = np.flatnonzero(level == 3)
    calm = np.flatnonzero(level == 0)
    after_tension = tension_risk_now(
        days[: tense[-1] + 1], indicators[:, : tense[-1] + 1], level[: tense[-1] + 1], test_days=100
    )
    after_calm = tension_risk_now(
        days[: calm[-1] + 1], indicators[:, : calm[-1] + 1], level[: calm[-1] + 1], test_days=100
    )
    print(
        f"\nP(tension tomorrow): {after_tension['probability']:.2f} after a tension day, "
        f"{after_calm['probability']:.2f} after a calm one"
    )
    assert after_tension["today"]["tension"] and not after_calm["today"]["tension"]
    assert after_tension["probability"] > 0.5 > 0.2 > after_calm["probability"]
    backtest = tension_risk_backtest(
        days[: tense[-1] + 1], indicators[:, : tense[-1] + 1], level[: tense[-1] + 1], test_days=100
    )
    assert after_tension["brier_skill"] == backtest["brier_skill"]
