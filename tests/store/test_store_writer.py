"""``InsertThread``: rows inserted on another thread, inside the caller's transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hospiflow.store.writer import InsertThread


@pytest.fixture
def table(engine: sa.Engine) -> str:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t_insert (a INTEGER NOT NULL, b TEXT)")
    return "t_insert"


def count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM t_insert").scalar_one())


def test_rows_queued_are_all_inserted_in_the_callers_transaction(engine, table):
    with engine.begin() as connection:
        inserts = InsertThread(connection, table, ("a", "b"))
        for start in range(0, 5000, 1000):
            inserts.put([(n, f"r{n}") for n in range(start, start + 1000)])
        with inserts.lock:  # the caller's own statement meanwhile
            connection.exec_driver_sql("INSERT INTO t_insert (a, b) VALUES (-1, 'own')")
        inserts.close()
        seen = connection.exec_driver_sql("SELECT count(*), sum(a) FROM t_insert").one()
    assert tuple(seen) == (5001, sum(range(5000)) - 1)


def test_a_failed_insert_is_raised_to_the_caller_and_nothing_stays(engine, table):
    with pytest.raises(Exception, match="(?i)null"), engine.begin() as connection:
        inserts = InsertThread(connection, table, ("a", "b"))
        inserts.put([(1, "fine")])
        inserts.put([(None, "a NULL where NOT NULL")])
        inserts.put([(3, "after the failure")])
        inserts.close()
    assert count(engine) == 0


def test_abandon_stops_without_inserting_what_is_queued(engine, table):
    with engine.connect() as connection:
        transaction = connection.begin()
        inserts = InsertThread(connection, table, ("a", "b"))
        inserts.put([(1, "one")])
        inserts.abandon()
        transaction.rollback()
    assert count(engine) == 0
