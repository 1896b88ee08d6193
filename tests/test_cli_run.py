"""`panther run` end to end: a real uvicorn server in a subprocess, a real HTTP client."""

import contextlib
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from tests.servers import _env, free_port, serve

APP = '''
from panther import Panther
from panther.app import API, GenericAPI
from panther.response import HTMLResponse


@API()
async def page():
    return HTMLResponse('<!doctype html><title>shop</title><h1>Welcome</h1>')


class BookAPI(GenericAPI):
    async def get(self, request, book_id: int):
        return {'id': book_id, 'q': request.query_params}

    async def post(self, request, book_id: int):
        return {'id': book_id, 'got': request.data}


URLS = {'': page, 'api/': {'books/<book_id>/': BookAPI}}
WS_MAX_MESSAGE_SIZE = 2048
app = Panther(__name__)
'''


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / 'shop.py').write_text(textwrap.dedent(APP))
    return tmp_path


def test_serves_html_and_json_and_stops_cleanly(app_dir):
    with serve('shop:app', cwd=app_dir) as server:
        page = httpx.get(server.http + '/')
        assert page.status_code == 200
        assert page.headers['content-type'] == 'text/html; charset=utf-8'
        assert '<h1>Welcome</h1>' in page.text

        book = httpx.get(server.http + '/api/books/7/?lang=en')
        assert book.status_code == 200 and book.json() == {'id': 7, 'q': {'lang': 'en'}}
        created = httpx.post(server.http + '/api/books/8', json={'title': 'Dune'})
        assert created.json() == {'id': 8, 'got': {'title': 'Dune'}}
        assert httpx.get(server.http + '/api/books/x/').status_code == 400
        assert httpx.get(server.http + '/missing/').json() == {'detail': 'Not Found'}
        head = httpx.head(server.http + '/')
        assert head.status_code == 200 and head.content == b''

        assert server.stop(signal.SIGTERM) == 0
        log = server.log()
    # The banner, once, with what this app runs with.
    assert log.count("panther 'shop' ready") == 1
    assert '2 routes, 0 WebSocket' in log and 'message 2 KiB' in log
    assert 'Traceback' not in log


def test_log_level_passes_through(app_dir):
    with serve('shop:app', cwd=app_dir, args=['--log-level', 'warning']) as server:
        assert httpx.get(server.http + '/api/books/1/').status_code == 200
        assert server.stop() == 0
        log = server.log()
    # uvicorn's and panther's INFO lines are both gone.
    assert 'Uvicorn running' not in log and 'ready' not in log and '"GET /api/books/1/' not in log


def test_banner_once_per_worker(app_dir):
    with serve('shop:app', cwd=app_dir, args=['--workers', '2']) as server:
        deadline = time.monotonic() + 20
        while server.log().count("panther 'shop' ready") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(server.http + '/api/books/2/').json()['id'] == 2
        assert server.stop() == 0
        log = server.log()
    assert log.count("panther 'shop' ready") == 2


def test_host_and_port_pass_through(app_dir):
    # 127.0.0.2 is loopback too, so binding there proves --host reached uvicorn.
    port = free_port()
    command = [sys.executable, '-m', 'panther.cli', 'run', 'shop:app', '--host', '127.0.0.2', '--port', str(port)]
    process = subprocess.Popen(command, cwd=app_dir, env=_env(None), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        response = None
        while response is None and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            with contextlib.suppress(httpx.TransportError):
                response = httpx.get(f'http://127.0.0.2:{port}/api/books/3/', timeout=1)
            time.sleep(0.05)
        assert response is not None and response.json()['id'] == 3
        with pytest.raises(httpx.ConnectError):
            httpx.get(f'http://127.0.0.1:{port}/', timeout=1)
        process.send_signal(signal.SIGINT)  # Ctrl+C is a clean stop too
        assert process.wait(15) == 0
        output = process.stdout.read().decode()
        assert f'Uvicorn running on http://127.0.0.2:{port}' in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        process.stdout.close()


def test_help_lists_uvicorn_options_and_missing_target_is_a_usage_error(tmp_path):
    command = [sys.executable, '-m', 'panther.cli', 'run']
    shown = subprocess.run([*command, '--help'], cwd=tmp_path, env=_env(None), capture_output=True, text=True,
                           timeout=30)
    assert shown.returncode == 0
    assert 'panther run MODULE:APP' in shown.stdout and '--workers INTEGER' in shown.stdout
    missing = subprocess.run(command, cwd=tmp_path, env=_env(None), capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and 'missing MODULE:APP' in missing.stderr
