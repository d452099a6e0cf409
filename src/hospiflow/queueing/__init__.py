"""Analytic queueing: Erlang B/C, M/M/c measures, Allen–Cunneen G/G/c, staffing.

Imports nothing of hospiflow's but its error type, so the simulator, the
forecaster and the CLI can all lean on it.
"""

from __future__ import annotations

from hospiflow.queueing.erlang import (
    MMcResult,
    allen_cunneen,
    erlang_b,
    erlang_c,
    mmc,
    service_cv2_of_mixture,
    service_mixture,
)
from hospiflow.queueing.staffing import StaffingRow, fewest_servers, staffing_table

__all__ = [
    "MMcResult",
    "StaffingRow",
    "allen_cunneen",
    "erlang_b",
    "erlang_c",
    "fewest_servers",
    "mmc",
    "service_cv2_of_mixture",
    "service_mixture",
    "staffing_table",
]
