"""The chat example behind nginx: round-robin over two ``panther run --workers 2`` processes sharing Redis.

The nginx configuration is the one docs/deployment.md shows (read from the page, only the ports
changed), so the documented configuration is the tested one. Two clients that nginx put on
different processes exchange a direct message and group messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis as redis_py
import websockets

from tests.servers import EXAMPLES, ROOT, free_port, serve, wait_for_port

DOC = ROOT / 'docs' / 'deployment.md'
MARKER = '<!-- tested by tests/test_nginx.py'


def documented_config() -> str:
    """The ```nginx block that follows the marker in docs/deployment.md."""
    text = DOC.read_text()
    after = text[text.index(MARKER):]
    match = re.search(r'```nginx\n(.*?)```', after, re.S)
    assert match, 'docs/deployment.md lost its tested nginx block'
    return match.group(1)


def nginx_conf(scratch: Path, listen: int, backends: list[int]) -> Path:
    snippet = documented_config()
    documented = re.findall(r'server 127\.0\.0\.1:(\d+);', snippet)
    assert len(documented) == len(backends)
    for old, new in zip(documented, backends, strict=True):
        snippet = snippet.replace(f'server 127.0.0.1:{old};', f'server 127.0.0.1:{new};')
    snippet, replaced = re.subn(r'listen \d+;', f'listen 127.0.0.1:{listen};', snippet)
    assert replaced == 1
    conf = scratch / 'nginx.conf'
    conf.write_text(
        f'worker_processes 1;\npid {scratch}/nginx.pid;\nerror_log {scratch}/error.log;\n'
        f'events {{ worker_connections 256; }}\n'
        f'http {{\n  access_log off;\n  client_body_temp_path {scratch}/body;\n'
        f'  proxy_temp_path {scratch}/proxy;\n{snippet}\n}}\n')
    return conf


@contextlib.contextmanager
def run_nginx(scratch: Path, backends: list[int]) -> Iterator[int]:
    binary = shutil.which('nginx') or '/usr/sbin/nginx'
    if not Path(binary).exists():
        raise RuntimeError('nginx is not installed (scripts/test.sh installs it)')
    port = free_port()
    conf = nginx_conf(scratch, port, backends)
    command = [binary, '-p', str(scratch), '-e', str(scratch / 'error.log'), '-c', str(conf)]
    checked = subprocess.run([*command, '-t'], capture_output=True, text=True, timeout=20)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([*command, '-g', 'daemon off;'], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, log=scratch / 'error.log')
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture
def deployment(tmp_path, redis_server) -> Iterator[tuple[str, dict[str, str]]]:
    with redis_py.Redis(host='127.0.0.1', port=redis_server) as client:
        client.flushall()
    env = {'REDIS_URL': f'redis://127.0.0.1:{redis_server}/0', 'CHAT_DB': str(tmp_path / 'chat.sqlite3'),
           'SECRET_KEY': 'nginx-test-key-' + 'x' * 32, 'PANTHER_LOG_LEVEL': 'INFO'}
    # Create the database before two processes race to.
    with serve('main:app', EXAMPLES / 'chat', env=env) as first:
        httpx.post(f'{first.http}/api/signin/', json={'username': 'setup', 'password': 'pw'}, timeout=20)
    with serve('main:app', EXAMPLES / 'chat', args=['--workers', '2'], env=env) as one, \
            serve('main:app', EXAMPLES / 'chat', args=['--workers', '2'], env=env) as two, \
            run_nginx(tmp_path, [one.port, two.port]) as port:
        yield f'127.0.0.1:{port}', {f'127.0.0.1:{one.port}': 'one', f'127.0.0.1:{two.port}': 'two'}


async def _recv_type(ws, kind: str, about: str | None = None) -> dict:
    """The next message of type ``kind`` (about connection ``about``, if given); others are skipped."""
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if message['type'] == kind and about in (None, message.get('id')):
            return message


async def test_the_chat_works_through_nginx_across_processes(deployment):
    address, processes = deployment
    async with httpx.AsyncClient(base_url=f'http://{address}', timeout=20) as api:
        page = await api.get('/')
        assert page.status_code == 200 and '<html' in page.text.lower()
        assert page.headers['x-upstream'] in processes
        tokens = {}
        for name in ('alice', 'bob'):
            answer = await api.post('/api/signin/', json={'username': name, 'password': 'pw'})
            assert answer.status_code == 200, answer.text
            tokens[name] = answer.json()['access_token']

    # Open sockets until nginx has put bob and alice on different processes.
    opened = []
    bob = alice = None
    try:
        bob = await websockets.connect(f'ws://{address}/ws/chat/lobby/?authorization={tokens["bob"]}')
        opened.append(bob)
        bob_process = processes[bob.response.headers['x-upstream']]
        bob_hello = await _recv_type(bob, 'welcome')
        for _ in range(10):
            candidate = await websockets.connect(f'ws://{address}/ws/chat/lobby/?authorization={tokens["alice"]}')
            opened.append(candidate)
            if processes[candidate.response.headers['x-upstream']] != bob_process:
                alice = candidate
                break
            await candidate.close()
        assert alice is not None, 'round-robin never put the second client on the other process'
        alice_hello = await _recv_type(alice, 'welcome')
        assert alice_hello['id'][:12] != bob_hello['id'][:12]  # different workers, different processes

        # A group message (alice's arrival) crosses processes; bob answers with a direct message.
        joined = await _recv_type(bob, 'join', alice_hello['id'])
        assert (joined['name'], joined['id']) == ('alice', alice_hello['id'])
        await bob.send(orjson.dumps({'type': 'here', 'to': alice_hello['id']}).decode())
        present = await _recv_type(alice, 'present')
        assert (present['name'], present['id']) == ('bob', bob_hello['id'])

        # Chat messages go to the whole room, each exactly once, in order.
        for i in range(5):
            await alice.send(orjson.dumps({'type': 'say', 'text': f'hi {i}'}).decode())
            await bob.send(orjson.dumps({'type': 'say', 'text': f'yo {i}'}).decode())
        for ws in (alice, bob):
            texts = [(await _recv_type(ws, 'message'))['text'] for _ in range(10)]
            assert [t for t in texts if t.startswith('hi')] == [f'hi {i}' for i in range(5)]
            assert [t for t in texts if t.startswith('yo')] == [f'yo {i}' for i in range(5)]
        await alice.close()
        left = await _recv_type(bob, 'leave', alice_hello['id'])
        assert left['id'] == alice_hello['id']
    finally:
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
