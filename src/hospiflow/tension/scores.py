"""NEDOCS and EDWIN, the two published hourly crowding scores, with their bands.

Each function takes what the score needs and returns ``(value, band)``; a score
whose inputs the data do not hold is not guessed: :func:`missing` names what is
missing, and callers show "not available" with that reason.

**NEDOCS** (National Emergency Department Overcrowding Scale; Weiss SJ, Derlet R,
Arndahl J et al., "Estimating the degree of emergency department overcrowding in
academic medical centers: results of the National ED Overcrowding Study (NEDOCS)",
*Acad Emerg Med* 2004;11(1):38-50)::

    NEDOCS = 85.8 * (patients in the ED / ED treatment spaces)
           + 600  * (admitted patients in the ED / hospital beds)
           + 13.4 * (patients on a ventilator in the ED)
           + 0.93 * (longest time an admitted patient has waited for a bed, hours)
           + 5.64 * (waiting-room time of the last patient put into a space, hours)
           - 20,      clipped to [0, 200]

Bands: 0-20 not busy, 21-60 busy, 61-100 extremely busy but not overcrowded,
101-140 overcrowded, 141-180 severely overcrowded, 181-200 dangerously overcrowded.

**EDWIN** (Emergency Department Work Index; Bernstein SL, Verghese V, Leung W,
Lunney AT, Perez I, "Development and validation of a new index to measure
emergency department crowding", *Acad Emerg Med* 2003;10(9):938-942)::

    EDWIN = sum_i n_i * t_i / (N_a * (B_T - B_A))

``n_i`` patients in the ED in triage category ``i``, ``t_i`` the category on a
reversed five-level scale (5 the sickest: ESI 1 weighs 5, ESI 5 weighs 1),
``N_a`` attending physicians on duty, ``B_T`` treatment bays, ``B_A`` admitted
patients in the ED. Bands: < 1.5 active but manageable, 1.5-2 busy, > 2
overcrowded. Undefined with no physician or with as many boarders as bays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["EDWIN_BANDS", "NEDOCS_BANDS", "edwin", "missing", "nedocs"]

NEDOCS_BANDS = (
    (20.0, "not_busy"),
    (60.0, "busy"),
    (100.0, "extremely_busy"),
    (140.0, "overcrowded"),
    (180.0, "severely_overcrowded"),
    (math.inf, "dangerously_overcrowded"),
)
EDWIN_BANDS = ((1.5, "manageable"), (2.0, "busy"), (math.inf, "overcrowded"))

NEDOCS_INPUTS = (
    "patients_present",
    "treatment_spaces",
    "boarding",
    "hospital_beds",
    "ventilated",
    "longest_boarding_hours",
    "last_bedded_wait_hours",
)
EDWIN_INPUTS = ("patients_by_acuity", "doctors_on_duty", "treatment_spaces", "boarding")


def _band(value: float, bands: tuple[tuple[float, str], ...]) -> str:
    for upper, name in bands:
        if value <= upper:
            return name
    return bands[-1][1]


def missing(inputs: Mapping[str, object], needed: tuple[str, ...]) -> list[str]:
    """The inputs a score needs that are absent (``None``) from ``inputs``."""
    return [k for k in needed if inputs.get(k) is None]


def nedocs(
    patients_present: float,
    treatment_spaces: float,
    boarding: float,
    hospital_beds: float,
    ventilated: float,
    longest_boarding_hours: float,
    last_bedded_wait_hours: float,
) -> tuple[float, str]:
    """The NEDOCS score (clipped to 0-200) and its band (Weiss et al. 2004)."""
    if treatment_spaces <= 0 or hospital_beds <= 0:
        raise ValueError("NEDOCS needs treatment spaces and hospital beds > 0")
    raw = (
        85.8 * patients_present / treatment_spaces
        + 600.0 * boarding / hospital_beds
        + 13.4 * ventilated
        + 0.93 * longest_boarding_hours
        + 5.64 * last_bedded_wait_hours
        - 20.0
    )
    value = min(max(raw, 0.0), 200.0)
    return value, _band(value, NEDOCS_BANDS)


def edwin(
    patients_by_acuity: Mapping[int, int],
    doctors_on_duty: float,
    treatment_spaces: float,
    boarding: float,
) -> tuple[float | None, str | None]:
    """The EDWIN index and its band (Bernstein et al. 2003); ``(None, None)`` where the
    published formula is undefined (no doctor, or no bay left free of boarders).

    ``patients_by_acuity`` maps an ESI-like level (1 the sickest ... 5) to the
    patients present at that level; the weight is ``6 - level``.
    """
    free_bays = treatment_spaces - boarding
    if doctors_on_duty <= 0 or free_bays <= 0:
        return None, None
    for level in patients_by_acuity:
        if not 1 <= int(level) <= 5:
            raise ValueError(f"acuity level {level} is not 1-5")
    work = sum((6 - int(level)) * n for level, n in patients_by_acuity.items())
    value = work / (doctors_on_duty * free_bays)
    return value, _band(value, EDWIN_BANDS)
