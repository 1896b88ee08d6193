"""Resumable sessions against real servers, through a TCP proxy the test cuts (docs/sessions.md).

A burst of 1,000 messages (direct and group, alternately) is sent while the
connection is cut: the Python client gets every one once and in order, with the
same connection id, and ``disconnect`` runs once, at the end. On one worker, on
the two workers of one ``panther run`` (resuming on the other worker), and on
two ``panther run`` processes sharing Redis, including SIGKILL of the process
whose worker carried the connection.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
import websockets

from panther.client import SessionLost, connect
from tests.servers import ROOT, serve
from tests.session_support import (
    APP,
    expected_burst,
    log_lines,
    read_burst,
    start_burst,
    wait_for_lines,
)
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(90)


def _env(log: Path, **extra: str) -> dict[str, str]:
    return {'PANTHER_TEST_SESSION_LOG': str(log), **extra}


async def test_drops_during_a_burst_on_one_worker(tmp_path):
    log = tmp_path / 'hooks.log'
    with serve(APP, cwd=ROOT, env=_env(log)) as server:
        async with TcpProxy([server.port]) as proxy:
            async with connect(proxy.url('ws/s/?user=alice')) as ws:
                first_id = ws.connection_id
                assert ws.session and first_id
                burst = await start_burst(server.http, first_id)
                got = await read_burst(ws, proxy, 1000, {150, 450, 750})
                assert (await burst)['sent'] == 1000
                assert got == expected_burst(1000)
                assert ws.connection_id == first_id
                assert ws.resumes >= 1
                await ws.send('after')
                assert await ws.recv() == 'after'
        disconnects = wait_for_lines(log, 'disconnect', first_id)
    assert [line[2] for line in disconnects] == ['1000']
    assert len(log_lines(log, 'connect', first_id)) == 1
    assert len(log_lines(log, 'resumed', first_id)) == ws.resumes


async def test_drops_during_a_burst_on_two_workers_resume_on_the_other(tmp_path):
    log = tmp_path / 'hooks.log'
    with serve(APP, cwd=ROOT, args=['--workers', '2'], env=_env(log)) as server:
        async with TcpProxy([server.port]) as proxy:
            async with connect(proxy.url('ws/s/?user=alice')) as ws:
                first_id = ws.connection_id
                await ws.send('pid')
                home = int((await ws.recv())[4:])
                burst = await start_burst(server.http, first_id, pause=0.02)
                # Which worker takes a new TCP connection is the kernel's choice: cut often
                # enough that the session is resumed on the other worker, again and again.
                got = await read_burst(ws, proxy, 1000, set(range(60, 1000, 60)))
                await burst
                assert got == expected_burst(1000)
                assert ws.connection_id == first_id
                landed = _handshake_pids(log)[1:]
                assert any(pid != home for pid in landed), f'never resumed on the other worker: {landed}'
                # Groups and sends still work from a worker that is not the session's home.
                await ws.send('groups')
                while (reply := await ws.recv()).startswith('pid:'):
                    pass
                assert reply == 'groups:room'
        disconnects = wait_for_lines(log, 'disconnect', first_id)
    assert len(disconnects) == 1 and disconnects[0][2] == '1000'
    assert int(disconnects[0][3]) == home  # the session's home runs its hooks
    assert len(log_lines(log, 'connect', first_id)) == 1


async def test_two_processes_with_redis_and_sigkill_of_the_carrying_worker(tmp_path, redis_server):
    log = tmp_path / 'hooks.log'
    env = _env(log, PANTHER_TEST_REDIS=str(redis_server))
    with serve(APP, cwd=ROOT, env=env) as home, serve(APP, cwd=ROOT, env=env) as other:
        async with TcpProxy([home.port, other.port]) as proxy:
            # The first connection goes to `home`; every later one to `other` until it dies.
            proxy.choose = lambda n: home.port if n == 0 or other.process.poll() is not None else other.port
            async with connect(proxy.url('ws/s/?user=alice')) as ws:
                first_id = ws.connection_id
                burst = await start_burst(home.http, first_id, pause=0.01)
                got = await read_burst(ws, proxy, 100, {100})
                got += await read_burst(ws, proxy, 1, set())  # resumed, through the proxy, on `other`
                assert ws.resumes == 1
                got += await _until_pid(ws, home.process.pid)
                assert _handshake_pids(log)[-1] == other.process.pid
                other.stop(signal.SIGKILL)  # the worker carrying the connection dies
                got += await read_burst(ws, proxy, 1000 - len(got), {500})
                await burst
                assert got == expected_burst(1000)
                assert ws.connection_id == first_id and ws.resumes >= 2
                await _until_pid(ws, home.process.pid)
                assert _handshake_pids(log)[-1] == home.process.pid
        disconnects = wait_for_lines(log, 'disconnect', first_id)
    assert len(disconnects) == 1 and disconnects[0][2] == '1000'


async def _until_pid(ws, pid: int) -> list[str]:
    """Ask which worker runs the handler; returns the burst messages read meanwhile."""
    await ws.send('pid')
    got = []
    while not (message := await asyncio.wait_for(ws.recv(), 15)).startswith('pid:'):
        got.append(message)
    assert int(message[4:]) == pid
    return got


def _handshake_pids(log: Path, user: str = 'alice') -> list[int]:
    """The workers the handshakes of ``user`` landed on, in order (the test app's auth notes them)."""
    return [int(line[2]) for line in log_lines(log, 'handshake', user)]


async def test_a_resume_on_another_worker_keeps_the_handler_instance(tmp_path, redis_server):
    log = tmp_path / 'hooks.log'
    env = _env(log, PANTHER_TEST_REDIS=str(redis_server))
    with serve(APP, cwd=ROOT, env=env) as home, serve(APP, cwd=ROOT, env=env) as other:
        async with TcpProxy([home.port, other.port]) as proxy:
            proxy.choose = lambda n: home.port if n == 0 else other.port  # every resume lands on `other`
            async with connect(proxy.url('ws/x/?user=carol')) as ws:
                first_id = ws.connection_id
                await ws.send('a')
                x = (await ws.recv()).split('|')[1]
                assert x.startswith(f'x{home.process.pid}.')
                calls = 1
                for _ in range(2):
                    proxy.cut()
                    # resumed() ran on the instance connect() made, and its send reached the client.
                    assert await asyncio.wait_for(ws.recv(), 15) == f'resumed|{x}'
                    for i in range(50):  # sent without waiting: handled in order, on that instance
                        await ws.send(f'm{i}')
                    for i in range(50):
                        calls += 1
                        assert await asyncio.wait_for(ws.recv(), 15) == f'm{i}|{x}|{calls}'
                assert ws.resumes == 2 and ws.connection_id == first_id
                assert _handshake_pids(log, 'carol') == [home.process.pid, other.process.pid, other.process.pid]
        disconnects = wait_for_lines(log, 'disconnect', first_id)
    assert [line[2:] for line in disconnects] == [['1000', str(home.process.pid), x, str(calls)]]
    assert [line[2:] for line in log_lines(log, 'connect', first_id)] == [[str(home.process.pid), x]]
    assert [line[2:] for line in log_lines(log, 'resumed', first_id)] == [[str(home.process.pid), x]] * 2


async def test_shutdown_ends_detached_and_live_sessions_once(tmp_path):
    log = tmp_path / 'hooks.log'
    with serve(APP, cwd=ROOT, env=_env(log)) as server:
        async with TcpProxy([server.port]) as proxy:
            _, dropped = await _open(proxy.url('ws/s/?user=alice'))
            proxy.cut()
            live, live_welcome = await _open(f'{server.ws}/ws/s/?user=bob')
            await asyncio.sleep(0.3)
            server.stop()
            await live.close()
    assert len(log_lines(log, 'disconnect', dropped['connection_id'])) == 1
    assert len(log_lines(log, 'disconnect', live_welcome['connection_id'])) == 1


# -- refusals -------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def short_lived(tmp_path_factory):
    """A server whose sessions wait 1.5 s and keep 10 messages."""
    log = tmp_path_factory.mktemp('sessions') / 'hooks.log'
    env = _env(log, PANTHER_TEST_RESUME_WINDOW='1.5', PANTHER_TEST_RESUME_BUFFER='10')
    with serve(APP, cwd=ROOT, env=env) as server:
        server.hooks = log
        yield server


async def _open(url: str) -> tuple[websockets.ClientConnection, dict]:
    ws = await websockets.connect(url, subprotocols=['panther.v1'])
    assert ws.subprotocol == 'panther.v1'
    welcome = json.loads(await ws.recv())
    assert welcome['type'] == 'welcome'
    await ws.send(f'A{welcome["seq"]}')
    return ws, welcome


def _resume_url(proxy: TcpProxy, user: str, credential: str, seq: int = 0) -> str:
    return proxy.url(f'ws/s/?user={user}&panther_resume={credential}&panther_seq={seq}')


async def _dropped(proxy: TcpProxy, user: str = 'alice') -> dict:
    """Open a session through the proxy, then cut it; returns its welcome."""
    ws, welcome = await _open(proxy.url(f'ws/s/?user={user}'))
    await ws.send('Dping')
    assert await ws.recv() == '1:ping'
    proxy.cut()
    await asyncio.sleep(0.2)  # the server notices the drop and detaches the session
    return welcome


async def test_resume_after_the_window_is_refused_expired(short_lived):
    async with TcpProxy([short_lived.port]) as proxy:
        welcome = await _dropped(proxy)
        await asyncio.sleep(2.0)
        ws, again = await _open(_resume_url(proxy, 'alice', welcome['resume'], 1))
        await ws.close()
    assert (again['resumed'], again['lost']) == (False, 'expired')
    assert again['connection_id'] != welcome['connection_id']
    assert len(wait_for_lines(short_lived.hooks, 'disconnect', welcome['connection_id'])) == 1


async def test_resume_after_the_buffer_overflowed_is_refused_overflow(short_lived):
    async with TcpProxy([short_lived.port]) as proxy:
        welcome = await _dropped(proxy)
        burst = await start_burst(short_lived.http, welcome['connection_id'], count=12)
        await burst
        disconnects = wait_for_lines(short_lived.hooks, 'disconnect', welcome['connection_id'])
        assert len(disconnects) == 1  # ended at once, not at the end of the window
        ws, again = await _open(_resume_url(proxy, 'alice', welcome['resume'], 1))
        await ws.close()
    assert (again['resumed'], again['lost']) == (False, 'overflow')


async def test_resume_as_another_user_is_refused_and_the_owner_still_resumes(short_lived):
    async with TcpProxy([short_lived.port]) as proxy:
        welcome = await _dropped(proxy)
        ws, mallory = await _open(_resume_url(proxy, 'mallory', welcome['resume'], 1))
        await ws.close()
        assert (mallory['resumed'], mallory['lost']) == (False, 'user')
        assert mallory['connection_id'] != welcome['connection_id']
        ws, alice = await _open(_resume_url(proxy, 'alice', welcome['resume'], 1))
        await ws.close(1000)
    assert alice['resumed'] is True and alice['connection_id'] == welcome['connection_id']


async def test_forged_and_replayed_credentials_are_refused(short_lived):
    async with TcpProxy([short_lived.port]) as proxy:
        welcome = await _dropped(proxy)
        connection_id, _nonce, mac = welcome['resume'].split('.')
        forged = f'{connection_id}.{"0" * 32}.{mac}'
        ws, refused = await _open(_resume_url(proxy, 'alice', forged, 1))
        await ws.close()
        assert (refused['resumed'], refused['lost']) == (False, 'invalid')

        ws, resumed = await _open(_resume_url(proxy, 'alice', welcome['resume'], 1))
        assert resumed['resumed'] is True
        await asyncio.sleep(0.1)  # the server reads the ack: the client holds the new credential
        proxy.cut()
        await asyncio.sleep(0.2)
        ws, replayed = await _open(_resume_url(proxy, 'alice', welcome['resume'], 1))
        await ws.close()
        assert (replayed['resumed'], replayed['lost']) == (False, 'replayed')
        ws, fresh = await _open(_resume_url(proxy, 'alice', resumed['resume'], 1))
        await ws.close(1000)
        assert fresh['resumed'] is True


async def test_python_client_raises_session_lost_once_then_goes_on(short_lived):
    async with TcpProxy([short_lived.port]) as proxy:
        async with connect(proxy.url('ws/s/?user=alice'), backoff=0.05, max_backoff=0.2) as ws:
            old = ws.connection_id
            proxy.down = True  # the network stays down past the 1.5 s window
            proxy.cut()
            asyncio.get_running_loop().call_later(2.0, setattr, proxy, 'down', False)
            with pytest.raises(SessionLost) as lost:
                await ws.recv()
            assert lost.value.reason == 'expired' and lost.value.old_connection_id == old
            assert ws.connection_id != old
            await ws.send('again')
            assert await ws.recv() == 'again'


async def test_a_close_by_the_server_ends_the_session_once(short_lived):
    async with TcpProxy([short_lived.port]) as proxy:
        async with connect(proxy.url('ws/s/?user=alice')) as ws:
            await ws.send('close')
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4001  # not resumed: the server ended the session
            assert ws.resumes == 0
    disconnects = wait_for_lines(short_lived.hooks, 'disconnect', ws.connection_id)
    assert [line[2] for line in disconnects] == ['4001']


async def test_plain_client_sees_no_subprotocol_and_plain_frames(short_lived):
    async with websockets.connect(f'{short_lived.ws}/ws/s/?user=alice') as ws:
        assert ws.subprotocol is None
        await ws.send('hello')
        assert await ws.recv() == 'hello'
        await ws.send(b'\x00bin')
        assert await ws.recv() == b'\x00bin'
        await ws.send('groups')
        assert await ws.recv() == 'groups:room'
