"""Connection ids: format, uniqueness, and the owner worker read back from the id."""

from __future__ import annotations

import re

import pytest

from panther.connection_ids import (
    CONNECTION_ID_LENGTH,
    WORKER_ID_LENGTH,
    is_connection_id,
    new_connection_id,
    new_worker_id,
    owner_of,
)
from panther.test import WebsocketClient
from panther.websocket import GenericWebsocket
from tests.ws_helpers import make_app

HEX32 = re.compile(r'[0-9a-f]{32}')


def test_format_and_owner():
    worker = new_worker_id()
    assert len(worker) == WORKER_ID_LENGTH and re.fullmatch(r'[0-9a-f]+', worker)
    connection_id = new_connection_id(worker)
    assert HEX32.fullmatch(connection_id)
    assert len(connection_id) == CONNECTION_ID_LENGTH
    assert connection_id.startswith(worker)
    assert owner_of(connection_id) == worker
    assert is_connection_id(connection_id)


def test_unique_within_and_across_workers():
    workers = {new_worker_id() for _ in range(1000)}
    assert len(workers) == 1000
    ids = {new_connection_id(w) for w in workers for _ in range(20)}
    assert len(ids) == 20_000


@pytest.mark.parametrize('value', [
    '', 'abc', '7e82d57c9ec0478787b01916910a9f4',  # 31
    '7e82d57c9ec0478787b01916910a9f45a',  # 33
    '7E82D57C9EC0478787B01916910A9F45',  # uppercase
    'g' * 32, 'é' * 32, '7e82d57c-ec04-7878-b019-16910a9f',
])
def test_foreign_strings_have_no_owner(value):
    assert owner_of(value) is None
    assert not is_connection_id(value)


def test_is_connection_id_rejects_non_strings():
    assert not is_connection_id(None)
    assert not is_connection_id(b'0' * 32)


async def test_each_accepted_connection_gets_a_fresh_id_of_this_worker():
    seen = []

    class Recorder(GenericWebsocket):
        async def connect(self, **kwargs):
            assert self.connection_id is None  # only after accept()
            await self.accept()
            seen.append(self.connection_id)
            await self.send(self.connection_id)

    app = make_app({'ws': Recorder})
    client = WebsocketClient(app)
    for _ in range(20):
        async with client.session('/ws') as ws:
            assert await ws.receive_text() == seen[-1]
    assert len(set(seen)) == 20
    assert all(HEX32.fullmatch(i) and owner_of(i) == app.runtime.worker_id for i in seen)


def test_a_forked_worker_draws_its_own_random_parts():
    # Random parts are drawn in batches; a child must not reuse what its parent drew.
    import os

    worker = new_worker_id()
    new_connection_id(worker)  # the parent now holds drawn, unused parts
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, ' '.join(new_connection_id(worker) for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_connection_id(worker) for _ in range(10)}
    assert len(child) == 10 and not child & parent
