"""SIGTERM: every client gets a going-away close, every disconnect hook runs, in bounded time."""

import asyncio
import signal
import subprocess
import time

import httpx
import pytest
import websockets

from tests.limits_helpers import limits_server
from tests.raw_ws import RawClient

GUNICORN = ('-w', '2', '-k', 'panther.workers.UvicornWorker', '--preload', '--graceful-timeout', '10')


async def _open(url: str, count: int) -> list:
    clients = [await websockets.connect(url) for _ in range(count)]
    for ws in clients:
        await ws.send('hi')
        assert await ws.recv() in ('hi', 'joined')
    return clients


async def _close_codes(clients) -> list[int | None]:
    codes = []
    for ws in clients:
        with pytest.raises(websockets.ConnectionClosed):
            while True:  # the feed clients may still have 'joined' or echoes to read
                await asyncio.wait_for(ws.recv(), 15)
        codes.append(ws.close_code)
    return codes


@pytest.mark.parametrize(('server', 'args'), [('panther', ()), ('gunicorn', GUNICORN)])
def test_sigterm_closes_every_connection_with_going_away_and_runs_every_disconnect_hook(server, args):
    with limits_server(server=server, args=args) as running:
        async def scenario():
            clients = await _open(running.ws + '/ws/echo', 8)
            feed = [await websockets.connect(running.ws + '/ws/feed') for _ in range(2)]  # group members
            running.wait_hooks(lambda lines: lines.count('connect /ws/echo') == 8)
            running.process.send_signal(signal.SIGTERM)
            return await _close_codes(clients + feed)

        codes = asyncio.run(scenario())
        assert len(codes) == 10 and set(codes) <= {1001, 1012}, codes
        running.process.wait(15)
        hooks = running.hooks()
        closes = sorted(line.split() for line in hooks if not line.startswith('connect'))
        assert [path for path, _ in closes] == ['/ws/echo'] * 8 + ['/ws/feed'] * 2, hooks
        assert {code for _, code in closes} <= {'1001', '1012'}, hooks


def test_a_peer_that_never_reads_cannot_hold_the_shutdown_beyond_its_timeout():
    config = {'WS_SEND_QUEUE_SIZE': 100_000, 'WS_CLOSE_TIMEOUT': 60, 'WS_SHUTDOWN_TIMEOUT': 2}
    with limits_server(config) as running:
        stuck = RawClient(running.ws + '/ws/feed', receive_buffer=4096)
        try:
            async def scenario():
                clients = await _open(running.ws + '/ws/echo', 3)
                async with httpx.AsyncClient(timeout=30) as http:
                    # Far more than the socket buffers hold: the stuck client's transport cannot drain.
                    await http.post(f'{running.http}/blast', params={'n': 5000, 'size': 2000, 'batch': 500})
                started = time.monotonic()
                running.process.send_signal(signal.SIGTERM)
                codes = await _close_codes(clients)
                return codes, started

            codes, started = asyncio.run(scenario())
            assert codes == [1012, 1012, 1012]
            try:
                running.process.wait(12)
            except subprocess.TimeoutExpired:
                pytest.fail(f'the server still runs 12 s after SIGTERM:\n{running.log()}')
            assert time.monotonic() - started < 12
            closes = [line for line in running.hooks() if not line.startswith('connect')]
            assert sorted(closes) == ['/ws/echo 1012'] * 3 + ['/ws/feed 1012']
        finally:
            stuck.close()
