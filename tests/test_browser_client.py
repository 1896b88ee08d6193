"""/_panther/panther.js: served by a real app with an ETag, revalidated with 304, off with None."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from panther.browser_client import SOURCE
from tests.servers import serve

APP = '''
from panther import Panther
from panther.app import API

{setting}

@API()
async def hello():
    return {{'hello': 'world'}}

URLS = {{'hello/': hello, '_panther/panther.js': hello}}
app = Panther(__name__, configs=__name__, urls=URLS)
'''


def _app(tmp_path: Path, setting: str = '') -> Path:
    (tmp_path / 'main.py').write_text(APP.format(setting=setting))
    return tmp_path


def test_the_script_is_served_with_an_etag_and_revalidated(tmp_path):
    with serve('main:app', _app(tmp_path)) as server:
        url = f'{server.http}/_panther/panther.js'
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert answer.headers['content-type'] == 'text/javascript; charset=utf-8'
        assert answer.content == SOURCE.read_bytes()
        assert b'export function connect' in answer.content
        etag = answer.headers['etag']
        assert answer.headers['cache-control'] == 'no-cache'

        again = httpx.get(url, headers={'If-None-Match': etag})
        assert again.status_code == 304 and again.content == b''
        stale = httpx.get(url, headers={'If-None-Match': '"something-else"'})
        assert stale.status_code == 200 and stale.content == answer.content

        head = httpx.head(url)
        assert head.status_code == 200 and head.content == b''
        assert int(head.headers['content-length']) == len(answer.content)

        post = httpx.post(url)
        assert post.status_code == 405 and post.headers['allow'] == 'GET, HEAD'
        assert httpx.get(f'{server.http}/hello/').json() == {'hello': 'world'}


def test_none_turns_it_off_and_the_path_is_routed_as_usual(tmp_path):
    with serve('main:app', _app(tmp_path, 'WS_CLIENT_PATH = None')) as server:
        answer = httpx.get(f'{server.http}/_panther/panther.js')
        assert answer.status_code == 200 and answer.json() == {'hello': 'world'}


def test_another_path(tmp_path):
    with serve('main:app', _app(tmp_path, "WS_CLIENT_PATH = '/static/rt.js'")) as server:
        assert httpx.get(f'{server.http}/static/rt.js').content == SOURCE.read_bytes()


@pytest.mark.parametrize('value', ["'panther.js'", '42', "'/a b.js'"])
def test_a_wrong_value_stops_start_up_naming_the_key(tmp_path, value):
    _app(tmp_path, f'WS_CLIENT_PATH = {value}')
    result = subprocess.run([sys.executable, '-c', 'import main'], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={'PYTHONPATH': str(Path(__file__).parents[1]), 'PATH': '/usr/bin:/bin'})
    assert result.returncode != 0
    assert 'WS_CLIENT_PATH' in result.stderr


def test_the_script_ships_in_the_wheel_data():
    import tomllib

    data = tomllib.loads((Path(__file__).parents[1] / 'pyproject.toml').read_text())
    assert 'static/*.js' in data['tool']['setuptools']['package-data']['panther']
