"""``panther.db.changes``: which writes are reported, with which ids, and a failing listener."""

from __future__ import annotations

import logging

import pytest

from panther.db import Model, changes


class Note(Model):
    text: str


@pytest.fixture
def seen(database):
    calls: list[tuple[type, tuple | None]] = []

    async def listener(model, ids):
        if model is Note:
            calls.append((model, ids))

    changes.on_rows_changed(listener)
    changes.on_rows_changed(listener)  # once, however often added
    yield calls
    changes.off_rows_changed(listener)


async def test_updates_and_deletes_are_reported_inserts_are_not(seen):
    first = await Note.insert_one(text='a')
    second = await Note.insert_one(text='b')
    assert seen == []
    await first.update(text='a2')
    await Note.update_one({'text': 'b'}, text='b2')
    assert await Note.update_one({'text': 'nothing'}, text='x') is None
    assert seen == [(Note, (first.id,)), (Note, (second.id,))]
    seen.clear()
    await Note.delete_one(id=first.id)
    await Note.delete_one(id=first.id)  # nothing deleted: nothing reported
    await Note.delete_many(text='b2')
    assert seen == [(Note, (first.id,)), (Note, None)]


async def test_a_failing_listener_is_logged_and_the_write_stands(database, caplog):
    async def broken(model, ids):
        raise RuntimeError('listener is down')

    changes.on_rows_changed(broken)
    try:
        note = await Note.insert_one(text='a')
        with caplog.at_level(logging.ERROR, logger='panther'):
            await note.update(text='b')
        assert (await Note.find_one(id=note.id)).text == 'b'
        assert [r.getMessage() for r in caplog.records] == ['a listener of Note changes failed']
    finally:
        changes.off_rows_changed(broken)
