"""The forecast run: from a run's history in the store to its forecasts in the store.

``ForecastService.run(run_id)`` (``hospiflow forecast run``, and live mode every
simulated hour) writes, replacing the run's previous forecast:

* hourly arrivals for the next 168 hours, total and per specialty: mean and the
  quantiles 0.05 ... 0.95 (negative binomial around the mean, the ladder's
  predictive distribution);
* daily totals for the next 28 local days (sums of the hourly means; their
  dispersion adds up as independent negative binomials);
* the headline risks on the Now status's own rule: P(the department's status is red)
  in each of the next 8 hours and P(FEDORU tension) tomorrow, with their backtested
  Brier skills or the reason they are unavailable
  (:mod:`hospiflow.forecast.status_forecast`; rows ``status_red`` and ``tension``,
  ``payload["status_risk"]``);
* for every coming hour and specialty, the probability of a queue forming (>= 1
  waiting per doctor: an early warning, not the status's red) and its
  drivers (forecast arrivals, rostered doctors, expected utilisation)
  (:mod:`hospiflow.forecast.saturation`), the staffing advice
  (:mod:`hospiflow.forecast.staffing`) and the patients present over the next 8
  hours with a band (:mod:`hospiflow.forecast.occupancy`: the quantiles of the
  chain's own distribution; a site's: the census projection's, taken normal).

**Model (a fixed, documented choice).** Arrivals use the Poisson GLM of the ladder
for the total and every specialty. It is the best or tied-best rung in every
backtest we ran (UIHC real data: MAE 2.05 vs 2.10 for boosting; the default
simulated hospital: the lowest pinball loss), needs no lags (so one fit serves any
horizon: 168 hours and 28 days) and fits two years in a tenth of a second per
series. ``hospiflow forecast backtest`` remains the place to compare the ladder.

**Calibration of the risk.** From the run's stored backtest (``hospiflow forecast
backtest --run``, or that of the run a live run continues) when there is one;
otherwise a quick one is fitted on the last 12 weeks of the history (with a progress
bar); runs without a scored state (imports) get the uncalibrated probability,
flagged in the payload. Runs without a roster (no scenario: imports) get arrivals
only.

**A site's observed run** (kind ``import``: visits only, no doctors, no state
samples): arrivals as above; the saturation risk and the occupancy come from the
census instead of the queue (:mod:`hospiflow.forecast.census_risk`: hospital-wide
``P(census >= capacity or the site's p95)``, calibrated from its backtest or a quick
one), the payload names the definition (``saturation_definition``), says
``lacks: ["doctors"]`` and ``staffing: "not in this data"``, and no staffing row is
written. Its forecast starts at the end of the last complete hour of data (data ending
21:48: from 21:00, learnt from the hours before it), the hour its status risk's first
bar is for (:func:`~hospiflow.forecast.status_forecast.census_series`), so every "next
hours" of a site's pages starts at the same hour (:func:`origin_of`).

**Live mode** calls :meth:`ForecastService.run` every simulated hour with
``refit=False`` unless a simulated day (and ``LiveForecaster.REFIT_SECONDS`` of real
time) has passed: the models are refitted at most once per simulated day, and each
hour only predicts. The service keeps what cannot change between those calls: the
history of the run a live run continues and its quick calibration
(:class:`~hospiflow.forecast.history.HistoryCache`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from hospiflow.errors import ForecastError, HospiflowError
from hospiflow.forecast import census_risk
from hospiflow.forecast.history import HistoryCache, RunHistory, load_history, load_state
from hospiflow.forecast.models import DEFAULT_QUANTILES, count_quantiles, fit_dispersion
from hospiflow.forecast.occupancy import normal_band, occupancy_band
from hospiflow.forecast.rolling import SharedGLM, wall_clock
from hospiflow.forecast.saturation import (
    Calibrator,
    SaturationSettings,
    raw_risk,
    rostered_doctors,
    service_table,
)
from hospiflow.forecast.staffing import staffing_advice
from hospiflow.forecast.status_forecast import status_forecast
from hospiflow.store import forecasts as store
from hospiflow.store.engine import create_engine_for
from hospiflow.store.timeconv import MS_PER_HOUR, now_ms
from hospiflow.tension.status import StatusRule

__all__ = [
    "DAILY_DAYS",
    "HORIZON_HOURS",
    "ForecastOptions",
    "ForecastService",
    "latest_run_id",
    "status_rule_from_env",
]

HORIZON_HOURS = 168
DAILY_DAYS = 28
OCCUPANCY_HOURS = 8
MODEL = "poisson_glm"
RISK_MODEL = "queue_chain"
CENSUS_MODEL = "census_projection"
STATUS_MODEL = "status_logistic"
QUICK_CALIBRATION_DAYS = 84


@dataclass(frozen=True)
class ForecastOptions:
    """Holiday calendar, saturation thresholds and quantile levels of a forecast run."""

    country: str = "FR"
    subdivision: str | None = None
    settings: SaturationSettings = field(default_factory=SaturationSettings)
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    status: StatusRule = field(default_factory=lambda: status_rule_from_env())


def status_rule_from_env() -> StatusRule:
    """The Now status's thresholds as the server reads them (``HOSPIFLOW_AMBER_WAITING_
    PER_DOCTOR``, ``HOSPIFLOW_RED_WAITING_PER_DOCTOR``; defaults 4 and 8), so that a
    forecast run by the CLI or the live forecaster means by red what the Now status does."""
    import os

    values = {}
    for name in ("amber_waiting_per_doctor", "red_waiting_per_doctor"):
        text = os.environ.get(f"HOSPIFLOW_{name.upper()}")
        if text:
            try:
                values[name] = float(text)
            except ValueError:
                raise ForecastError(
                    f"must be a number, got {text!r}", where=f"HOSPIFLOW_{name.upper()}"
                ) from None
    return StatusRule(**values)


@dataclass
class _Fitted:
    day: pd.Timestamp
    glm: SharedGLM
    dispersion: np.ndarray
    calibrator: Calibrator | None
    calibration: dict[str, Any]
    columns: list[str]
    status: dict[str, Any] = field(default_factory=dict)  # the status risks' fits


def latest_run_id(connection: Any) -> int:
    """The newest run that has data (running live runs included)."""
    import sqlalchemy as sa

    from hospiflow.store import schema

    r = schema.runs
    found = connection.execute(
        sa.select(sa.func.max(r.c.id)).where(r.c.status.in_(("complete", "running")))
    ).scalar()
    if found is None:
        raise ForecastError("the store holds no run to forecast", where="--run")
    return int(found)


def origin_of(history: RunHistory) -> int:
    """The first forecast hour (UTC ms). A site's observed data: the end of its last
    complete hour, where its status risk starts (the partial hour at the data's end is
    not learnt from, as the status risk's census does not count it); a simulation: the
    whole hour at or after its data's end (a complete run ends on one), as before."""
    if census_risk.is_observed(history):
        return (history.end_ms // MS_PER_HOUR) * MS_PER_HOUR
    return -(-history.end_ms // MS_PER_HOUR) * MS_PER_HOUR


class ForecastService:
    """Fits, predicts and writes forecasts; keeps fitted models between live refreshes."""

    def __init__(self, url_or_engine: str | Engine, options: ForecastOptions | None = None):
        self._owns = not isinstance(url_or_engine, Engine)
        self.writer = (
            url_or_engine if isinstance(url_or_engine, Engine) else create_engine_for(url_or_engine)
        )
        self.options = options or ForecastOptions()
        self._fitted: dict[int, _Fitted] = {}
        self._histories = HistoryCache()  # live refreshes read only what changed
        self._quick: dict[tuple[int, int], tuple[Calibrator | None, dict[str, Any]]] = {}
        self._status_states: dict[Any, Any] = {}  # continued runs' hourly state, daily inputs

    def close(self) -> None:
        if self._owns:
            self.writer.dispose()

    # ------------------------------------------------------------------ main entry

    def run(
        self, run_id: int | None = None, *, refit: bool = True, progress: bool = False
    ) -> dict[str, Any]:
        """Forecast run ``run_id`` (the newest run by default) and store the result."""
        started = time.perf_counter()
        site = None
        with self.writer.connect() as connection:
            if run_id is None:
                run_id = latest_run_id(connection)
            history = load_history(connection, run_id, cache=self._histories)
            origin_ms = origin_of(history)
            if census_risk.is_observed(history):
                # a site's own data: no doctors, no state samples; the census instead
                present = np.zeros(len(history.specialties))
                if census_risk.has_departures(connection, run_id):
                    site = census_risk.load_site_census(
                        connection, run_id, history.start_ms, origin_ms
                    )
            else:
                present = _present_now(connection, run_id, history)
            calibration_source = self._stored_calibration(connection, history)
        known = history.arrivals[history.arrivals.index < _wall(origin_ms, history.timezone)]
        if len(known) < 2 * 168:
            raise ForecastError(
                f"run {run_id} has {len(known)} hours of history; forecasting needs two weeks",
                where="run_id",
            )
        columns = ["total", *history.specialties]
        day = _wall(origin_ms, history.timezone).normalize()
        fitted = self._fitted.get(run_id)
        if refit or fitted is None or fitted.day != day or fitted.columns != columns:
            fitted = self._fit(history, known, columns, day, calibration_source, progress, site)
            self._fitted[run_id] = fitted
        rows, payload = self._predict(history, fitted, origin_ms, present, site)
        rows += self._status(history, fitted, payload)
        payload["seconds"] = round(time.perf_counter() - started, 3)
        generated = now_ms()
        with self.writer.begin() as connection:
            store.write_forecast(
                connection,
                run_id,
                generated_at_ms=generated,
                origin_ms=origin_ms,
                model=MODEL,
                payload=payload,
                rows=rows,
            )
        return {"run_id": run_id, "origin_ms": origin_ms, "rows": len(rows), **payload}

    # ------------------------------------------------------------------ fitting

    def _stored_calibration(self, connection: Any, history: RunHistory) -> dict[str, Any] | None:
        for run in reversed(history.runs):
            header = store.latest_header(connection, run, "backtest")
            if header and (header["payload"] or {}).get("calibration"):
                return {
                    "run_id": run,
                    "calibration": header["payload"]["calibration"],
                    "definition": header["payload"].get("saturation_definition"),
                }
        return None

    def _fit(
        self,
        history: RunHistory,
        known: pd.DataFrame,
        columns: list[str],
        day: pd.Timestamp,
        stored: dict[str, Any] | None,
        progress: bool,
        site: census_risk.SiteCensus | None = None,
    ) -> _Fitted:
        opts = self.options
        glm = SharedGLM(opts.country, opts.subdivision).fit(known[columns])
        window = known[columns].iloc[-min(len(known), 2 * 365 * 24) :]
        fitted_means = glm.predict(pd.DatetimeIndex(window.index))
        dispersion = np.array(
            [
                fit_dispersion(window[c].to_numpy(), fitted_means[:, j])
                for j, c in enumerate(columns)
            ]
        )
        calibrator, calibration = None, {"source": "none"}
        if census_risk.is_observed(history):
            calibrator, calibration = self._census_calibration(history, site, stored, progress)
            return _Fitted(day, glm, dispersion, calibrator, calibration, columns)
        if stored is not None:
            calibrator = Calibrator.from_dict(stored["calibration"])
            if calibrator.n_specialties == len(history.specialties):
                calibration = {"source": "backtest", "run_id": stored["run_id"]}
            else:
                calibrator = None
        if calibrator is None:
            calibrator, calibration = self._quick_calibration(history, progress)
        return _Fitted(day, glm, dispersion, calibrator, calibration, columns)

    def _quick_calibration(
        self, history: RunHistory, progress: bool
    ) -> tuple[Calibrator | None, dict[str, Any]]:
        """Fit the risk calibration on the last weeks of the newest run with a scored state."""
        from hospiflow.forecast.riskbacktest import operational_backtest

        scenario = _scenario(history)
        if scenario is None:
            return None, {"source": "none", "reason": "no roster (no scenario)"}
        for run in reversed(history.runs):
            with self.writer.connect() as connection:
                past = (
                    history
                    if run == history.run_id
                    else load_history(
                        connection, run, with_predecessor=False, cache=self._histories
                    )
                )
                # the history a live run continues does not change: calibrated once
                key = (run, past.end_ms)
                if run != history.run_id and key in self._quick:
                    return self._quick[key]
                state = load_state(connection, run)
            if state.empty or state["waiting"].isna().all():
                continue
            try:
                result = operational_backtest(
                    past,
                    state,
                    scenario,
                    self.options.settings,
                    test_days=7,
                    calibration_days=QUICK_CALIBRATION_DAYS,
                    country=self.options.country,
                    subdivision=self.options.subdivision,
                    progress=progress,
                    with_occupancy=False,
                )
            except HospiflowError as error:
                return None, {"source": "none", "reason": str(error)}
            found: tuple[Calibrator | None, dict[str, Any]] = (
                result.calibrator,
                {"source": "quick", "run_id": run, "days": QUICK_CALIBRATION_DAYS + 7},
            )
            if run != history.run_id:
                self._quick[key] = found
            return found
        return None, {"source": "none", "reason": "no hourly state to calibrate on"}

    def _census_calibration(
        self,
        history: RunHistory,
        site: census_risk.SiteCensus | None,
        stored: dict[str, Any] | None,
        progress: bool,
    ) -> tuple[Calibrator | None, dict[str, Any]]:
        """An observed run's census risk calibration: its stored backtest's when that used
        the same definition, else a quick one on the last weeks of its history."""
        if site is None:
            return None, {"source": "none", "reason": "no visit with a departure"}
        text = site.definition.text
        if stored is not None and stored.get("definition") == text:
            calibrator = Calibrator.from_dict(stored["calibration"])
            if calibrator.fitted and calibrator.n_specialties == 1:
                return calibrator, {"source": "backtest", "run_id": stored["run_id"]}
        try:
            result = census_risk.census_backtest(
                history,
                site,
                test_days=7,
                calibration_days=QUICK_CALIBRATION_DAYS,
                country=self.options.country,
                subdivision=self.options.subdivision,
                progress=progress,
                with_occupancy=False,
            )
        except HospiflowError as error:
            return None, {"source": "none", "reason": str(error)}
        return result.calibrator, {"source": "quick", "run_id": history.run_id}

    # ------------------------------------------------------------------ status rule

    def _status(self, history: RunHistory, fitted: _Fitted, payload: dict[str, Any]) -> list[tuple]:
        """The headline risks on the shared status rule (:mod:`hospiflow.forecast.
        status_forecast`): rows ``status_red`` (8 hours) and ``tension`` (tomorrow), their
        backtested skills and the reasons when unavailable in ``payload["status_risk"]``."""
        started = time.perf_counter()
        with self.writer.connect() as connection:
            found = status_forecast(
                connection,
                history,
                self.options.status,
                writer=None,  # the Tension view keeps the daily inputs; a live writer is busy
                cache=self._status_states,
                memo=fitted.status,  # new with every refit: the red model is fitted again
                refit=False,
            )
        rows: list[tuple] = []
        red = found.get("red")
        if red is not None:
            for target, p, base in zip(
                red.pop("hours_ms"),
                red.pop("probability"),
                red.pop("hour_of_week_rate"),
                strict=True,
            ):
                rows.append(
                    (target, None, "status_red", STATUS_MODEL, p, {"base_rate": _r(base, 4)})
                )
        tension = found.get("tension")
        if tension is not None:
            midnight = pd.Timestamp(tension["day"]).tz_localize(
                history.timezone, ambiguous=False, nonexistent="shift_forward"
            )
            base = tension.pop("day_of_week_rate")
            rows.append(
                (
                    int(midnight.value // 10**6),
                    None,
                    "tension",
                    STATUS_MODEL,
                    tension.pop("probability"),
                    {"base_rate": _r(base, 4)},
                )
            )
        found["seconds"] = round(time.perf_counter() - started, 3)
        payload["status_risk"] = found
        return rows

    # ------------------------------------------------------------------ predicting

    def _predict(
        self,
        history: RunHistory,
        fitted: _Fitted,
        origin_ms: int,
        present: np.ndarray,
        site: census_risk.SiteCensus | None = None,
    ) -> tuple[list[tuple], dict[str, Any]]:
        opts = self.options
        tz = history.timezone
        levels = list(opts.quantiles)
        hours_utc = pd.date_range(
            pd.Timestamp(origin_ms, unit="ms", tz="UTC"), periods=HORIZON_HOURS, freq="h"
        )
        targets = hours_utc.as_unit("ms").asi8.astype(np.int64)  # epoch ms, whatever the index unit
        labels = wall_clock(hours_utc, tz)
        means = fitted.glm.predict(labels)  # (168, columns)
        rows: list[tuple] = []
        for j in range(len(fitted.columns)):
            spec = None if j == 0 else j - 1
            bands = count_quantiles(means[:, j], levels, fitted.dispersion[j])
            for k in range(HORIZON_HOURS):
                rows.append((targets[k], spec, "arrivals", MODEL, means[k, j], _round(bands[k])))
        rows += self._daily(history, fitted, origin_ms, levels)
        payload: dict[str, Any] = {
            "quantile_levels": levels,
            "horizon_hours": HORIZON_HOURS,
            "daily_days": DAILY_DAYS,
            "timezone": tz,
            "specialties": history.specialties,
            "settings": opts.settings.as_dict(),
            "rule": opts.settings.rule,
            "country": opts.country,
            "calibration": fitted.calibration,
            "history_runs": history.runs,
            "history_hours": int(len(history.arrivals)),
            "risk": False,
        }
        if census_risk.is_observed(history):
            payload["lacks"] = list(census_risk.LACKS)
            payload["staffing"] = census_risk.STAFFING_NOTE
            payload["saturation_definition"] = None
            if site is not None:
                rows += self._census_rows(fitted, site, origin_ms, targets, labels, means[:, 0])
                payload.update(
                    risk=True,
                    risk_model=CENSUS_MODEL,
                    saturation_definition=site.definition.text,
                    definition=site.definition.as_dict(),
                    rule=f"saturated when {site.definition.text}: the patients present, "
                    "averaged over the hour, reach the threshold (hospital-wide)",
                )
            return rows, payload
        scenario = _scenario(history)
        if scenario is not None:
            rows += self._risk(history, fitted, scenario, hours_utc, targets, means[:, 1:], present)
            payload["risk"] = True
        return rows, payload

    def _census_rows(
        self,
        fitted: _Fitted,
        site: census_risk.SiteCensus,
        origin_ms: int,
        targets: np.ndarray,
        labels: pd.DatetimeIndex,
        arrivals: np.ndarray,
    ) -> list[tuple]:
        """Hospital-wide P(census >= threshold) per coming hour, and the patients present
        over the next hours (:mod:`hospiflow.forecast.census_risk`). No staffing rows:
        an observed run has no doctors."""
        s = census_risk.survival(site.los_minutes(origin_ms))
        projection = census_risk.project(site.elapsed_at(origin_ms), arrivals, s)
        raw = census_risk.raw_probability(projection, site.definition.threshold)
        hours = labels.hour.to_numpy()
        calibrator = fitted.calibrator or Calibrator()
        probability = calibrator(raw, np.zeros(len(raw), dtype=int), hours)
        rows: list[tuple] = []
        for k in range(len(targets)):
            rows.append(
                (
                    targets[k],
                    None,
                    "saturation",
                    CENSUS_MODEL,
                    float(probability[k]),
                    {
                        "arrivals": _r(arrivals[k]),
                        "expected_present": _r(projection.mean[k]),
                        "threshold": _r(site.definition.threshold),
                        "raw": _r(raw[k], 5),
                    },
                )
            )
        band = normal_band(projection.end, projection.end_var, list(self.options.quantiles))
        for k in range(OCCUPANCY_HOURS):
            target = int(targets[k] + MS_PER_HOUR)
            end = float(projection.end[k])
            rows.append((target, None, "occupancy", CENSUS_MODEL, end, _round(band[k])))
        return rows

    def _daily(
        self, history: RunHistory, fitted: _Fitted, origin_ms: int, levels: list[float]
    ) -> list[tuple]:
        tz = history.timezone
        origin_local = pd.Timestamp(origin_ms, unit="ms", tz="UTC").tz_convert(tz)
        first = origin_local.normalize()
        if first < origin_local:
            first = first + pd.Timedelta(days=1)
        days = pd.date_range(first.tz_localize(None), periods=DAILY_DAYS + 1, freq="D")
        bounds = days.tz_localize(tz).tz_convert("UTC")
        hours = pd.date_range(bounds[0], bounds[-1] - pd.Timedelta(hours=1), freq="h")
        means = fitted.glm.predict(wall_clock(hours, tz))
        which = np.searchsorted(bounds.asi8, hours.asi8, side="right") - 1
        rows = []
        for j in range(len(fitted.columns)):
            spec = None if j == 0 else j - 1
            a = fitted.dispersion[j]
            for d in range(DAILY_DAYS):
                mu = means[which == d, j]
                total = float(mu.sum())
                dispersion = float(a * np.sum(mu**2) / total**2) if total > 0 else 0.0
                band = count_quantiles(np.array([total]), levels, dispersion)[0]
                rows.append(
                    (
                        int(bounds[d].value // 1_000_000),  # Timestamp.value is ns
                        spec,
                        "arrivals_daily",
                        MODEL,
                        total,
                        _round(band),
                    )
                )
        return rows

    def _risk(
        self,
        history: RunHistory,
        fitted: _Fitted,
        scenario: Any,
        hours_utc: pd.DatetimeIndex,
        targets: np.ndarray,
        arrivals: np.ndarray,
        present: np.ndarray,
    ) -> list[tuple]:
        opts = self.options
        codes = history.specialties
        n_spec = len(codes)
        roster = rostered_doctors(scenario, hours_utc, codes)  # (168, S)
        labels = wall_clock(hours_utc, history.timezone)
        months = labels.month.to_numpy() - 1
        mean_table, scv_table = service_table(scenario, codes)
        service, scv = mean_table[months], scv_table[months]
        result = raw_risk(present, arrivals.T, roster.T, service.T, scv.T, opts.settings)
        raw = result.p_waiting_at_least.T  # (168, S)
        local_hour = np.broadcast_to(labels.hour.to_numpy()[:, None], raw.shape)
        specialty = np.broadcast_to(np.arange(n_spec)[None, :], raw.shape)
        calibrator = fitted.calibrator or Calibrator()
        probability = calibrator(raw, specialty, local_hour)
        advice = staffing_advice(
            present,
            arrivals,
            roster,
            service,
            scv,
            labels.hour.to_numpy(),
            calibrator,
            opts.settings,
            probability,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            utilisation = np.where(roster > 0, arrivals * service / (60.0 * roster), np.nan)
        rows: list[tuple] = []
        waiting = result.mean_waiting.T
        for k in range(len(targets)):
            for s in range(n_spec):
                rows.append(
                    (
                        targets[k],
                        s,
                        "saturation",
                        RISK_MODEL,
                        float(probability[k, s]),
                        {
                            "arrivals": _r(arrivals[k, s]),
                            "doctors": _r(roster[k, s]),
                            "utilisation": _r(utilisation[k, s]),
                            "waiting": _r(waiting[k, s]),
                            "raw": _r(raw[k, s], 5),
                        },
                    )
                )
                rows.append(
                    (
                        targets[k],
                        s,
                        "staffing",
                        RISK_MODEL,
                        float(advice.advised[k, s]),
                        {
                            "rostered": _r(roster[k, s]),
                            "gap": _r(advice.gap[k, s]),
                            "probability_rostered": _r(probability[k, s], 4),
                            "probability_advised": _r(advice.probability_advised[k, s], 4),
                            "reachable": bool(advice.reachable[k, s]),
                        },
                    )
                )
        present_end = result.present_end.T  # (168, S): expected present at each hour's end
        ahead = slice(0, OCCUPANCY_HOURS)
        band = occupancy_band(
            present,
            arrivals[ahead].T,
            roster[ahead].T,
            service[ahead].T,
            list(opts.quantiles),
        )
        for k in range(OCCUPANCY_HOURS):
            target = int(targets[k] + MS_PER_HOUR)
            hospital = float(band.mean[k])
            rows.append(
                (target, None, "occupancy", RISK_MODEL, hospital, _round(band.quantiles[k]))
            )
            for s in range(n_spec):
                rows.append((target, s, "occupancy", RISK_MODEL, float(present_end[k, s]), {}))
        return rows


# ---------------------------------------------------------------------- helpers


def _wall(ms: int, timezone: str) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC").tz_convert(timezone).tz_localize(None).floor("h")


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in values]


def _r(value: float, digits: int = 3) -> float | None:
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _scenario(history: RunHistory) -> Any | None:
    """The run's scenario (its roster and service mix), or None (imports: no roster)."""
    from hospiflow.simulation.scenario import scenario_from_dict

    if not history.parameters:
        return None
    try:
        return scenario_from_dict(history.parameters, where="run parameters")
    except HospiflowError:
        return None


def _present_now(connection: Any, run_id: int, history: RunHistory) -> np.ndarray:
    """Patients present per specialty at the newest state sample (0 without one)."""
    from hospiflow.store import queries

    rows = queries.current_state(connection, run_id, at_ms=history.end_ms)
    present = np.zeros(len(history.specialties))
    for row in rows:
        idx = int(row["specialty_idx"])
        if 0 <= idx < len(present):
            present[idx] = int(row["waiting"]) + int(row["in_treatment"])
    return present
