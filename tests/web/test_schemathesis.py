"""Property-based tests of the whole API against its own OpenAPI document (schemathesis)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Rejection, VisitRecord
from hospiflow.store import sites
from hospiflow.store.engine import create_engine_for
from hospiflow.web.app import create_app, state

MAX_EXAMPLES = 120  # per operation, half valid, half invalid: ~1 min
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _observed_site(url: str) -> None:
    """A site (run 3) with two days of observed visits and a quarantined row."""
    start = datetime(2025, 1, 6, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))
    visits = [
        VisitRecord(
            arrival=start + timedelta(minutes=37 * i),
            visit_id=f"V{i}",
            first_seen=start + timedelta(minutes=37 * i + 12) if i % 3 else None,
            departure=start + timedelta(minutes=37 * i + 150) if i % 5 else None,
            diagnosis=("J18.9", "I21.9", "R10.4", "Z99")[i % 4],
        )
        for i in range(80)
    ]
    bad = Rejection(location="x.csv:2", field="arrival", reason="bad_time", message="bad")
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            site = sites.create_site(connection, "Fuzz", "Europe/Paris")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "fuzz-key-of-enough-length")
            import_items(engine, site["id"], [*visits, bad], format="csv")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory, simulate, token) -> Iterator:
    """An app on its own small store: schemathesis may delete runs and start simulations.

    Runs 1 and 2 are simulated, run 3 is a site's observed visits.
    """
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    simulate(url, days=3)
    simulate(url, days=2)
    _observed_site(url)
    app = create_app(
        {
            "DATABASE_URL": url,
            "API_TOKEN": token,
            "MAX_SIMULATION_DAYS": 2,
            "MAX_JOBS": 1,
            "TESTING": True,
        }
    )
    yield app
    state(app).close()


def test_api_conforms_to_its_schema(fuzzed_app, token) -> None:
    """No generated input makes the API fail (5xx) or answer outside its documented schema."""
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app)
    failures: list[str] = []
    operations = 0
    for result in loaded.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue  # never ends by itself: tested against a real server
        operations += 1
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )

        @given(case=strategy)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case) -> None:
            # the in-process transport does not undo Content-Encoding: ask for plain bodies
            # (gzip is checked in test_api_read)
            headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
            if case.method == "DELETE" and case.path_parameters.get("run_id") in (1, 3):
                headers = {"Accept-Encoding": "identity"}  # keep runs 1, 3 for the others
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as error:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert operations >= 18
    assert not failures, "\n\n".join(failures)
