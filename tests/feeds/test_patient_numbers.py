"""Patient numbers stay unique within a site's run whatever writers interleave (a feed, a
second feed, an import; one after the other and at once), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from mllp_helpers import PARIS, adt, recent

from hospiflow.feeds import adt as adt_parse
from hospiflow.feeds.apply import SiteFeed
from hospiflow.ingest.pipeline import import_items
from hospiflow.records import VisitRecord
from hospiflow.store import schema


def _record(name: str, arrival: datetime) -> VisitRecord:
    return VisitRecord(
        arrival=arrival,
        source=f"test:{name}",
        visit_id=name,
        patient_id=f"IPP-{name}",
        departure=arrival + timedelta(hours=2),
    )


def _records(prefix: str, n: int, start: datetime | None = None) -> list[VisitRecord]:
    start = start or recent(600)
    return [_record(f"{prefix}{i}", start + timedelta(minutes=3 * i)) for i in range(n)]


def _run_id(engine: sa.Engine, site_id: int) -> int:
    with engine.connect() as connection:
        s = schema.sites
        return int(connection.execute(sa.select(s.c.run_id).where(s.c.id == site_id)).scalar_one())


def _numbers(engine: sa.Engine, site_id: int) -> list[int]:
    """Every visit's patient number in the site's run, in the order they were stored."""
    v = schema.visits
    with engine.connect() as connection:
        numbers = connection.execute(
            sa.select(v.c.patient_no).where(v.c.run_id == _run_id(engine, site_id)).order_by(v.c.id)
        ).scalars()
        return [int(n) for n in numbers]


def _counter(engine: sa.Engine, site_id: int) -> int | None:
    """The run's next patient number, as stored."""
    r = schema.runs
    with engine.connect() as connection:
        return connection.execute(
            sa.select(r.c.next_patient_no).where(r.c.id == _run_id(engine, site_id))
        ).scalar_one()


def _assert_unique(engine: sa.Engine, site_id: int, visits: int) -> None:
    numbers = _numbers(engine, site_id)
    assert len(numbers) == visits
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not repeated, f"patient numbers given twice: {repeated}"
    assert _counter(engine, site_id) == max(numbers) + 1


def _message(
    feed: SiteFeed, event: str, control: str, visit: str, when: datetime
) -> adt_parse.Message:
    """An ADT message as the listener hands it to the feed."""
    raw = adt(event, control, visit, when, arrival=when, patient=visit)
    parsed = adt_parse.parse(raw, 1, feed.settings)
    assert isinstance(parsed, adt_parse.Message), parsed
    return parsed


@contextmanager
def _mllp_and_rest(engine: sa.Engine, site_id: int) -> Iterator[tuple[SiteFeed, SiteFeed]]:
    """An MLLP feed and a REST push feed of one site, each its own ``SiteFeed`` (as in two
    processes), closed after."""
    mllp = SiteFeed(engine, site_id, keep_connection=True)
    rest = SiteFeed(engine, site_id, format="rest")
    try:
        yield mllp, rest
    finally:
        mllp.close()
        rest.close()


def _statuses(feed: SiteFeed, *messages: adt_parse.Message) -> list[str]:
    """What became of each message the feed applied, in order."""
    return [o.status for o in feed.apply_messages(list(messages))]


def test_an_import_between_two_batches_of_a_feed(engine, site) -> None:
    """Feed A pushes, an import appends, feed A pushes again: no number twice."""
    feed = SiteFeed(engine, site["id"], format="rest")
    try:
        assert feed.push(_records("A", 3)).accepted == 3
        assert import_items(engine, site["id"], _records("I", 4), format="test").imported == 4
        assert feed.push(_records("B", 3, recent(300))).accepted == 3
    finally:
        feed.close()
    _assert_unique(engine, site["id"], 10)


def test_two_feeds_of_one_site_interleaved(engine, site) -> None:
    """An MLLP feed and a REST push feed of the same site (each its own ``SiteFeed``, as in
    two processes; both made before the site has a run, so the second must find the run
    the first created), taking turns, with a cancellation between."""
    with _mllp_and_rest(engine, site["id"]) as (mllp, rest):
        when = recent(120)
        assert _statuses(mllp, _message(mllp, "A04", "M1", "V1", when)) == ["applied"]
        assert rest.push(_records("R", 2)).accepted == 2
        later = [
            _message(mllp, "A04", "M2", "V2", when + timedelta(minutes=1)),
            _message(mllp, "A11", "M3", "V1", when),  # V1 cancelled: its number is not given again
            _message(mllp, "A04", "M4", "V3", when + timedelta(minutes=2)),
        ]
        assert _statuses(mllp, *later) == ["applied"] * 3
        assert rest.push(_records("S", 2, recent(60))).accepted == 2
        assert _statuses(mllp, _message(mllp, "A04", "M5", "V4", when)) == ["applied"]
    _assert_unique(engine, site["id"], 7)
    assert 1 not in _numbers(engine, site["id"])  # V1's, cancelled


