import asyncio
import os
import sys
from pathlib import Path

import pytest

from panther.configs import config
from panther.db import connection
from panther.db.connection import (
    DatabaseSettings,
    close_database,
    close_database_sync,
    get_database,
    open_database,
    parse_database_config,
)
from panther.exceptions import ConfigError


@pytest.fixture(autouse=True)
def _restore_database_config():
    previous = config.DATABASE
    yield
    close_database_sync()
    config.DATABASE = previous


def test_defaults():
    assert parse_database_config({}) == DatabaseSettings(path='panther.sqlite3', timeout=5.0)
    assert parse_database_config(None) == DatabaseSettings()


def test_accepted_shapes(tmp_path: Path):
    assert parse_database_config({'path': ':memory:'}).path == ':memory:'
    assert parse_database_config({'path': tmp_path / 'a.db'}).path == str(tmp_path / 'a.db')
    settings = parse_database_config({'engine': 'SQLite', 'path': 'x.db', 'timeout': 1})
    assert settings == DatabaseSettings(path='x.db', timeout=1.0)


@pytest.mark.parametrize(
    ('value', 'message'),
    [
        ('panther.sqlite3', 'expected a dict'),
        ({'path': ''}, 'path must be'),
        ({'path': 3}, 'path must be'),
        ({'timeout': -1}, 'timeout must be'),
        ({'timeout': True}, 'timeout must be'),
        ({'engine': 'postgres'}, "engine must be 'sqlite'"),
        ({'name': 'db'}, "unknown keys ['name']"),
    ],
)
def test_bad_settings_are_config_errors(value, message):
    with pytest.raises(ConfigError) as info:
        parse_database_config(value)
    assert info.value.key == 'DATABASE'
    assert message in str(info.value)
    assert '\n' not in str(info.value)


def test_engine_is_lazy_and_reused():
    config.DATABASE = {'path': ':memory:'}
    close_database_sync()
    assert connection._engine is None
    first = get_database()
    assert get_database() is first
    assert first.path == ':memory:'


async def test_changed_config_gives_a_new_engine(tmp_path: Path):
    config.DATABASE = {'path': str(tmp_path / 'one.sqlite3')}
    first = get_database()
    await first.ping()
    config.DATABASE = {'path': str(tmp_path / 'two.sqlite3')}
    second = get_database()
    assert second is not first
    assert second.path.endswith('two.sqlite3')
    await second.ping()
    assert first.closed
    # Mutating the same dict in place is noticed too.
    config.DATABASE['path'] = ':memory:'
    assert get_database().path == ':memory:'


async def test_close_database_resets():
    config.DATABASE = {'path': ':memory:'}
    first = await open_database()
    await close_database()
    assert first.closed
    assert connection._engine is None
    second = get_database()
    assert second is not first and not second.closed
    await close_database()
    await close_database()  # nothing open: no error


async def test_open_database_fails_early(tmp_path: Path):
    config.DATABASE = {'path': str(tmp_path / 'missing-dir' / 'x.sqlite3')}
    with pytest.raises(ConfigError, match=r'^DATABASE: cannot open SQLite database'):
        await open_database()
    config.DATABASE = {'path': 12}
    with pytest.raises(ConfigError, match=r'^DATABASE: path must be'):
        get_database()


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs fork')
async def test_forked_child_opens_its_own_engine(tmp_path: Path):
    # gunicorn --preload: the parent used the database before forking its workers.
    config.DATABASE = {'path': str(tmp_path / 'shared.sqlite3')}
    parent = await open_database()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread does not exist here
        code = 1
        try:
            async def child() -> bool:
                engine = get_database()
                await asyncio.wait_for(engine.ping(), 5)
                return engine is not parent
            code = 0 if asyncio.run(child()) else 2
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = await asyncio.to_thread(os.waitpid, pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert get_database() is parent
