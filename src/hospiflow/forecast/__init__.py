"""Forecasting hourly arrivals, honestly measured against simple baselines.

* :mod:`~hospiflow.forecast.series` - the input: hourly wall-clock count series, CSV
  reading with clear errors, the daylight-saving policy;
* :mod:`~hospiflow.forecast.features` - calendar features (hour of week, month, public
  holidays and the day after, trend);
* :mod:`~hospiflow.forecast.models` - the ladder: seasonal naive, hour-of-week mean,
  Poisson GLM, Poisson gradient boosting, with count-distribution quantiles;
* :mod:`~hospiflow.forecast.metrics` - MAE, RMSE, MASE, pinball loss, coverage, daily MAPE;
* :mod:`~hospiflow.forecast.backtest` - the rolling-origin, day-ahead backtest.
"""
