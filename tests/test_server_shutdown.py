"""Shutdown on every server of the matrix (tests/test_server_matrix.py): SIGTERM closes every
connection with a going-away code and runs each ``disconnect`` hook once, where the server
lets the app know (``Kind.shutdown`` records what each server does)."""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import connect

from tests.servers import ROOT, serve
from tests.test_server_matrix import KINDS


@pytest.mark.parametrize('kind', KINDS, ids=lambda kind: kind.name)
async def test_sigterm_closes_every_connection_going_away_and_runs_disconnect(kind):
    with tempfile.TemporaryDirectory() as directory:
        hooks = Path(directory) / 'disconnects.log'
        env = kind.env(PANTHER_TEST_DISCONNECT_LOG=str(hooks))
        with serve('tests.apps.ws_server:app', cwd=ROOT, server=kind.server, args=kind.args, env=env) as running:
            clients = [await connect(running.ws + '/ws/id', compression=kind.compression) for _ in range(5)]
            ids = [await ws.recv() for ws in clients]
            running.process.send_signal(signal.SIGTERM)
            codes = []
            for ws in clients:
                with pytest.raises(websockets.ConnectionClosed) as info:
                    await asyncio.wait_for(ws.recv(), 15)
                codes.append(info.value.rcvd.code if info.value.rcvd else None)
            assert running.process.wait(20) is not None
        assert set(codes) == kind.shutdown_codes, codes
        lines = hooks.read_text().splitlines() if hooks.exists() else []
        if kind.hook_codes is None:
            assert lines == []
            return
        noted = dict(line.split() for line in lines)
        assert sorted(noted) == sorted(ids) and len(lines) == len(ids)  # every disconnect() ran, once
        assert {int(code) for code in noted.values()} <= kind.hook_codes, noted
