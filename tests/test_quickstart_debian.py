"""The README's two Quickstart commands on a machine whose python3 is Debian's own.

Debian's /usr/bin/python3 refuses ``pip install`` (externally-managed-environment) and a
stock install may lack the venv module, so both commands go through scripts/venv.sh. Here
they run in a copy of the repository with PATH=/usr/bin:/bin, so ``python3`` is Debian's
3.11 and nothing of this interpreter (pyenv, its site-packages, PYTHONPATH) leaks in.
Installing from the package index makes these the slowest tests of the suite: about 25 s
for the first command and 25 s more for the second (measured on the 2-vCPU CI machine).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import websockets

from tests.servers import ROOT, free_port, wait_for_port

DEBIAN_PYTHON = Path('/usr/bin/python3')
IGNORED = shutil.ignore_patterns('.git', '.venv', '__pycache__', '*.sqlite3', 'benchmarks', 'compliance', 'docs',
                                 '.pytest_cache', '.ruff_cache', '*.egg-info', 'build')


def quickstart_commands() -> list[str]:
    """The fenced bash blocks of the README's Quickstart section, in order."""
    text = (ROOT / 'README.md').read_text()
    section = text.split('## Quickstart', 1)[1].split('\n## ', 1)[0]
    return [block.strip() for block in re.findall(r'```bash\n(.*?)```', section, re.S)]


def debian_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYENV_VERSION')}
    env['PATH'] = '/usr/bin:/bin'
    env.update(extra)
    return env


