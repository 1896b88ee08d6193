"""WS_SEND_QUEUE_SIZE: a client that never reads is closed with 1013; others keep full speed.

The slow client is a bare socket with a small receive buffer that does not read
while the server pushes (``tests.raw_ws``). What it sees afterwards depends on
``WS_CLOSE_TIMEOUT``: if it starts reading in time, everything that was already
buffered and then the 1013 close frame; if not, the server aborts the TCP
connection to free its buffers and the client sees the buffered data, then EOF.
"""

import asyncio

import httpx
import pytest
import websockets

from tests.limits_helpers import limits_server, peak_rss_mb
from tests.raw_ws import RawClient

MESSAGE_SIZE = 2000
# Every message is a distinct 2 kB string: 100,000 of them queued for the slow client would be
# over 200 MB on their own, so staying under this bound shows the queue did not grow.
RSS_BOUND_MB = 200


async def _push_and_read_fast(server, n: int, compression: str | None = 'deflate') -> list[int]:
    """Blast ``n`` messages to the feed group while a well-behaved client reads them all."""
    async with websockets.connect(server.ws + '/ws/feed', max_size=None, compression=compression) as fast:
        assert await fast.recv() == 'joined'
        order: list[int] = []

        async def read():
            while len(order) < n:
                order.append(int((await fast.recv())[:8]))

        reader = asyncio.create_task(read())
        async with httpx.AsyncClient(timeout=120) as http:
            # Paced at most 25,000 messages/s: a producer faster than the client reads makes any client
            # a slow one (1013 is then right), and direct writes push faster than this Python client reads.
            params = {'n': n, 'size': MESSAGE_SIZE, 'batch': 100, 'pause': 0.004}
            response = await http.post(f'{server.http}/blast', params=params)
        assert response.json() == {'sent': n}
        await asyncio.wait_for(reader, 60)
        return order


# The raw slow client negotiates no extension, so its frames are direct writes (panther.frames)
# until its buffers fill; the fast client gets ASGI sends (deflate) or direct writes too.
@pytest.mark.parametrize('compression', ['deflate', None])
def test_a_client_that_never_reads_is_closed_with_1013_while_another_receives_everything(compression):
    n = 100_000
    with limits_server({'WS_SEND_QUEUE_SIZE': 1024, 'WS_CLOSE_TIMEOUT': 60}) as server:
        slow = RawClient(server.ws + '/ws/feed', receive_buffer=4096)
        try:
            order = asyncio.run(_push_and_read_fast(server, n, compression))
            assert order == list(range(n))  # all of them, in order: the slow client cost the fast one nothing
            peak = peak_rss_mb(server.process.pid)
            assert peak < RSS_BOUND_MB, f'server peak RSS {peak:.0f} MB'

            # Now the slow client reads: what was already in the buffers, then the close frame.
            drained = slow.drain(timeout=20)
            assert drained.close is not None, f'no close frame; got {drained.messages} messages, eof={drained.eof}'
            assert (drained.close.code, drained.close.reason) == (1013, 'send queue full')
            assert 0 < drained.messages < n // 10
        finally:
            slow.close()
        server.wait_hooks(lambda lines: '/ws/feed 1013' in lines)
        assert 'with 1013' in server.log()


def test_a_stuck_client_is_aborted_after_the_close_timeout_and_forgotten():
    n = 20_000
    with limits_server({'WS_SEND_QUEUE_SIZE': 256, 'WS_CLOSE_TIMEOUT': 1}) as server:
        slow = RawClient(server.ws + '/ws/feed', receive_buffer=4096)
        try:
            order = asyncio.run(_push_and_read_fast(server, n))
            assert order == list(range(n))
            # Without the client reading a byte, the server gave up on the close frame and forgot it.
            server.wait_hooks(lambda lines: '/ws/feed 1013' in lines, timeout=15)
            assert 'connection abandoned' in server.log()
            drained = slow.drain(timeout=20)
            assert drained.eof and drained.close is None
            assert drained.messages < n // 10
        finally:
            slow.close()
        assert peak_rss_mb(server.process.pid) < RSS_BOUND_MB
