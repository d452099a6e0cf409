"""FEDORU indicator levels against the site's own history, and the global rule."""

from __future__ import annotations

import numpy as np
import pytest

from hospiflow.errors import HospiflowError
from hospiflow.tension.het import HetSettings, assess, global_levels, indicator_levels


def _weekly(weeks: int, rng: np.random.Generator) -> np.ndarray:
    """Mondays busier than Sundays, with noise: a site's daily attendances."""
    weekday = np.tile(np.array([120, 110, 105, 105, 110, 90, 85], dtype=float), weeks)
    return weekday + rng.normal(0, 5, size=len(weekday))


def test_levels_count_standard_deviations_over_the_same_weekday() -> None:
    rng = np.random.default_rng(3)
    v = _weekly(30, rng)
    level, mean, sd = indicator_levels(v, True, HetSettings(k=1.0, reference_weeks=20))
    assert (level[:28] == -1).all()  # fewer than 4 same-weekday references: unknown
    day = 29 * 7  # a Monday with 20 Mondays of history
    ref = v[day - 7 * 20 : day : 7]
    assert mean[day] == pytest.approx(ref.mean())
    assert sd[day] == pytest.approx(ref.std(ddof=1))
    for z, expected in ((0.5, 0), (1.2, 1), (2.5, 2), (3.1, 3), (9.0, 4)):
        spiked = v.copy()
        spiked[day] = ref.mean() + z * ref.std(ddof=1)
        assert indicator_levels(spiked, True, HetSettings(reference_weeks=20))[0][day] == expected
    # k = 2: each level needs twice as many standard deviations
    spiked = v.copy()
    spiked[day] = ref.mean() + 3.1 * ref.std(ddof=1)
    assert indicator_levels(spiked, True, HetSettings(k=2.0, reference_weeks=20))[0][day] == 1
    # beds available (HET1): fewer is worse
    spiked[day] = ref.mean() - 4.2 * ref.std(ddof=1)
    assert indicator_levels(spiked, False, HetSettings(reference_weeks=20))[0][day] == 4
    assert indicator_levels(spiked, True, HetSettings(reference_weeks=20))[0][day] == 0


def test_global_tension_needs_three_indicators_at_level_three() -> None:
    s = HetSettings()
    levels = np.array(
        [
            [3, 3, 4, -1, 0],
            [3, 3, 4, -1, 0],
            [3, 2, 4, -1, -1],
            [0, 0, 1, -1, -1],
            [-1, -1, 0, 3, -1],
            [-1, -1, 0, 3, -1],
        ]
    )
    assert global_levels(levels, s).tolist() == [3, 2, 4, -1, -1]


def test_assess_names_why_an_indicator_is_not_available() -> None:
    rng = np.random.default_rng(5)
    n = 70
    values = {
        "attendances": _weekly(10, rng),
        "admitted": np.full(n, np.nan),
        "disposition_known": np.full(n, np.nan),
        "admitted_mean_stay_min": np.full(n, np.nan),
        "present_at_15": _weekly(10, rng) / 10,
        "attendances_75_plus": np.full(n, np.nan),
        "beds_available": np.full(n, np.nan),
    }
    why = {"admission_rate": "no admission recorded", "admitted_mean_stay_min": "no admission"}
    out = assess(values, why, HetSettings())
    ind = out["indicators"]
    assert ind["admission_rate"]["reason"] == "no admission recorded"
    assert ind["beds_available"]["reason"] == "no value in the data"
    assert ind["attendances"]["reason"] is None and (ind["attendances"]["level"][28:] >= 0).all()
    assert (out["global"] == -1).all()  # two known indicators cannot make three


def test_settings_are_checked() -> None:
    with pytest.raises(HospiflowError, match="k"):
        HetSettings(k=0)
    with pytest.raises(HospiflowError, match="min_reference_days"):
        HetSettings(reference_weeks=3, min_reference_days=4)
