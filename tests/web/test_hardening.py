"""Resource exhaustion and crash paths of the API (issue 14), against real servers.

Each test reproduces a hole found by trying the API as an attacker or an
unlucky operator would: simultaneous what-ifs past ``MAX_JOBS``, scenarios
whose work has no bound, huge or deeply nested bodies, dates at the edges of
the calendar, a read-only or corrupted store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from hospiflow.simulation.scenario import default_scenario

API = "/api/v1"
LONG_WHAT_IF = {"changes": {"time": {"days": 200, "seed": 5}}}


def _concurrent_posts(base: str, token: str, count: int) -> list[int]:
    """``count`` what-if POSTs released at the same instant; their statuses."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.post(
                base + API + "/runs",
                json=LONG_WHAT_IF,
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return statuses


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def writable_store(
    request: pytest.FixtureRequest, private_store: str, simulate: Callable[..., int]
) -> str:
    """A store with one complete run that tests may write (each backend)."""
    if request.param == "sqlite":
        return private_store
    url = request.getfixturevalue("postgres_databases")("hospiflow_hardening")
    simulate(url, days=2)
    return url


def test_job_limit_holds_under_simultaneous_posts(
    make_app: Callable[..., Any], serve: Callable[[Any], Any], writable_store: str, token: str
) -> None:
    """Six simultaneous what-ifs with MAX_JOBS=2: exactly two start, four get 409."""
    app = make_app(writable_store, API_TOKEN=token, MAX_JOBS=2)
    server = serve(app)
    statuses = _concurrent_posts(server.url, token, 6)
    assert sorted(statuses) == [202, 202, 409, 409, 409, 409]
    with requests.Session() as session:
        runs = session.get(server.url + API + "/runs", timeout=10).json()["runs"]
    assert len(runs) == 3  # the base run and the two admitted what-ifs


def test_scenario_defaults_stay_within_the_budget() -> None:
    """The default hospital over five years is well inside the work budget."""
    assert default_scenario(days=1830.0).days == 1830.0


# --------------------------------------------------------------------------- work budget


def _post(client: Any, token: str, changes: dict[str, Any]) -> Any:
    return client.post(
        API + "/runs", json={"changes": changes}, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"arrivals": {"rate_per_hour": 10_000}, "time": {"days": 60}}, "rate_per_hour"),
        ({"arrivals": {"rate_per_hour": 1e15}, "time": {"days": 1}}, "rate_per_hour"),
        ({"time": {"warmup_days": 1e9}}, "warmup_days"),
        ({"time": {"seed": 2**100}}, "seed"),
        ({"time": {"start_date": "9999-12-31"}}, "start_date"),
        ({"time": {"start_date": "0001-01-01"}}, "start_date"),
    ],
)
def test_what_if_over_the_budget_is_422(
    make_app: Callable[..., Any], private_store: str, token: str, changes: dict, where: str
) -> None:
    """Work or values past the budget are refused with 422 naming the parameter; no run starts."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    response = _post(client, token, changes)
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "scenario_invalid"
    assert where in error["message"] or where in str(error["details"])
    assert len(client.get(API + "/runs").get_json()["runs"]) == 1


def test_api_budget_is_a_setting(make_app: Callable[..., Any], private_store: str, token: str):
    """MAX_SIMULATION_PATIENTS bounds a what-if below the scenario's own budget."""
    client = make_app(private_store, API_TOKEN=token, MAX_SIMULATION_PATIENTS=1000).test_client()
    response = _post(client, token, {"time": {"days": 30}})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["max_patients"] == 1000


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("start_date", "9999-12-30", "start_date"),
        ("seed", "100000000000000000000", "seed"),
        ("rate_per_hour", "1e15", "patients"),
        ("warmup_days", "1e9", "warmup_days"),
    ],
)
def test_scenario_check_refuses_the_same(tmp_path: Any, key: str, value: str, message: str):
    """`hospiflow scenario check` refuses, in one line, what the API refuses."""
    import re

    from click.testing import CliRunner

    from hospiflow.cli import main
    from hospiflow.simulation.scenario import load_scenario, scenario_to_toml

    text = scenario_to_toml(load_scenario("default"))
    text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    assert count == 1
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["scenario", "check", str(path)])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


