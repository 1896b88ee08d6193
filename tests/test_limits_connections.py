"""WS_MAX_CONNECTIONS per worker: new handshakes beyond it are refused, open ones untouched."""

import asyncio

import pytest
import websockets

from tests.limits_helpers import limits_server


async def _refused(url: str) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url):
            pass
    return refused.value.response.status_code


async def _echoes(ws, text: str = 'hi') -> bool:
    await ws.send(text)
    return await ws.recv() == text


def test_connections_beyond_the_cap_are_refused_and_a_closed_one_frees_its_slot():
    with limits_server({'WS_MAX_CONNECTIONS': 2}) as server:
        echo = server.ws + '/ws/echo'

        async def scenario():
            first = await websockets.connect(echo)
            second = await websockets.connect(echo)
            assert await _echoes(first) and await _echoes(second)
            for _ in range(3):
                assert await _refused(echo) == 503
            # The refused handshakes disturbed nobody.
            assert await _echoes(first, 'still') and await _echoes(second, 'here')

            await first.close()
            for _ in range(100):  # the slot frees once the server has run the close through
                try:
                    third = await websockets.connect(echo)
                    break
                except websockets.InvalidStatus:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError('the closed connection never freed its slot')
            assert await _echoes(third)
            assert await _refused(echo) == 503
            await second.close()
            await third.close()

        asyncio.run(scenario())
        assert 'WS_MAX_CONNECTIONS (2) reached' in server.log()


def test_handshakes_refused_or_crashed_in_connect_free_their_slot():
    with limits_server({'WS_MAX_CONNECTIONS': 2}) as server:
        async def scenario():
            async with websockets.connect(server.ws + '/ws/echo') as held:
                for query in ('', '?crash=1') * 5:  # each takes the second slot, then gives it back
                    with pytest.raises(websockets.InvalidStatus):
                        async with websockets.connect(server.ws + '/ws/reject' + query):
                            pass
                async with websockets.connect(server.ws + '/ws/echo') as second:
                    assert await _echoes(second)
                assert await _echoes(held)

        asyncio.run(scenario())
        assert 'WS_MAX_CONNECTIONS' not in server.log()


def test_a_burst_of_concurrent_handshakes_cannot_overshoot_the_cap():
    with limits_server({'WS_MAX_CONNECTIONS': 3}) as server:
        async def attempt():
            try:
                return await websockets.connect(server.ws + '/ws/echo')
            except websockets.InvalidStatus:
                return None

        async def scenario():
            results = await asyncio.gather(*(attempt() for _ in range(20)))
            opened = [ws for ws in results if ws is not None]
            for ws in opened:
                assert await _echoes(ws)
                await ws.close()
            return len(opened)

        assert asyncio.run(scenario()) == 3
