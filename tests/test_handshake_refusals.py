"""Refused handshakes against a real ``panther run`` (uvicorn offers ``websocket.http.response``):
the client reads an HTTP status and a JSON ``{"detail": ...}`` body, and the server logs one line."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.servers import ROOT, serve


async def _refusal(url: str) -> tuple[int, dict]:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(url):
            pass
    response = info.value.response
    return response.status_code, orjson.loads(response.body)


@pytest.mark.parametrize('ws', [None, 'websockets', 'wsproto'])
async def test_each_refusal_has_its_status_detail_and_one_log_line(ws):
    args = [] if ws is None else ['--ws', ws]
    with serve('tests.apps.refusals:app', cwd=ROOT, args=args) as server:
        base = server.ws
        assert await _refusal(base + '/ws/authed/?token=old') == (401, {'detail': 'Token expired'})
        assert await _refusal(base + '/ws/guarded/?token=good') == (403, {'detail': 'Permission Denied'})
        assert await _refusal(base + '/ws/shy/') == (403, {'detail': 'Forbidden'})
        assert await _refusal(base + '/ws/nowhere/') == (404, {'detail': 'Not Found'})
        status, body = await _refusal(base + '/ws/open/seven/')
        assert status == 400 and 'number' in body['detail']
        # What is accepted still works beside them.
        async with connect(base + '/ws/authed/?token=good') as ok:
            assert await ok.recv() == 'welcome'
        async with connect(base + '/ws/open/7/') as ok:
            assert await ok.recv() == 'number 7'
        await asyncio.sleep(0.2)
        log = server.log()
    errors = [line for line in log.splitlines() if line.startswith('ERROR')]
    # The authentication failure is the one ERROR; the others are INFO; no server complaint about the refusals.
    assert [' '.join(e.split()) for e in errors] == ['ERROR: [panther] TokenAuth Error: "Token expired"'], errors
    for reason in ('rejected by permission never', 'Shy.connect() did not accept', 'no such route',
                   "path variable 'number'"):
        assert reason in log, reason