# --------------------------------------------------------------------------- bodies


def test_huge_list_is_refused_fast_and_not_echoed(
    make_app: Callable[..., Any], private_store: str, token: str
) -> None:
    """A 1M-value profile is a 400 naming the list; a wrong 1,000-value one a short 422."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    huge = _post(client, token, {"arrivals": {"hourly_profile": [1.0] * 1_000_000}})
    assert huge.status_code in (400, 413)
    assert len(huge.get_data()) < 2_000
    long = _post(client, token, {"arrivals": {"hourly_profile": [1.5] * 1000}})
    assert long.status_code == 422
    assert "hourly_profile" in long.get_json()["error"]["message"]
    assert len(long.get_data()) < 2_000


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_body_is_400(
    make_app: Callable[..., Any], private_store: str, token: str, opening: str
) -> None:
    """A body nested 100,000 levels deep is bad JSON (400), not a RecursionError (500)."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    closing = "]" if opening == "[" else "}"
    body = opening * 100_000 + "1" + closing * 100_000
    for path in ("/runs", "/sites"):
        response = client.post(
            API + path,
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (path, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"]["code"] == "bad_json"


def _raw_request(url: str, head: str, chunks: Any = (), seconds: float = 10.0) -> tuple[str, int]:
    """Send a request by hand; the status line and how many body bytes went out before it."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url)
    sent = 0
    with socket.create_connection((parsed.hostname, parsed.port), timeout=seconds) as sock:
        sock.sendall(head.encode())
        sock.settimeout(0.05)
        answer = b""
        for chunk in chunks:
            try:
                answer += sock.recv(4096)
            except TimeoutError:
                pass
            if answer:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        sock.settimeout(seconds)
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    return answer.split(b"\r\n", 1)[0].decode(), sent


def _chunked(total_mb: int) -> Any:
    block = b"x" * 2**20
    for _ in range(total_mb):
        yield b"%x\r\n" % len(block) + block + b"\r\n"
    yield b"0\r\n\r\n"


def test_large_bodies_are_refused_before_being_read(
    make_app: Callable[..., Any], serve: Callable[[Any], Any], private_store: str, token: str
) -> None:
    """A declared 300 MB body is refused at once, a chunked one within its first MBs;
    imports by a token holder get the larger MAX_IMPORT_BYTES."""
    app = make_app(private_store, API_TOKEN=token, MAX_IMPORT_BYTES=8 * 2**20)
    server = serve(app)
    auth = f"Authorization: Bearer {token}\r\n"
    declared = (
        "POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {300 * 2**20}\r\n\r\n"
    )
    status, _sent = _raw_request(server.url, declared)
    assert " 413 " in status
    chunked = (
        "POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"{auth}Transfer-Encoding: chunked\r\n\r\n"
    )
    status, sent = _raw_request(server.url, chunked, _chunked(300))
    assert " 413 " in status and sent <= 6 * 2**20
    imports = "POST /api/v1/sites/1/imports HTTP/1.1\r\nHost: x\r\n"
    small_import = imports + f"{auth}Content-Length: {4 * 2**20}\r\n\r\n"
    status, _sent = _raw_request(server.url, small_import, [b"x" * 2**20] * 4)
    assert " 413 " not in status  # reaches the app (which then finds no such site)
    status, _sent = _raw_request(server.url, imports + f"Content-Length: {4 * 2**20}\r\n\r\n")
    assert " 413 " in status  # no token: the small limit
    status, _sent = _raw_request(server.url, imports + f"{auth}Content-Length: {9 * 2**20}\r\n\r\n")
    assert " 413 " in status  # over MAX_IMPORT_BYTES
    server.wait_idle()


def test_flask_refuses_large_bodies_too(
    make_app: Callable[..., Any], private_store: str, token: str
) -> None:
    """Behind another server, the app's own MAX_CONTENT_LENGTH still answers 413."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    body = b'{"label": "' + b"x" * (2 * 2**20) + b'"}'
    response = client.post(
        API + "/runs",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "path",
    [
        "/runs/1/arrivals?bucket=month&start=9999-12-01&end=9999-12-31",
        "/runs/1/doctors/availability?bucket=month&start=9999-12-01&end=9999-12-31",
        "/runs/1/waits?bucket=month&start=9999-12-01&end=9999-12-31",
        "/runs/1/arrivals/seasonality?end=9999-12-31",
        "/runs/1/arrivals?bucket=month&start=0001-01-01&end=0001-03-01",
        "/runs/1/kpis?start=0001-01-01T00:00:00%2B14:00",
    ],
)
def test_ranges_at_the_calendar_ends_are_400(sqlite_client: Any, path: str) -> None:
    """Years 1 and 9999 are a clear 400 naming the parameter, not a 500."""
    response = sqlite_client.get(API + path)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "1900-01-01 and 2999-12-31" in response.get_json()["error"]["message"]


def _read_only(request: pytest.FixtureRequest, backend: str, tmp_path: Any) -> tuple[str, str]:
    """A store with one run that refuses writes; its URL and the name errors give it."""
    if backend == "sqlite":
        path = tmp_path / "readonly.db"
        request.getfixturevalue("simulate")(f"sqlite:///{path}", days=1)
        return f"sqlite:///file:{path}?mode=ro&uri=true", "readonly.db"
    import sqlalchemy as sa

    url = request.getfixturevalue("postgres_databases")("hospiflow_readonly")
    request.getfixturevalue("simulate")(url, days=1)
    name = sa.make_url(url).database
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    admin.dispose()
    return url, name


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_writes_on_a_read_only_store_are_503_naming_it(
    request: pytest.FixtureRequest, make_app: Callable[..., Any], tmp_path: Any, token: str, backend
) -> None:
    """What-if, delete and site creation on a read-only store: 503 `store_read_only`."""
    url, name = _read_only(request, backend, tmp_path)
    client = make_app(url, API_TOKEN=token).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(API + "/runs/1").status_code == 200  # reads still work
    for response in (
        client.post(API + "/runs", json={"changes": {"time": {"days": 1}}}, headers=auth),
        client.delete(API + "/runs/1", headers=auth),
        client.post(API + "/sites", json={"name": "CH", "timezone": "Europe/Paris"}, headers=auth),
    ):
        assert response.status_code == 503, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert error["code"] == "store_read_only"
        assert error["details"]["where"] == name
        assert "read-only" in error["message"]


def _damage_table(path: Any, table: str) -> None:
    """Overwrite the root page of one table with garbage (the rest of the file intact)."""
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
    ).fetchone()[0]
    connection.close()
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * page_size)


