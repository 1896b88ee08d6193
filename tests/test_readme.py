"""The README's example and the Quickstart's tests for it work as pasted.

Every fenced ``python`` block whose first line names a file (``# main.py``, ``# test_main.py``)
in the README and in docs/quickstart.md is written to that file in an empty folder, and the
``test_*.py`` ones run under pytest there, outside this repository's pytest configuration:
pytest-asyncio in its default strict mode. The README's ``main.py`` is the Quickstart's, so the
tests there are its tests. The ``panther token`` steps of docs/auth.md are followed against the
notifications example.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys

import httpx
import orjson
import websockets

from tests.servers import EXAMPLES, ROOT, _env, serve

README = (ROOT / 'README.md').read_text()
QUICKSTART = (ROOT / 'docs' / 'quickstart.md').read_text()
AUTH_PAGE = (ROOT / 'docs' / 'auth.md').read_text()


def named_blocks(text: str) -> dict[str, str]:
    blocks = re.findall(r'```python\n(# ([\w/]+\.py)\n.*?)```', text, re.S)
    return {name: code for code, name in blocks}


def named_python_blocks() -> dict[str, str]:
    """The README's files, with the Quickstart's tests of them."""
    return {**named_blocks(README), 'test_main.py': named_blocks(QUICKSTART)['test_main.py']}


def test_the_readme_has_an_app_and_the_quickstart_its_tests():
    assert 'main.py' in named_blocks(README) and 'test_main.py' in named_blocks(QUICKSTART)
    assert named_blocks(README)['main.py'] == named_blocks(QUICKSTART)['main.py']
    assert 'docs/quickstart.md' in README


def test_readme_tests_pass_as_pasted_under_strict_pytest_asyncio(tmp_path):
    for name, code in named_python_blocks().items():
        (tmp_path / name).write_text(code)
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')  # no asyncio_mode: pytest-asyncio's default, strict
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-W', 'error::RuntimeWarning',
         'test_main.py'],
        cwd=tmp_path, env=_env(None), capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    tests = re.findall(r'^(?:async )?def (test_\w+)', named_python_blocks()['test_main.py'], re.M)
    assert len(tests) >= 3 and f'{len(tests)} passed' in output, output


def test_the_async_readme_test_would_not_run_unmarked_in_strict_mode(tmp_path):
    # Why the README shows @pytest.mark.asyncio: without it strict mode does not run the test.
    code = named_python_blocks()['test_main.py'].replace('@pytest.mark.asyncio', '')
    (tmp_path / 'main.py').write_text(named_python_blocks()['main.py'])
    (tmp_path / 'test_main.py').write_text(code)
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')
    result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'test_main.py'],
                            cwd=tmp_path, env=_env(None), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and 'async def functions are not natively supported' in result.stdout


def test_what_the_docs_say_to_do_with_panther_token(tmp_path):
    app_dir = tmp_path / 'notifications'
    shutil.copytree(EXAMPLES / 'notifications', app_dir, ignore=shutil.ignore_patterns('*.sqlite3', '__pycache__'))
    env = {'NOTIFICATIONS_DB': str(tmp_path / 'users.sqlite3')}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, '-m', 'panther.cli', *args], cwd=app_dir, env=_env(env),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert 'with id 1' in cli('createuser', 'main:app', '--username', 'ada', '--password', 'pw-ada')
    token = cli('token', 'main:app', '1')
    assert 'panther token main:app 1' in AUTH_PAGE and '?authorization=<token>' in AUTH_PAGE

    with serve('main:app', cwd=app_dir, env=env) as server:
        async def scenario() -> None:
            url = f'{server.ws}/ws/notifications/?authorization={token}'
            async with websockets.connect(url) as ws:
                hello = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello['type'] == 'connected' and hello['user_id'] == 1 and hello['username'] == 'ada'
                async with httpx.AsyncClient(base_url=server.http) as api:
                    answer = await api.post('/api/notify/1/', json={'message': 'hello'},
                                            headers={'Authorization': f'Bearer {token}'})
                assert answer.status_code == 200 and answer.json() == {'delivered': 1}
                note = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                assert note == {'type': 'notification', 'from': 'ada', 'message': 'hello'}

        asyncio.run(scenario())
