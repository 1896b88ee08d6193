"""`panther run` never writes a token from the query string to its log."""

import asyncio

import httpx
import pytest
import websockets

from tests.limits_helpers import limits_server

SECRET = 'secret-token-value'


@pytest.mark.parametrize('args', [(), ('--workers', '2')])  # workers are fresh processes: the filter goes too
def test_tokens_in_query_strings_are_masked_in_the_server_log(args):
    with limits_server(args=args) as server:
        async def scenario():
            async with websockets.connect(f'{server.ws}/ws/echo?authorization={SECRET}&room=7') as ws:
                await ws.send('hi')
                assert await ws.recv() == 'hi'
            with pytest.raises(websockets.InvalidStatus):  # a refused handshake is logged too (403)
                async with websockets.connect(f'{server.ws}/ws/reject?access_token={SECRET}'):
                    pass
            async with httpx.AsyncClient() as http:
                response = await http.get(f'{server.http}/nowhere', params={'token': SECRET, 'page': 2})
                assert response.status_code == 404

        asyncio.run(scenario())
        server.wait_hooks(lambda lines: '/ws/echo 1000' in lines)
        server.stop()
        log = server.log()
        assert SECRET not in log
        # The lines are there, with the rest of the query intact.
        assert '"WebSocket /ws/echo?authorization=***&room=7" [accepted]' in log
        assert '"WebSocket /ws/reject?access_token=***" 403' in log
        assert 'GET /nowhere?token=***&page=2 HTTP/1.1" 404' in log