def test_csv_downloads_on_a_damaged_store_answer_json(
    make_app: Callable[..., Any],
    serve: Callable[[Any], Any],
    tmp_path: Any,
    request: pytest.FixtureRequest,
) -> None:
    """Through a real server, a damaged table gives the JSON error shape (503), not a
    plain-text 500 half-way through a CSV body."""
    path = tmp_path / "damaged.db"
    request.getfixturevalue("simulate")(f"sqlite:///{path}", days=1)
    _damage_table(path, "treatments")
    server = serve(make_app(f"sqlite:///{path}"))
    with requests.Session() as session:
        assert session.get(server.url + API + "/runs/1", timeout=10).status_code == 200
        for route in ("/runs/1/treatments?format=csv", "/runs/1/reports/treatments"):
            response = session.get(server.url + API + route, timeout=10)
            assert response.status_code == 503, (route, response.text[:200])
            assert response.json()["error"]["code"] == "store_damaged"
            assert response.json()["error"]["details"]["where"] == "damaged.db"


def test_run_shows_a_custom_catalog_by_name_only(
    make_app: Callable[..., Any], tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """GET /runs/{id} names a custom catalog file, never the server's folders."""
    import shutil
    from importlib import resources

    catalog = tmp_path / "secret-folder" / "my-catalog.toml"
    catalog.parent.mkdir()
    with resources.as_file(resources.files("hospiflow.catalog") / "pathologies.toml") as source:
        shutil.copyfile(source, catalog)
    url = f"sqlite:///{tmp_path / 'custom.db'}"
    run_id = request.getfixturevalue("simulate")(url, days=1, catalog=str(catalog))
    response = make_app(url).test_client().get(f"{API}/runs/{run_id}")
    assert response.status_code == 200
    assert response.get_json()["run"]["parameters"]["catalog"] == "my-catalog.toml"
    assert "secret-folder" not in response.get_data(as_text=True)
