"""HTTP caching of complete runs' answers (ETag, 304) and gzip negotiation (issue 13)."""

from __future__ import annotations

import gzip
import json
from typing import Any

API = "/api/v1"
LARGE = API + "/runs/1/arrivals?bucket=hour&by=specialty"  # tens of KB: gzipped when accepted


def test_complete_run_answers_carry_an_etag_and_honour_if_none_match(sqlite_client: Any):
    """Same answer, same ETag; If-None-Match with it gives 304 and no body."""
    first = sqlite_client.get(LARGE)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"] == "no-cache"
    again = sqlite_client.get(LARGE)
    assert again.headers["ETag"] == etag and again.get_data() == first.get_data()
    cached = sqlite_client.get(LARGE, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.get_data() == b""
    assert cached.headers["ETag"] == etag
    other = sqlite_client.get(LARGE, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.get_data() == first.get_data()
    assert sqlite_client.get(LARGE, headers={"If-None-Match": "*"}).status_code == 304


def test_different_answers_have_different_etags(sqlite_client: Any) -> None:
    """Another query, or the gzipped form of the same one, is another representation."""
    plain = sqlite_client.get(LARGE).headers["ETag"]
    daily = sqlite_client.get(API + "/runs/1/arrivals?bucket=day").headers["ETag"]
    zipped = sqlite_client.get(LARGE, headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    assert len({plain, daily, zipped}) == 3


def _decoded(response: Any) -> dict:
    body = response.get_data()
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


def test_gzip_follows_the_parsed_accept_encoding(sqlite_client: Any) -> None:
    """`gzip;q=0` refuses gzip; `gzip`, `gzip;q=0.5` and `*` accept it; same JSON either way."""
    expected = _decoded(sqlite_client.get(LARGE, headers={"Accept-Encoding": "identity"}))
    for header, zipped in (
        ("gzip;q=0", False),
        ("deflate, gzip;q=0", False),
        ("identity", False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("*", True),
    ):
        response = sqlite_client.get(LARGE, headers={"Accept-Encoding": header})
        assert response.status_code == 200
        assert (response.headers.get("Content-Encoding") == "gzip") is zipped, header
        assert "Accept-Encoding" in response.headers["Vary"]
        assert _decoded(response) == expected


def test_small_answers_are_not_gzipped(sqlite_client: Any) -> None:
    """Under 2 KB compression gains nothing."""
    response = sqlite_client.get(API + "/runs/1/kpis", headers={"Accept-Encoding": "gzip"})
    assert len(response.get_data()) < 2048
    assert "Content-Encoding" not in response.headers


def _counting(app: Any) -> list[int]:
    """Count the requests that reach Flask behind the front layer."""
    calls = [0]
    inner = app.wsgi_app.wsgi

    def counted(environ: Any, start_response: Any) -> Any:
        calls[0] += 1
        return inner(environ, start_response)

    app.wsgi_app.wsgi = counted
    return calls


def test_front_layer_sends_flasks_answer_again(make_app: Any, private_store: str, token: str):
    """The same URL again is answered before Flask, with the same status, headers and bytes;
    a 304 too; deleting the run forgets it; reads needing a token bypass it."""
    app = make_app(private_store, API_TOKEN=token)
    client = app.test_client()
    calls = _counting(app)
    first = client.get(LARGE, headers={"Accept-Encoding": "gzip"})
    second = client.get(LARGE, headers={"Accept-Encoding": "gzip"})
    assert calls[0] == 1
    assert second.status_code == 200 and second.get_data() == first.get_data()
    assert sorted(second.headers.items()) == sorted(first.headers.items())
    revalidated = client.get(
        LARGE, headers={"If-None-Match": first.headers["ETag"], "Accept-Encoding": "gzip"}
    )
    assert revalidated.status_code == 304 and revalidated.get_data() == b""
    assert revalidated.headers["ETag"] == first.headers["ETag"]
    assert calls[0] == 1
    plain = client.get(LARGE)  # another encoding: another answer, from Flask
    assert calls[0] == 2 and "Content-Encoding" not in plain.headers
    app.config["READS_NEED_TOKEN"] = True
    assert client.get(LARGE, headers={"Accept-Encoding": "gzip"}).status_code == 401
    app.config["READS_NEED_TOKEN"] = False
    auth = {"Authorization": f"Bearer {token}"}
    assert client.delete(API + "/runs/1", headers=auth).status_code == 200
    assert client.get(LARGE, headers={"Accept-Encoding": "gzip"}).status_code == 404


def test_front_layer_keeps_no_error(sqlite_client: Any) -> None:
    """Errors are never kept: a bad request asked twice reaches Flask twice."""
    calls = _counting(sqlite_client.application)
    for _ in range(2):
        assert sqlite_client.get(API + "/runs/1/arrivals?bucket=year").status_code == 400
    assert calls[0] == 2


def test_front_layer_keeps_an_observed_runs_answer_briefly(
    make_app: Any, tmp_path: Any, monkeypatch
):
    """A site's observed run can grow by another process's import: its answers are kept
    for LIVE_CACHE_SECONDS only, then asked of Flask (and the store) again."""
    import time

    from test_api_sites import history

    from hospiflow.ingest.pipeline import import_items
    from hospiflow.store import migrate, sites
    from hospiflow.store.engine import create_engine_for

    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    url = f"sqlite:///{tmp_path / 'observed.db'}"
    migrate.init(url)
    engine = create_engine_for(url)
    with engine.begin() as connection:
        site = sites.create_site(connection, "CH", "Europe/Paris")
    run_id = import_items(engine, site["id"], list(history()), format="csv", files=["a.csv"]).run_id
    engine.dispose()
    app = make_app(url, LIVE_CACHE_SECONDS=0.3)
    client = app.test_client()
    calls = _counting(app)
    path = f"{API}/runs/{run_id}/arrivals?bucket=day"
    first = client.get(path)
    assert first.status_code == 200
    assert client.get(path).get_data() == first.get_data()
    assert calls[0] == 1
    time.sleep(0.35)
    assert client.get(path).get_data() == first.get_data()
    assert calls[0] == 2
