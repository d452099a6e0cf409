"""NEDOCS and EDWIN against hand-worked examples of their published formulas."""

from __future__ import annotations

import pytest

from hospiflow.tension.scores import EDWIN_INPUTS, edwin, missing, nedocs


def test_nedocs_weighs_each_term_as_weiss_2004() -> None:
    # 30 patients / 20 spaces, 5 boarders / 300 beds, 1 ventilated, longest boarder
    # 6 h, last bedded patient waited 2 h:
    # 85.8*1.5 + 600*5/300 + 13.4*1 + 0.93*6 + 5.64*2 - 20 = 128.7+10+13.4+5.58+11.28-20
    value, band = nedocs(30, 20, 5, 300, 1, 6.0, 2.0)
    assert value == pytest.approx(148.96)
    assert band == "severely_overcrowded"


@pytest.mark.parametrize(
    ("patients", "expected_band"),
    [
        (0, "not_busy"),
        (10, "busy"),
        (20, "extremely_busy"),
        (25, "extremely_busy"),
        (30, "overcrowded"),
    ],
)
def test_nedocs_bands_and_clipping(patients: int, expected_band: str) -> None:
    value, band = nedocs(patients, 20, 0, 300, 0, 0.0, 0.0)
    assert value == pytest.approx(max(0.0, 85.8 * patients / 20 - 20))
    assert band == expected_band
    assert nedocs(200, 10, 50, 100, 5, 40, 10)[0] == 200.0  # clipped
    with pytest.raises(ValueError, match="treatment spaces"):
        nedocs(1, 0, 0, 100, 0, 0, 0)


def test_edwin_weights_the_sickest_most_as_bernstein_2003() -> None:
    # ESI 1 weighs 5 ... ESI 5 weighs 1: (2*5 + 4*3 + 6*1) / (2 doctors * (12 bays - 2 boarders))
    value, band = edwin({1: 2, 3: 4, 5: 6}, 2, 12, 2)
    assert value == pytest.approx(28 / 20)
    assert band == "manageable"
    assert edwin({2: 10}, 1, 22, 2) == (pytest.approx(2.0), "busy")
    assert edwin({2: 11}, 1, 22, 2)[1] == "overcrowded"


def test_edwin_is_undefined_without_doctor_or_free_bay_and_says_what_is_missing() -> None:
    assert edwin({3: 4}, 0, 10, 0) == (None, None)
    assert edwin({3: 4}, 2, 5, 5) == (None, None)
    with pytest.raises(ValueError, match="acuity level 6"):
        edwin({6: 1}, 1, 10, 0)
    inputs = {"patients_by_acuity": None, "doctors_on_duty": 3, "treatment_spaces": None}
    assert missing(inputs, EDWIN_INPUTS) == ["patients_by_acuity", "treatment_spaces", "boarding"]
