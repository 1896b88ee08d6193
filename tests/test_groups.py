"""Groups and typed messages in one process (no server): membership, exclude, exactly once."""

import asyncio

from pydantic import BaseModel

from panther import Panther
from panther.test import WebsocketClient
from panther.websocket import GenericWebsocket, group_members, send_message_to_group
from tests.ws_helpers import make_app


class Member(GenericWebsocket):
    async def connect(self, room: str):
        await self.accept()
        if room != 'none':
            await self.join_group(room)
        await self.send(self.connection_id)

    async def receive(self, data: str):
        if data == 'leave':
            await self.leave_group('room')
            await self.send('left')
        else:
            await send_message_to_group('room', data, exclude=self.connection_id)


class Move(BaseModel):
    x: int
    y: int


class Board(GenericWebsocket):
    async def connect(self):
        await self.accept()

    async def receive(self, data: Move):
        await self.send({'sum': data.x + data.y})


URLS = {'ws/<room>/': Member, 'ws-typed/': Board}


def build():
    return Panther(__name__, configs=__name__, urls=URLS)


async def _quiet(session, wait=0.2):
    try:
        message = await session.receive(timeout=wait)
    except (TimeoutError, asyncio.TimeoutError):  # noqa: UP041 - the client may raise either
        return True
    raise AssertionError(f'unexpected {message!r}')


async def test_group_send_reaches_every_member_once_and_exclude_works():
    client = WebsocketClient(build())
    async with client.session('/ws/room/') as a, client.session('/ws/room/') as b, \
            client.session('/ws/room/') as c, client.session('/ws/none/') as outsider:
        ids = [await s.receive_text() for s in (a, b, c)]
        await outsider.receive_text()
        assert sorted(await group_members('room')) == sorted(ids)
        await a.send('from a')  # a excludes itself
        assert await b.receive_text() == 'from a'
        assert await c.receive_text() == 'from a'
        await send_message_to_group('room', {'n': 1})
        for session in (a, b, c):
            assert await session.receive_json() == {'n': 1}
        await send_message_to_group('room', b'\x01', exclude=[ids[1], ids[2]])
        assert await a.receive_bytes() == b'\x01'
        for session in (a, b, c, outsider):
            assert await _quiet(session)

        await b.send('leave')
        assert await b.receive_text() == 'left'
        assert sorted(await group_members('room')) == sorted([ids[0], ids[2]])
        await c.close()
        await c.wait_closed()
        for _ in range(50):
            if await group_members('room') == [ids[0]]:
                break
            await asyncio.sleep(0.01)
        assert await group_members('room') == [ids[0]]
    assert await group_members('room') == []


async def test_typed_receive_valid_and_invalid():
    async with WebsocketClient(build()).session('/ws-typed/') as ws:
        await ws.send('{"x": 2, "y": 3}')
        assert await ws.receive_json() == {'sum': 5}
        await ws.send('{"x": 2}')
        missing = (await ws.receive_json())['detail']
        assert missing == [{'loc': ['y'], 'msg': 'Field required', 'type': 'missing'}]
        await ws.send('not json')
        assert (await ws.receive_json())['detail'][0]['type'] == 'json_invalid'
        await ws.send('{"x": 1, "y": 1}')  # the connection stayed open
        assert await ws.receive_json() == {'sum': 2}


async def test_inside_disconnect_the_leaving_connection_is_no_longer_a_member():
    """A presence list broadcast from disconnect() must not name the one leaving (issue: users expect it gone)."""
    seen: list[tuple[list[str], frozenset[str]]] = []
    done = asyncio.Event()

    class Presence(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()
            await self.join_group('room')

        async def disconnect(self, code):
            seen.append((await group_members('room'), self.groups))
            done.set()

    app = make_app({'ws': Presence})
    client = WebsocketClient(app)
    async with client.session('/ws'), client.session('/ws') as leaves:
        members = await group_members('room')
        assert len(members) == 2
        await leaves.close(1000)
        await asyncio.wait_for(done.wait(), 2)
        (listed, groups), = seen
        assert len(listed) == 1 and listed[0] in members  # only the one that stays
        assert groups == {'room'}  # self.groups still names what it was in
