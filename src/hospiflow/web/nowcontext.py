"""What the Now view shows beside the state: the next hours, a trend and the usual
for each key figure, and the patients present longest.

Thin over the store and the stored forecast:

* **next hours** (``outlook``): the hospital's expected arrivals per hour and
  patients present at each hour's end, each with its 90 % band (quantiles 0.05 and
  0.95), from the run's stored forecast (:mod:`hospiflow.store.forecasts`), from the
  hour ``as_of`` is in as far as the forecast covers it: a site's forecast starts at the
  end of its last complete hour of data (``last_complete_hour`` names it), where its
  Forecast view's red risk starts, a simulation's at the whole hour after its data's
  end; a live run without one of its own uses the forecast of the history run it continues,
  while that still covers the coming hours. Fewer than ``MIN_HOURS`` hours ahead
  left: ``forecast`` is null and ``forecast_missing`` says why (``none``: no
  forecast, ``stale``: it does not reach far enough);
* **figures**: each key figure an hour before ``as_of`` and its usual for this
  hour of the week (:mod:`hospiflow.store.usual`); a figure the data cannot give
  is null (the run's ``now`` names what the data lack);
* **longest present**: :mod:`hospiflow.store.present`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from hospiflow.forecast.history import predecessor
from hospiflow.store import forecasts, present, queries, usual
from hospiflow.store import now as store_now
from hospiflow.store import observed as store_observed
from hospiflow.store.timeconv import MS_PER_HOUR, MS_PER_MIN
from hospiflow.web import observed
from hospiflow.web.data import RunContext, _round, is_observed, read_run
from hospiflow.web.timeutil import utc_iso

HOURS = 8
MIN_HOURS = 4
BAND = (0.05, 0.95)


# --------------------------------------------------------------------------- next hours


def _band_index(levels: list[float]) -> tuple[int, int] | None:
    found = [next((i for i, q in enumerate(levels) if abs(q - b) < 1e-9), None) for b in BAND]
    low, high = found
    return None if low is None or high is None else (low, high)


def _series(rows: list[tuple], levels: list[float]) -> dict[str, list[float | None]]:
    where = _band_index(levels)
    out: dict[str, list[float | None]] = {"mean": [], "low": [], "high": []}
    for _target, _spec, mean, quantiles in rows:
        out["mean"].append(_round(float(mean), 2))
        band = quantiles if isinstance(quantiles, list) and where else None
        out["low"].append(_round(float(band[where[0]]), 2) if band and where else None)
        out["high"].append(_round(float(band[where[1]]), 2) if band and where else None)
    return out


def _forecast_of(connection: Connection, run: RunContext, as_of: int) -> dict[str, Any] | None:
    """The run's own forecast, else its history run's, as far as it covers ``as_of``."""
    candidates = [run.id]
    before = predecessor(connection, run.row)
    if before is not None:
        candidates.append(before)
    for source in candidates:
        header = forecasts.latest_header(connection, source, "forecast")
        if header is None:
            continue
        hour = (as_of // MS_PER_HOUR) * MS_PER_HOUR
        arrivals = [
            r
            for r in forecasts.read_rows(
                connection, source, "arrivals", hour, hour + HOURS * MS_PER_HOUR
            )
            if r[1] is None
        ]
        ends = [
            r
            for r in forecasts.read_rows(
                connection, source, "occupancy", as_of + 1, as_of + (HOURS + 1) * MS_PER_HOUR
            )
            if r[1] is None
        ][:HOURS]
        return {"header": header, "source": source, "arrivals": arrivals, "present": ends}
    return None


def outlook(connection: Connection, run: RunContext, as_of: int | None) -> dict[str, Any]:
    """``forecast`` (or null) and ``forecast_missing`` (``none``, ``stale`` or null)."""
    found = _forecast_of(connection, run, as_of) if as_of is not None else None
    if found is None:
        return {"forecast": None, "forecast_missing": "none"}
    if len(found["arrivals"]) < MIN_HOURS:
        return {"forecast": None, "forecast_missing": "stale"}
    header = found["header"]
    levels = [float(q) for q in (header["payload"] or {}).get("quantile_levels", [])]
    tz = run.tz
    present_rows = found["present"]
    return {
        "forecast": {
            "run_id": int(found["source"]),
            "generated_at": utc_iso(header["generated_at_ms"], tz),
            "origin": utc_iso(header["origin_ms"], tz),
            # a site's forecast starts at the end of its last complete hour (the Forecast
            # view's red risk starts there too): the caption names that hour, as that view's
            "last_complete_hour": utc_iso(int(header["origin_ms"]) - MS_PER_HOUR, tz)
            if is_observed(run.row)
            else None,
            "band": list(BAND),
            "hours": [utc_iso(r[0], tz) for r in found["arrivals"]],
            "arrivals": _series(found["arrivals"], levels),
            "present_at": [utc_iso(r[0], tz) for r in present_rows],
            "present": _series(present_rows, levels),
        },
        "forecast_missing": None,
    }


# --------------------------------------------------------------------------- figures


def _simulated_figures(
    connection: Connection, run: RunContext, as_of: int
) -> tuple[dict[str, dict[str, float | None]], int]:
    runs = [run.id]
    first = run.start_ms
    before = predecessor(connection, run.row)
    if before is not None:  # a live run: its history's weeks count too
        runs.append(before)
        first = int(read_run(connection, before)["start_utc_ms"])
    ends = usual.week_windows(as_of, run.tz, first)
    ago = as_of - MS_PER_HOUR
    past = _state_figures(usual.state_totals(connection, runs, ago))
    norm = _state_figures(usual.usual_state(connection, runs, ends))
    figures = {
        name: {"hour_ago": _round(past.get(name), 3), "usual": _round(norm.get(name), 3)}
        for name in STATE_NAMES
    }
    then = _activity_at(connection, run, ago) if past else None
    known = then is not None and ago - MS_PER_HOUR >= run.start_ms  # the trace holds that hour
    started = sum(then.wait_count) if then else 0
    figures["arrivals_last_hour"] = {
        "hour_ago": sum(then.arrivals_last_hour) if then and known else None,
        "usual": _round(usual.usual_arrivals(connection, runs, ends), 2),
    }
    longest = [x for x in then.longest_wait_min if x is not None] if then else []
    figures["longest_wait_min"] = {"hour_ago": _round(max(longest, default=None), 1), "usual": None}
    figures["mean_wait_last_hour_min"] = {
        "hour_ago": _round(sum(then.wait_sum_min) / started, 1)
        if then and known and started
        else None,
        "usual": None,
    }
    return figures, len(ends)


STATE_NAMES = (
    "waiting",
    "in_treatment",
    "present",
    "doctors_on_duty",
    "doctors_free",
    "utilisation",
)


def _state_figures(state: dict[str, Any] | None) -> dict[str, float | None]:
    """The Now tiles' figures from summed state figures."""
    if state is None:
        return {}
    on_duty = state["doctors_on_duty"]
    return {
        "waiting": state["waiting"],
        "in_treatment": state["in_treatment"],
        "present": state["waiting"] + state["in_treatment"],
        "doctors_on_duty": on_duty,
        "doctors_free": max(0.0, on_duty - state["doctors_busy"]),
        "utilisation": state["doctors_busy"] / on_duty if on_duty else None,
    }