def test_a_rolled_back_batch_gives_its_numbers_back(engine, site, monkeypatch) -> None:
    """A batch that fails after numbering and inserting its visits leaves the counter where
    it was, and the next batch takes the same numbers."""
    feed = SiteFeed(engine, site["id"], format="rest")
    try:
        assert feed.push(_records("A", 2)).accepted == 2
        counter = _counter(engine, site["id"])
        with monkeypatch.context() as patch:

            def broken(*_args: object) -> int:
                raise RuntimeError("the batch row cannot be written")

            patch.setattr(feed, "_batch", broken)  # called after the visits are inserted
            try:
                feed.push(_records("B", 2, recent(200)))
            except RuntimeError:
                pass
            else:
                raise AssertionError("the failing batch was committed")
        assert (_numbers(engine, site["id"]), _counter(engine, site["id"])) == ([1, 2], counter)
        assert feed.push(_records("C", 1, recent(100))).accepted == 1
    finally:
        feed.close()
    assert _numbers(engine, site["id"]) == [1, 2, 3]


def test_writers_at_once(engine, site) -> None:
    """Two feeds and an import of one site in three threads at once (each its own
    connection): every visit numbered once."""
    feed = SiteFeed(engine, site["id"], format="rest")
    try:
        feed.push(_records("Z", 1))  # the run exists before the writers start
    finally:
        feed.close()
    errors: list[BaseException] = []
    start = threading.Barrier(3)
    base = recent(24 * 60)

    def pushes(prefix: str) -> None:
        writer = SiteFeed(engine, site["id"], format="rest")
        try:
            start.wait(10)
            for batch in range(15):
                at = base + timedelta(minutes=40 * batch)
                assert writer.push(_records(f"{prefix}{batch}-", 4, at)).accepted == 4
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            writer.close()

    def imports() -> None:
        try:
            start.wait(10)
            for batch in range(5):
                at = base + timedelta(minutes=40 * batch + 1)
                records = _records(f"I{batch}-", 6, at)
                assert import_items(engine, site["id"], records, format="test").imported == 6
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [
        threading.Thread(target=pushes, args=("P",)),
        threading.Thread(target=pushes, args=("Q",)),
        threading.Thread(target=imports),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a writer did not finish in 120 s"
    assert not errors, errors
    _assert_unique(engine, site["id"], 1 + 2 * 15 * 4 + 5 * 6)


def test_a_feed_keeps_numbering_a_run_it_did_not_start(engine, site) -> None:
    """A feed started on a site an import filled numbers after the import's visits."""
    assert import_items(engine, site["id"], _records("I", 5), format="test").imported == 5
    feed = SiteFeed(engine, site["id"], format="rest")
    try:
        assert feed.push(_records("A", 2, datetime.now(PARIS) - timedelta(hours=1))).accepted == 2
    finally:
        feed.close()
    assert sorted(_numbers(engine, site["id"])) == [1, 2, 3, 4, 5, 6, 7]
    assert _counter(engine, site["id"]) == 8


def test_feeds_go_on_into_a_new_run_when_the_site_s_run_is_deleted(engine, site) -> None:
    """An administrator deletes the site's observed run while its feeds keep running: their
    next transactions start a new run (as the next import would), instead of failing on the
    deleted run's id until restarted."""
    from hospiflow.store.runs import delete_run

    with _mllp_and_rest(engine, site["id"]) as (mllp, rest):
        when = recent(120)
        assert rest.push(_records("R", 2)).accepted == 2
        assert _statuses(mllp, _message(mllp, "A04", "M1", "V1", when)) == ["applied"]
        deleted = _run_id(engine, site["id"])
        with engine.begin() as connection:
            delete_run(connection, deleted, actor="test")
        assert rest.push(_records("S", 2, recent(60))).accepted == 2
        assert _statuses(mllp, _message(mllp, "A04", "M2", "V2", when)) == ["applied"]
    assert _run_id(engine, site["id"]) != deleted
    _assert_unique(engine, site["id"], 3)
    assert sorted(_numbers(engine, site["id"])) == [1, 2, 3]
