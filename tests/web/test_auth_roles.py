"""Roles: viewer and admin tokens over every write and admin endpoint, reads behind a token,
tokens stored only hashed, the token commands, and `serve` refusing an exposed host without one."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hospiflow.cli import main
from hospiflow.cli.serve import is_loopback
from hospiflow.ingest import hl7v2
from hospiflow.ingest.formats import WriteOptions
from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Rejection, VisitRecord
from hospiflow.store import schema, sites, tokens
from hospiflow.store.engine import create_engine_for

API = "/api/v1"
PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=PARIS)


def _visits(prefix: str, n: int) -> list[VisitRecord]:
    return [
        VisitRecord(
            arrival=T0 + timedelta(hours=i),
            visit_id=f"{prefix}{i}",
            patient_id=f"P{i}",
            first_seen=T0 + timedelta(hours=i, minutes=15),
            departure=T0 + timedelta(hours=i + 2),
            diagnosis="J18.9",
        )
        for i in range(n)
    ]


def _hl7_upload() -> dict:
    out = io.StringIO()
    hl7v2.write(_visits("U", 2), out, WriteOptions(timezone="Europe/Paris"))
    return {"format": "hl7", "files": [(io.BytesIO(out.getvalue().encode()), "feed.hl7")]}


@pytest.fixture
def store(private_store: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The simulated week (run 1) plus a site with a few observed visits and one bad row."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    engine = create_engine_for(private_store)
    try:
        with engine.begin() as connection:
            site = sites.create_site(connection, "Site A", "Europe/Paris")
        bad = Rejection(location="x.csv:3", field="arrival", reason="bad_time", message="bad")
        summary = import_items(engine, site["id"], [*_visits("V", 5), bad], format="csv")
    finally:
        engine.dispose()
    return {"url": private_store, "site_id": site["id"], "run_id": summary.run_id}


def _tokens(url: str, *roles: str) -> dict[str, str]:
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            return {role: tokens.create_token(connection, f"{role}-1", role) for role in roles}
    finally:
        engine.dispose()


def _routes(store: dict) -> list[tuple[str, str, dict, str, int]]:
    """(method, path, request kwargs, label, success status) of every write/admin endpoint."""
    site, run = store["site_id"], store["run_id"]
    return [
        ("DELETE", "/runs/1", {}, "delete", 200),
        ("POST", "/runs", {"json": {"changes": {"time": {"days": 4000}}}}, "what-if", 422),
        ("POST", "/sites", {"json": {"name": "Site B"}}, "create site", 201),
        (
            "POST",
            f"/sites/{site}/imports",
            {"data": _hl7_upload(), "content_type": "multipart/form-data"},
            "import",
            200,
        ),
        ("GET", f"/sites/{site}/quarantine", {}, "quarantine", 200),
        ("GET", "/audit", {}, "audit", 200),
        ("GET", f"/runs/{run}/export?format=hl7", {}, "export", 200),
    ]


ROUTE_LABELS = ["delete", "what-if", "create site", "import", "quarantine", "audit", "export"]


def _call(client, store: dict, label: str, headers: dict):
    """Send the request of endpoint ``label`` (built afresh: an upload is read once)."""
    method, path, kwargs, _label, ok = next(r for r in _routes(store) if r[3] == label)
    return client.open(API + path, method=method, headers=headers, **kwargs), ok


@pytest.mark.parametrize("label", ROUTE_LABELS)
@pytest.mark.parametrize("who", ["none", "wrong", "not-bearer", "viewer", "admin", "env-admin"])
def test_role_matrix(make_app, store, label, who) -> None:
    """Every write/admin endpoint: 401 without or with a wrong token, 403 for a viewer, and
    done for an admin (stored or from the setting)."""
    issued = _tokens(store["url"], "viewer", "admin")
    client = make_app(store["url"], API_TOKEN="setting-token").test_client()
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer not-a-token"},
        "not-bearer": {"Authorization": f"Basic {issued['admin']}"},
        "viewer": {"Authorization": f"Bearer {issued['viewer']}"},
        "admin": {"Authorization": f"Bearer {issued['admin']}"},
        "env-admin": {"Authorization": "Bearer setting-token"},
    }[who]
    response, ok = _call(client, store, label, headers)
    expected = {"none": 401, "wrong": 401, "not-bearer": 401, "viewer": 403}.get(who, ok)
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected in (401, 403):
        code = response.get_json()["error"]["code"]
        assert code == ("unauthorized" if expected == 401 else "forbidden")
        runs = client.get(API + "/runs").get_json()["runs"]
        assert 1 in [r["id"] for r in runs]  # nothing was deleted
    response.close()


@pytest.mark.parametrize("label", ROUTE_LABELS)
def test_no_admin_token_means_writes_disabled(make_app, store, label) -> None:
    """With only a viewer token (and no API_TOKEN), admin endpoints answer 403 writes_disabled."""
    issued = _tokens(store["url"], "viewer")
    client = make_app(store["url"]).test_client()
    for headers in ({}, {"Authorization": f"Bearer {issued['viewer']}"}):
        response, _ok = _call(client, store, label, headers)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "writes_disabled"
    assert client.get(API + "/health").get_json()["writes_enabled"] is False


def test_stored_admin_enables_writes(make_app, store) -> None:
    """A stored admin token alone (no API_TOKEN setting) enables writes; health says so."""
    issued = _tokens(store["url"], "admin")
    client = make_app(store["url"]).test_client()
    assert client.get(API + "/health").get_json()["writes_enabled"] is True
    response = client.delete(
        API + "/runs/1", headers={"Authorization": f"Bearer {issued['admin']}"}
    )
    assert response.status_code == 200


READS = ["/runs", "/runs/1", "/runs/1/now", "/runs/1/kpis", "/catalog", "/sites"]


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_token_when_set(make_app, store, path) -> None:
    """READS_NEED_TOKEN: reads are 401 without a valid token, 200 for a viewer or an admin."""
    issued = _tokens(store["url"], "viewer", "admin")
    client = make_app(store["url"], READS_NEED_TOKEN=True).test_client()
    assert client.get(API + path).status_code == 401
    wrong = client.get(API + path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == "unauthorized"
    for role in ("viewer", "admin"):
        response = client.get(API + path, headers={"Authorization": f"Bearer {issued[role]}"})
        assert response.status_code == 200, (role, response.get_data(as_text=True))


def test_open_paths_and_default(make_app, store, monkeypatch) -> None:
    """Health and the OpenAPI document stay open; reads are open by default; the setting
    also comes from $HOSPIFLOW_READS_NEED_TOKEN."""
    _tokens(store["url"], "viewer")
    locked = make_app(store["url"], READS_NEED_TOKEN=True).test_client()
    assert locked.get(API + "/health").status_code == 200
    assert locked.get(API + "/openapi.json").status_code == 200
    assert make_app(store["url"]).test_client().get(API + "/runs").status_code == 200
    monkeypatch.setenv("HOSPIFLOW_READS_NEED_TOKEN", "true")
    assert make_app(store["url"]).test_client().get(API + "/runs").status_code == 401
    monkeypatch.setenv("HOSPIFLOW_READS_NEED_TOKEN", "false")
    assert make_app(store["url"]).test_client().get(API + "/runs").status_code == 200


def test_stream_takes_the_token_in_the_query(make_app, store, serve) -> None:
    """EventSource cannot send headers: the stream accepts ?access_token= (only the stream)."""
    import requests

    issued = _tokens(store["url"], "viewer")
    server = serve(make_app(store["url"], READS_NEED_TOKEN=True))
    stream = f"{server.url}{API}/runs/1/stream"
    assert requests.get(stream, timeout=10).status_code == 401
    with requests.get(
        stream, params={"access_token": issued["viewer"]}, stream=True, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
    bad = requests.get(stream, params={"access_token": "nope"}, timeout=10)
    assert bad.status_code == 401
    other = requests.get(
        f"{server.url}{API}/runs", params={"access_token": issued["viewer"]}, timeout=10
    )
    assert other.status_code == 401  # elsewhere the token goes in the header


def test_revoked_token_stops_working(make_app, store) -> None:
    """Revoking a token takes effect once the short cache expires."""
    issued = _tokens(store["url"], "viewer")
    app = make_app(store["url"], READS_NEED_TOKEN=True)
    app.extensions["hospiflow.auth"].ttl = 0.0
    client = app.test_client()
    headers = {"Authorization": f"Bearer {issued['viewer']}"}
    assert client.get(API + "/runs", headers=headers).status_code == 200
    engine = create_engine_for(store["url"])
    with engine.begin() as connection:
        tokens.revoke_token(connection, "viewer-1")
    engine.dispose()
    assert client.get(API + "/runs", headers=headers).status_code == 401


def test_tokens_are_stored_only_hashed(store) -> None:
    """The database holds the SHA-256 of a token, never the token itself."""
    issued = _tokens(store["url"], "viewer", "admin")
    engine = create_engine_for(store["url"])
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.select(schema.api_tokens))]
        listed = tokens.list_tokens(connection)
        assert tokens.role_of(connection, issued["admin"]) == "admin"
        assert tokens.role_of(connection, issued["viewer"]) == "viewer"
        assert tokens.role_of(connection, issued["viewer"] + "x") is None
    engine.dispose()
    for token in issued.values():
        assert not [r for r in rows if token in str(r.values())]
        assert hashlib.sha256(token.encode()).hexdigest() in {r["token_sha256"] for r in rows}
    assert {tuple(sorted(t)) for t in listed} == {("created_at_ms", "name", "role")}
    database = Path(sa.make_url(store["url"]).database or "").read_bytes()
    assert not [t for t in issued.values() if t.encode() in database]


def test_token_commands(tmp_path) -> None:
    """`hospiflow token create/list/revoke` on a new database (schema created on first use)."""
    db = str(tmp_path / "new.db")
    runner = CliRunner()
    created = runner.invoke(main, ["token", "create", "screen", "--role", "viewer", "--db", db])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    listed = runner.invoke(main, ["token", "list", "--db", db])
    assert "screen" in listed.output and "viewer" in listed.output and token not in listed.output
    twice = runner.invoke(main, ["token", "create", "screen", "--db", db])
    assert twice.exit_code == 2
    assert runner.invoke(main, ["token", "revoke", "screen", "--db", db]).exit_code == 0
    assert "no tokens" in runner.invoke(main, ["token", "list", "--db", db]).output
    assert runner.invoke(main, ["token", "revoke", "screen", "--db", db]).exit_code == 2


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.20", False),
        ("::", False),
        ("ed.hospital.example", False),
    ],
)
def test_loopback_hosts(host, loopback) -> None:
    """Loopback is 127.0.0.0/8, ::1 and localhost; anything else is exposed."""
    assert is_loopback(host) is loopback


def test_serve_refuses_an_exposed_host_without_a_token(tmp_path) -> None:
    """`serve --host 0.0.0.0` with no token at all exits 2 with one error line."""
    db = str(tmp_path / "serve.db")
    result = CliRunner().invoke(main, ["serve", "--db", db, "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --host: refusing to listen on 0.0.0.0")


def test_exposed_host_with_a_token_needs_tokens_for_reads(make_app, store) -> None:
    """With a token, an exposed host is accepted and its reads then need a token."""
    from hospiflow.cli.serve import _check_exposure

    _tokens(store["url"], "viewer")
    app = make_app(store["url"])
    _check_exposure(app, "127.0.0.1")
    assert app.config["READS_NEED_TOKEN"] is False
    _check_exposure(app, "0.0.0.0")
    assert app.config["READS_NEED_TOKEN"] is True
    assert app.test_client().get(API + "/runs").status_code == 401