@pytest.fixture(scope='module')
def checkout(tmp_path_factory) -> Path:
    """A copy of the repository (what a clone holds for these commands), without any .venv."""
    assert DEBIAN_PYTHON.exists(), 'this test needs Debian\'s /usr/bin/python3'
    version = subprocess.run([str(DEBIAN_PYTHON), '-c', 'import sys; print(sys.version_info >= (3, 11))'],
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip() == 'True'
    copy = tmp_path_factory.mktemp('clone') / 'panther'
    shutil.copytree(ROOT, copy, ignore=IGNORED)
    return copy


def test_readme_quickstart_is_two_commands_that_leave_the_shell_at_the_root():
    first, second = quickstart_commands()
    assert first == 'bash scripts/demo.sh'
    assert second == 'bash scripts/test.sh'
    for command in (first, second):
        # A top-level cd would leave the user's shell elsewhere for the next command.
        assert not re.search(r'(^|&&|;|\|\|)\s*cd\s', command), command


def test_first_command_installs_and_serves_the_demo_with_debian_python(checkout):
    first = quickstart_commands()[0]
    port = free_port()
    log_path = checkout.parent / 'demo.log'
    started = time.monotonic()
    with open(log_path, 'wb') as log:
        process = subprocess.Popen(['bash', '-c', first], cwd=checkout, stdout=log, stderr=subprocess.STDOUT,
                                   env=debian_env(UVICORN_PORT=str(port)), start_new_session=True)
    try:
        wait_for_port(port, process, timeout=240, log=log_path)
        elapsed = time.monotonic() - started

        async def echo() -> str:
            async with websockets.connect(f'ws://127.0.0.1:{port}/ws') as ws:
                await ws.send('hello from debian')
                return await asyncio.wait_for(ws.recv(), 10)

        assert asyncio.run(echo()) == 'hello from debian'
    finally:
        with_group = process.pid
        try:
            os.killpg(with_group, signal.SIGINT)
            process.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(with_group, signal.SIGKILL)
            process.wait(5)
    log = log_path.read_text(errors='replace')
    assert f'created {checkout}/.venv (Python 3.11' in log, log
    cfg = (checkout / '.venv' / 'pyvenv.cfg').read_text()
    assert 'home = /usr/bin' in cfg, cfg  # built from Debian's python3, not this interpreter
    where = subprocess.run([str(checkout / '.venv' / 'bin' / 'python'), '-c',
                            'import panther, gunicorn, uvicorn_worker; print(panther.__file__)'],
                           cwd='/', capture_output=True, text=True, env=debian_env(), check=True)
    assert where.stdout.strip() == str(checkout / 'panther' / '__init__.py')  # editable: the clone's code
    print(f'first Quickstart command: serving after {elapsed:.1f}s')


def test_second_command_runs_ruff_and_pytest_from_the_venv_with_debian_python(checkout):
    # Runs after the first command's test: the .venv is reused and gains the test extras. Only one
    # small test file is passed on (test.sh hands its arguments to pytest); the whole suite is what
    # CI runs through this same script.
    second = quickstart_commands()[1]
    reused = (checkout / '.venv').exists()
    started = time.monotonic()
    result = subprocess.run(['bash', '-c', f'{second} tests/test_status.py'], cwd=checkout,
                            capture_output=True, text=True, env=debian_env(), timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert 'All checks passed!' in output  # ruff
    assert re.search(r'\d+ passed', output), output
    if reused:
        assert 'created' not in output  # the venv of the first command was reused
    assert 'home = /usr/bin' in (checkout / '.venv' / 'pyvenv.cfg').read_text()
    print(f'second Quickstart command (venv reused, test extras added): {time.monotonic() - started:.1f}s')


FAKE_PYTHON = '''#!/bin/bash
# Debian's python3 without python3-venv: "-m venv" fails until apt-get has "installed" it.
if [ "$1" = "-m" ] && [ "$2" = "venv" ] && [ ! -e "{marker}" ]; then
  echo "The virtual environment was not created successfully because ensurepip is not available." >&2
  mkdir -p "$3/bin"   # like the real failure, it leaves a half-made directory behind
  exit 1
fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  exec /usr/bin/python3 -m venv --without-pip "$3"   # pip's bootstrap is the real test's business (slow)
fi
exec /usr/bin/python3 "$@"
'''
FAKE_APT = '''#!/bin/bash
echo "$@" >> "{calls}"
if [ "$1" = "install" ]; then touch "{marker}"; fi
'''


def test_a_missing_venv_module_is_installed_with_apt(tmp_path):
    fake = tmp_path / 'bin'
    fake.mkdir()
    marker, calls = tmp_path / 'venv-installed', tmp_path / 'apt-calls'
    (fake / 'python3').write_text(FAKE_PYTHON.format(marker=marker))
    (fake / 'apt-get').write_text(FAKE_APT.format(calls=calls, marker=marker))
    for script in fake.iterdir():
        script.chmod(0o755)
    venv = tmp_path / 'env'
    env = debian_env(PATH=f'{fake}:/usr/bin:/bin')
    result = subprocess.run(['bash', '-c', f'source {ROOT}/scripts/venv.sh && make_venv "$1"', '_', str(venv)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    apt = calls.read_text().splitlines()
    assert apt[0] == 'update -qq' and apt[1] == 'install -y -qq python3-venv', apt
    assert 'home = /usr/bin' in (venv / 'pyvenv.cfg').read_text()
    check = subprocess.run([str(venv / 'bin' / 'python'), '-c', 'import sys; print(sys.prefix)'],
                           capture_output=True, text=True)
    assert check.stdout.strip() == str(venv)
    assert 'created' in result.stderr and 'installing python3-venv with apt-get' in result.stderr


def test_without_apt_or_root_it_says_what_to_install(tmp_path):
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'python3').write_text(FAKE_PYTHON.format(marker=tmp_path / 'never'))
    (fake / 'python3').chmod(0o755)
    # A PATH with the broken python3 and the basic tools, but no apt-get.
    tools = tmp_path / 'tools'
    tools.mkdir()
    for tool in ('bash', 'rm', 'mkdir', 'id', 'cat', 'dirname'):
        (tools / tool).symlink_to(shutil.which(tool))
    env = debian_env(PATH=f'{fake}:{tools}')
    result = subprocess.run([shutil.which('bash'), '-c', f'source {ROOT}/scripts/venv.sh && make_venv "$1"', '_',
                             str(tmp_path / 'env')], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert 'install python3-venv with your system\'s package manager' in result.stderr, result.stderr
    assert not (tmp_path / 'env').exists()
