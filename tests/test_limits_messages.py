"""WS_MAX_MESSAGE_SIZE -> 1009 and WS_RATE_LIMIT -> 1008 over a real server."""

import asyncio

import pytest
import websockets

from tests.limits_helpers import limits_server

LIMIT = 1024


async def _close_code_after(url: str, message: str | bytes) -> int | None:
    async with websockets.connect(url) as ws:
        await ws.send(message)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code


async def _echo(url: str, message: str | bytes) -> str | bytes:
    async with websockets.connect(url) as ws:
        await ws.send(message)
        return await ws.recv()


@pytest.mark.parametrize(('server', 'args', 'enforced_by_panther'), [
    ('panther', (), False),  # panther run passes --ws-max-size: uvicorn itself closes with 1009
    ('uvicorn', ('--ws-max-size', str(16 * 1024 * 1024)), True),  # the server allows more: panther closes
])
def test_oversize_message_closes_with_1009(server, args, enforced_by_panther):
    with limits_server({'WS_MAX_MESSAGE_SIZE': LIMIT}, server=server, args=args) as running:
        url = running.ws + '/ws/echo'

        async def scenario():
            assert await _echo(url, b'b' * LIMIT) == b'b' * LIMIT
            assert await _echo(url, 'é' * (LIMIT // 2)) == 'é' * (LIMIT // 2)  # exactly LIMIT bytes in UTF-8
            assert await _close_code_after(url, b'b' * (LIMIT + 1)) == 1009
            assert await _close_code_after(url, 't' * (LIMIT + 1)) == 1009
            # Fewer characters than the limit, more bytes: the limit is in bytes.
            assert await _close_code_after(url, '€' * (LIMIT // 3 + 1)) == 1009

        asyncio.run(scenario())
        assert ('over WS_MAX_MESSAGE_SIZE' in running.log()) is enforced_by_panther


def test_flooding_faster_than_the_rate_limit_closes_with_1008():
    with limits_server({'WS_RATE_LIMIT': 5}) as server:
        url = server.ws + '/ws/echo'

        async def flood():
            async with websockets.connect(url) as ws:
                for i in range(200):
                    try:
                        await ws.send(str(i))
                    except websockets.ConnectionClosed:
                        break
                echoed = []
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        echoed.append(await asyncio.wait_for(ws.recv(), 10))
                return ws.close_code, ws.close_reason, echoed

        async def polite():
            async with websockets.connect(url) as ws:
                for i in range(5):  # the burst: max(1, rate) messages at once
                    await ws.send(str(i))
                got = [await ws.recv() for _ in range(5)]
                await asyncio.sleep(0.5)  # 2.5 tokens come back
                await ws.send('later')
                got.append(await ws.recv())
                return got

        code, reason, echoed = asyncio.run(flood())
        assert (code, reason) == (1008, 'rate limit exceeded')
        # The burst was served; past it, at most the tokens refilled meanwhile (1 per 200 ms), not the flood.
        assert echoed[:5] == ['0', '1', '2', '3', '4'] and len(echoed) < 20
        assert asyncio.run(polite()) == ['0', '1', '2', '3', '4', 'later']
        server.wait_hooks(lambda lines: '/ws/echo 1008' in lines)


def test_burst_size_is_configurable():
    with limits_server({'WS_RATE_LIMIT': 1, 'WS_RATE_LIMIT_BURST': 20}) as server:
        async def scenario():
            async with websockets.connect(server.ws + '/ws/echo') as ws:
                for i in range(20):
                    await ws.send(str(i))
                got = [await ws.recv() for _ in range(20)]
                await ws.send('one too many')
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                return got, ws.close_code

        got, code = asyncio.run(scenario())
        assert got == [str(i) for i in range(20)]
        assert code == 1008