def _activity_at(connection: Connection, run: RunContext, at_ms: int) -> store_now.Activity:
    """What ``now`` would have said of the trace at ``at_ms``: longest waits, the hour's
    arrivals and treatment starts with their waits."""
    n = len(run.catalog.specialties)
    expected = [0] * n
    for r in queries.current_state(connection, run.id, at_ms):
        if 0 <= int(r["specialty_idx"]) < n:
            expected[int(r["specialty_idx"])] = int(r["waiting"])
    return store_now.activity(connection, run.id, run.start_ms, at_ms, expected, 0)


def _observed_figures(
    connection: Connection, run: RunContext, as_of: int
) -> tuple[dict[str, dict[str, float | None]], int]:
    n = len(run.catalog.specialties)
    ago = as_of - MS_PER_HOUR
    rows = store_observed.visits_arrived(connection, run.id, ago - observed.MAX_STAY_MS, ago)
    seen_known = store_observed.has_first_seen(connection, run.id)
    then = observed._tally(rows, ago, n, seen_known)[n].item(seen_known, None)
    ends = usual.week_windows(as_of, run.tz, run.start_ms)
    # the same usual as the ``now`` answer's (its table shows it per specialty)
    _per, usual_arrivals, _weeks = observed.usual_arrivals(connection, run, as_of, n)
    figures = {
        "present": {
            "hour_ago": then["present"],
            "usual": _round(usual.usual_present(connection, run.id, ends), 2),
        },
        "waiting": {"hour_ago": then["waiting"], "usual": None},
        "longest_present_min": {"hour_ago": then["longest_present_min"], "usual": None},
        "arrivals_last_hour": {
            "hour_ago": then["arrivals_last_hour"],
            "usual": usual_arrivals,
        },
    }
    return figures, len(ends)


