"""One exception family for the whole project.

Every error says *what* went wrong and *where* (a file and line, a parameter
name, a request field), so the CLI can print it without a traceback and the
API can turn it into ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any


class HospiflowError(Exception):
    """Base of every error hospiflow raises on purpose."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, where: str | None = None, **details: Any) -> None:
        self.message = message
        self.where = where
        self.details = details
        super().__init__(f"{where}: {message}" if where else message)


class CatalogError(HospiflowError):
    """A catalog file (specialties, pathologies) is malformed."""

    code = "catalog_invalid"
    http_status = 422


class ScenarioError(HospiflowError):
    """A scenario parameter is impossible (negative rate, wrong profile length, ...)."""

    code = "scenario_invalid"
    http_status = 422


class QueueingError(HospiflowError):
    """A queueing-model input is impossible (negative rate, zero servers, ...)."""

    code = "queueing_invalid"
    http_status = 422


class SinkError(HospiflowError):
    """A sink refused a record (out of order, unknown specialty, ...)."""

    code = "sink_invalid"
    http_status = 422


class StoreError(HospiflowError):
    """The store cannot do what was asked (missing run, locked, timeout, ...)."""

    code = "store_error"
    http_status = 409


class NotFoundError(HospiflowError):
    """A run, pathology or other named thing does not exist."""

    code = "not_found"
    http_status = 404


class ForecastError(HospiflowError):
    """The forecaster cannot fit or evaluate on the data it was given."""

    code = "forecast_invalid"
    http_status = 422
