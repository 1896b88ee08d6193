import asyncio
import threading
import time
from pathlib import Path

import pytest

from panther.db.errors import DatabaseError, DuplicateError
from panther.db.sqlite import SQLiteDatabase, Table
from panther.exceptions import ConfigError

BOOK = Table('book', unique=(('isbn',),), indexes=(('title',),))


@pytest.fixture
async def db():
    engine = SQLiteDatabase(':memory:')
    yield engine
    await engine.close()


def test_table_rejects_unsafe_names():
    with pytest.raises(ValueError, match='table name'):
        Table('book; DROP TABLE x')
    with pytest.raises(ValueError, match='field name'):
        Table('book', unique=(("isbn')",),))


async def test_insert_select_count(db):
    first = await db.insert(BOOK, {'title': 'Dune', 'isbn': '1', 'pages': 412})
    second = await db.insert(BOOK, {'title': 'Emma', 'isbn': '2', 'pages': 300})
    assert (first, second) == (1, 2)
    emma = {'title': 'Emma', 'isbn': '2', 'pages': 300}
    assert await db.select(BOOK, {'title': 'Emma'}) == [(2, emma)]
    assert [row_id for row_id, _ in await db.select(BOOK, {})] == [1, 2]
    assert await db.select(BOOK, {}, limit=1) == [(1, {'title': 'Dune', 'isbn': '1', 'pages': 412})]
    assert await db.count(BOOK, {}) == 2
    assert await db.count(BOOK, {'pages': 412, 'title': 'Dune'}) == 1
    assert await db.count(BOOK, {'pages': 412, 'title': 'Emma'}) == 0
    assert await db.count(BOOK, {'id': 2}) == 1


async def test_filters_on_json_types(db):
    table = Table('thing')
    await db.insert(
        table, {'flag': True, 'note': None, 'tags': ['a', 'b'], 'meta': {'k': 1}, 'n': 1.5}
    )
    await db.insert(table, {'flag': False, 'note': 'x', 'tags': [], 'meta': {}, 'n': 2})
    assert await db.count(table, {'flag': True}) == 1
    assert await db.count(table, {'flag': False}) == 1
    assert await db.count(table, {'note': None}) == 1
    assert await db.count(table, {'missing': None}) == 2
    assert await db.count(table, {'tags': ['a', 'b']}) == 1
    assert await db.count(table, {'meta': {'k': 1}}) == 1
    assert await db.count(table, {'n': 1.5}) == 1
    assert await db.count(table, {'n': 2}) == 1
    assert await db.count(table, {'n': '2'}) == 0  # a string never equals a number


async def test_unique_index_raises_duplicate_error(db):
    await db.insert(BOOK, {'title': 'Dune', 'isbn': '1'})
    with pytest.raises(DuplicateError) as info:
        await db.insert(BOOK, {'title': 'Other', 'isbn': '1'})
    assert info.value.fields == ('isbn',)
    assert info.value.table == 'book'
    with pytest.raises(DuplicateError) as info:
        await db.insert(BOOK, {'title': 'Other', 'isbn': '9'}, id=1)
    assert info.value.fields == ('id',)
    assert await db.count(BOOK, {}) == 1
    # Rows without the unique field (JSON null / missing) do not collide.
    await db.insert(BOOK, {'title': 'a'})
    await db.insert(BOOK, {'title': 'b'})


async def test_update_is_atomic_and_rolls_back(db):
    await db.insert(BOOK, {'title': 'Dune', 'isbn': '1'})
    await db.insert(BOOK, {'title': 'Emma', 'isbn': '2'})

    assert await db.update(BOOK, {'isbn': '1'}, lambda row_id, doc: {**doc, 'pages': row_id})
    assert await db.select(BOOK, {'isbn': '1'}) == [(1, {'title': 'Dune', 'isbn': '1', 'pages': 1})]
    assert not await db.update(BOOK, {'isbn': 'nope'}, lambda row_id, doc: doc)

    def fail(row_id, doc):
        raise RuntimeError('validation failed')

    with pytest.raises(RuntimeError):
        await db.update(BOOK, {'isbn': '1'}, fail)
    with pytest.raises(DuplicateError):
        await db.update(BOOK, {'isbn': '2'}, lambda row_id, doc: {**doc, 'isbn': '1'})
    assert await db.select(BOOK, {'isbn': '2'}) == [(2, {'title': 'Emma', 'isbn': '2'})]
    # The connection is usable after the rollbacks.
    assert await db.count(BOOK, {}) == 2


