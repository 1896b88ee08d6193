"""WS_IDLE_TIMEOUT closes silent connections; the ping heartbeat finds dead peers."""

import asyncio
import time

import pytest
import websockets

from tests.limits_helpers import limits_server
from tests.raw_ws import RawClient


def test_a_silent_connection_is_closed_and_a_chatty_one_is_not():
    with limits_server({'WS_IDLE_TIMEOUT': 0.5}) as server:
        url = server.ws + '/ws/echo'

        async def silent():
            async with websockets.connect(url) as ws:
                started = time.monotonic()
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                return ws.close_code, ws.close_reason, time.monotonic() - started

        async def chatty():
            async with websockets.connect(url) as ws:
                for i in range(8):  # 1.6 s in all, never 0.5 s without a message
                    await ws.send(str(i))
                    assert await ws.recv() == str(i)
                    await asyncio.sleep(0.2)
                return ws.close_code

        async def both():
            return await asyncio.gather(silent(), chatty())

        (code, reason, after), chatty_code = asyncio.run(both())
        assert (code, reason) == (1001, 'idle timeout')
        assert after >= 0.4  # not before the timeout (the server's clock starts a moment before the client's)
        assert chatty_code is None  # still open when it finished talking
        server.wait_hooks(lambda lines: '/ws/echo 1001' in lines)


def test_a_dead_peer_is_found_by_the_ping_heartbeat():
    # panther run passes these to uvicorn as --ws-ping-interval / --ws-ping-timeout.
    with limits_server({'WS_PING_INTERVAL': 0.3, 'WS_PING_TIMEOUT': 0.3}) as server:
        dead = RawClient(server.ws + '/ws/echo')  # completes the handshake, then never answers a ping
        try:
            lines = server.wait_hooks(lambda lines: any(line.startswith('/ws/echo ') for line in lines))
            assert 'connect /ws/echo' in lines
            drained = dead.drain(timeout=5)
            assert drained.close is not None and drained.close.code == 1011  # keepalive ping timeout
            assert drained.eof
        finally:
            dead.close()
