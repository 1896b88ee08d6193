"""The README's demo really serves: `panther run main:app` in examples/echo."""

import asyncio

import httpx
import websockets

from tests.servers import serve


def test_demo_page_and_echo_over_a_real_server():
    with serve('main:app') as server:
        page = httpx.get(server.http + '/')
        assert page.status_code == 200
        assert 'new WebSocket' in page.text

        async def talk():
            async with websockets.connect(server.ws + '/ws') as ws:
                await ws.send('hello')
                assert await ws.recv() == 'hello'
                await ws.send(b'\x00\xff')
                assert await ws.recv() == b'\x00\xff'

        asyncio.run(talk())