def as_of_of(connection: Connection, run: RunContext, config: dict[str, Any]) -> int | None:
    """The instant the Now view describes (the ``now`` answer's ``as_of``)."""
    if is_observed(run.row):
        if observed.is_live(connection, run.id):
            from hospiflow.store.timeconv import now_ms

            return max(int(run.row["end_utc_ms"] or 0), now_ms())
        return int(run.row["end_utc_ms"]) if int(run.row["visits_count"]) else None
    state = queries.current_state(connection, run.id)
    return int(state[0]["time_ms"]) if state else None


def context_payload(
    connection: Connection, run: RunContext, config: dict[str, Any]
) -> dict[str, Any]:
    """The ``/now/context`` answer: figures an hour ago and usual, and the next hours."""
    as_of = as_of_of(connection, run, config)
    figures: dict[str, dict[str, float | None]] = {}
    weeks = 0
    if as_of is not None:
        if is_observed(run.row):
            figures, weeks = _observed_figures(connection, run, as_of)
        else:
            figures, weeks = _simulated_figures(connection, run, as_of)
    return {
        "ok": True,
        "run_id": run.id,
        "timezone": run.tz,
        "as_of": utc_iso(as_of, run.tz),
        "usual_weeks": weeks,
        "figures": figures,
        **outlook(connection, run, as_of),
    }


# --------------------------------------------------------------------------- longest present


def longest_payload(
    connection: Connection, run: RunContext, config: dict[str, Any], limit: int
) -> dict[str, Any]:
    """The ``/now/longest`` answer: the patients present longest at ``as_of``."""
    as_of = as_of_of(connection, run, config)
    patients: list[present.PresentPatient] = []
    count = 0
    if as_of is not None:
        patients, count = present.longest_present(
            connection, run.id, as_of, limit, observed=is_observed(run.row)
        )
    cat = run.catalog
    return {
        "ok": True,
        "run_id": run.id,
        "timezone": run.tz,
        "as_of": utc_iso(as_of, run.tz),
        "present": count,
        "patients": [
            {
                "patient_no": p.patient_no,
                "pathology": cat.code("pathologies", p.pathology_idx),
                "specialty": cat.code("specialties", p.specialty_idx),
                "acuity": p.acuity,
                "arrival": utc_iso(p.arrival_ms, run.tz),
                "minutes_present": _round((as_of - p.arrival_ms) / MS_PER_MIN, 1)
                if as_of is not None
                else None,
            }
            for p in patients
        ],
    }