async def test_delete_one_and_many(db):
    for isbn in '123':
        await db.insert(BOOK, {'title': 'same', 'isbn': isbn})
    assert await db.delete(BOOK, {'title': 'same'}) == 1
    assert [doc['isbn'] for _, doc in await db.select(BOOK, {})] == ['2', '3']
    assert await db.delete(BOOK, {'title': 'same'}, limit=None) == 2
    assert await db.delete(BOOK, {'title': 'same'}) == 0


async def test_ids_are_not_reused_after_delete(db):
    await db.insert(BOOK, {'isbn': '1'})
    await db.delete(BOOK, {'id': 1})
    assert await db.insert(BOOK, {'isbn': '2'}) == 2


async def test_jobs_run_off_the_event_loop(db):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await db.run(lambda conn: time.sleep(0.3))
    task.cancel()
    assert ticks >= 10
    assert await db.run(lambda conn: threading.current_thread().name) == 'panther-sqlite::memory:'


async def test_cancelled_job_that_did_not_start_never_runs(db):
    started = threading.Event()
    release = threading.Event()
    ran = []
    blocker = asyncio.create_task(db.run(lambda conn: (started.set(), release.wait(5))))
    await asyncio.to_thread(started.wait, 5)
    queued = asyncio.create_task(db.run(lambda conn: ran.append(1)))
    await asyncio.sleep(0.01)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    await asyncio.sleep(0.01)  # the cancellation reaches the thread's future
    release.set()
    await blocker
    await db.ping()
    assert ran == []


async def test_close_finishes_queued_jobs_then_refuses():
    db = SQLiteDatabase(':memory:')
    results = [asyncio.ensure_future(db.insert(BOOK, {'isbn': str(i)})) for i in range(20)]
    await asyncio.sleep(0)
    await db.close()
    assert sorted(await asyncio.gather(*results)) == list(range(1, 21))
    assert db.closed
    with pytest.raises(DatabaseError, match='closed'):
        await db.ping()
    await db.close()  # closing twice is fine
    db.close_sync()


async def test_bad_path_is_a_config_error(tmp_path: Path):
    db = SQLiteDatabase(str(tmp_path / 'no' / 'such' / 'dir' / 'x.sqlite3'))
    with pytest.raises(ConfigError) as info:
        await db.ping()
    assert info.value.key == 'DATABASE'
    assert 'cannot open SQLite database' in str(info.value)
    await db.close()


async def test_opening_is_retried_by_the_next_job(tmp_path: Path):
    directory = tmp_path / 'later'
    db = SQLiteDatabase(str(directory / 'x.sqlite3'))
    with pytest.raises(ConfigError):
        await db.ping()
    directory.mkdir()
    await db.ping()
    await db.close()


async def test_two_engines_on_one_file_share_data_and_constraints(tmp_path: Path):
    # Two engines on one file behave like two worker processes.
    path = str(tmp_path / 'shared.sqlite3')
    one, two = SQLiteDatabase(path), SQLiteDatabase(path)
    try:
        outcomes = await asyncio.gather(
            *(e.insert(BOOK, {'isbn': str(i % 25)}) for i in range(50) for e in (one, two)),
            return_exceptions=True,
        )
        assert sum(isinstance(o, int) for o in outcomes) == 25
        assert all(isinstance(o, int | DuplicateError) for o in outcomes)
        assert await one.count(BOOK, {}) == await two.count(BOOK, {}) == 25
    finally:
        await one.close()
        await two.close()
