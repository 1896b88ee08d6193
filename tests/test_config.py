"""Configuration: UPPERCASE globals of a module, checked at start-up (SPEC 2.1, 2.7)."""

import subprocess
import sys
import textwrap
import types
from datetime import timedelta
from itertools import count

import pytest

from panther import Panther
from panther.configs import Config, config
from panther.exceptions import ConfigError
from tests.servers import ROOT


async def view():
    return {}


_names = count()


def make_module(**settings) -> str:
    """Register a throwaway configs module and return its dotted name."""
    name = f'_panther_test_configs_{next(_names)}'
    module = types.ModuleType(name)
    vars(module).update(settings)
    sys.modules[name] = module
    return name


@pytest.fixture(autouse=True)
def _clean_config():
    yield
    config.refresh()


URLS = {'a/': view}


@pytest.mark.parametrize(('key', 'value', 'problem'), [
    ('SECRET_KEY', '', 'non-empty string'),
    ('SECRET_KEY', 12, 'non-empty string'),
    ('AUTHENTICATION', 'no.such.module.Auth', 'cannot import'),
    ('AUTHENTICATION', 'tests.test_config.Missing', "has no attribute 'Missing'"),
    ('AUTHENTICATION', 'tests.test_config.URLS', 'not callable'),
    ('WS_AUTHENTICATION', 5, 'not callable'),
    ('USER_MODEL', 'nowhere.User', 'cannot import'),
    ('DATABASE', 'sqlite://x', 'expected a dict'),
    ('REDIS', ['localhost'], 'expected a dict'),
    ('HTTP_MAX_BODY_SIZE', -1, 'positive integer'),
    ('WS_ALLOWED_ORIGINS', 'https://a.example', 'list of origins'),
    ('WS_ALLOWED_ORIGINS', ['https://a.example', 3], 'must be a string'),
    ('WS_MAX_MESSAGE_SIZE', 0, 'positive integer'),
    ('WS_MAX_MESSAGE_SIZE', 1.5, 'positive integer'),
    ('WS_MAX_MESSAGE_SIZE', True, 'positive integer'),
    ('WS_RATE_LIMIT', 'fast', 'positive number or None'),
    ('WS_SEND_QUEUE_SIZE', None, 'positive integer'),
    ('WS_IDLE_TIMEOUT', -5, 'positive number'),
    ('WS_PING_INTERVAL', '20', 'positive number'),
    ('WS_PING_TIMEOUT', 0, 'positive number'),
    ('WS_MAX_CONNECTIONS', 2.0, 'positive integer'),
    ('WS_SHUTDOWN_TIMEOUT', None, 'positive number'),
    ('BUS_BUFFER_SIZE', 0, 'positive integer'),
    ('AUTH_CACHE_TTL', 0, 'positive number or None'),
    ('AUTH_CACHE_TTL', '5', 'positive number or None'),
    ('AUTH_CACHE_SIZE', None, 'positive integer'),
    ('AUTH_CACHE_SIZE', 10.5, 'positive integer'),
    ('JWT_CONFIG', 'secret', 'expected a dict'),
    ('JWT_CONFIG', {'key': 'k', 'lifetime': 3}, "unknown keys ['lifetime']"),
    ('JWT_CONFIG', {'key': ''}, "'key' must be a non-empty string"),
    ('JWT_CONFIG', {'key': 5}, "'key' must be a non-empty string"),
    ('JWT_CONFIG', {'key': 'k', 'algorithm': 'none'}, 'signing algorithm'),
    ('JWT_CONFIG', {'key': 'k', 'life_time': -1}, 'must be positive'),
    ('URLS', 'tests.test_config.nothing_here', "has no attribute 'nothing_here'"),
    ('URLS', 'tests.test_config.view', 'expected a dict'),
    ('URLS', ['a/'], 'expected a dict'),
])
def test_each_wrong_value_names_its_key(key, value, problem):
    settings = {'URLS': URLS, key: value}
    with pytest.raises(ConfigError) as info:
        Panther('x', configs=make_module(**settings))
    assert info.value.key.split('.')[0] == key
    assert problem in str(info.value)
    assert str(info.value).startswith(key)
    assert '\n' not in str(info.value)


def test_missing_urls():
    with pytest.raises(ConfigError, match='URLS: no urls= given'):
        Panther('x', configs=make_module(SECRET_KEY='s'))


def test_missing_configs_module():
    with pytest.raises(ConfigError, match="configs: cannot import configs module 'no_such_configs'"):
        Panther('x', configs='no_such_configs')


def test_urls_as_dict_as_dotted_path_and_as_argument():
    app = Panther('x', configs=make_module(URLS=URLS))
    assert [r.pattern for r in app.router.routes] == ['a']

    app = Panther('x', configs=make_module(URLS='tests.test_config.URLS'))
    assert [r.pattern for r in app.router.routes] == ['a']
    assert config.URLS is URLS

    # urls= wins over the module's URLS.
    app = Panther('x', configs=make_module(URLS=URLS), urls={'b/': view, 'c/': view})
    assert [r.pattern for r in app.router.routes] == ['b', 'c']

    app = Panther('x', configs=make_module(), urls='tests.test_config.URLS')
    assert [r.pattern for r in app.router.routes] == ['a']


def test_values_and_defaults_are_loaded():
    name = make_module(URLS=URLS, SECRET_KEY='s3cret', WS_RATE_LIMIT=2.5, WS_ALLOWED_ORIGINS=['https://a.example/'],
                       JWT_CONFIG={'life_time': timedelta(hours=1)}, MY_SETTING=[1, 2], lowercase='ignored',
                       AUTHENTICATION='tests.test_config.view')
    app = Panther('x', configs=name)
    assert config.SECRET_KEY == 's3cret' and config.WS_RATE_LIMIT == 2.5
    assert config.WS_ALLOWED_ORIGINS == ['https://a.example']
    assert config.AUTHENTICATION is view
    assert config.JWT_CONFIG.key == 's3cret' and config.JWT_CONFIG.algorithm == 'HS256'
    assert config.JWT_CONFIG.life_time == timedelta(hours=1)
    assert config.JWT_CONFIG.refresh_life_time == timedelta(hours=2)
    assert config.MY_SETTING == [1, 2]
    assert not hasattr(config, 'lowercase')
    assert config.WS_MAX_MESSAGE_SIZE == Config.WS_MAX_MESSAGE_SIZE
    assert (config.AUTH_CACHE_TTL, config.AUTH_CACHE_SIZE) == (5.0, 10_000)
    assert app.config.SECRET_KEY == 's3cret'
    Panther('x', configs=make_module(URLS=URLS, AUTH_CACHE_TTL=None, AUTH_CACHE_SIZE=100))
    assert (config.AUTH_CACHE_TTL, config.AUTH_CACHE_SIZE) == (None, 100)


def test_refresh_resets_every_key():
    Panther('x', configs=make_module(URLS=URLS, SECRET_KEY='k', WS_SEND_QUEUE_SIZE=3, EXTRA=1))
    config.refresh()
    fresh = Config()
    assert config.URLS == {} and config.SECRET_KEY is None and config.JWT_CONFIG is None
    assert config.WS_SEND_QUEUE_SIZE == fresh.WS_SEND_QUEUE_SIZE
    assert config.extra == {}
    with pytest.raises(AttributeError, match="config has no key 'EXTRA'"):
        _ = config.EXTRA


def test_two_apps_in_one_process_leak_nothing():
    first = Panther('first', configs=make_module(
        URLS={'one/': view}, SECRET_KEY='first-key', WS_RATE_LIMIT=5, WS_MAX_CONNECTIONS=10, ONLY_FIRST=True))
    second = Panther('second', configs=make_module(URLS={'two/': view, 'three/': view}))

    # The live config is the second app's, with the first app's keys back at their defaults.
    assert config.SECRET_KEY is None and config.WS_RATE_LIMIT is None and config.WS_MAX_CONNECTIONS is None
    assert config.JWT_CONFIG is None
    assert 'ONLY_FIRST' not in config.extra
    assert list(config.URLS) == ['two/', 'three/']
    assert second.limits.rate_limit is None and second.limits.max_connections is None

    # The first app keeps what it was built with.
    assert first.config.SECRET_KEY == 'first-key' and first.config.WS_RATE_LIMIT == 5
    assert first.limits.rate_limit == 5 and first.limits.max_connections == 10
    assert [r.pattern for r in first.router.routes] == ['one']
    assert first.config is not second.config


def test_a_failed_build_leaves_the_previous_config_alone():
    Panther('ok', configs=make_module(URLS=URLS, SECRET_KEY='kept'))
    with pytest.raises(ConfigError):
        Panther('bad', configs=make_module(URLS=URLS, SECRET_KEY='other', WS_RATE_LIMIT='x'))
    assert config.SECRET_KEY == 'kept'


def test_a_likely_typo_is_warned_about(caplog):
    Panther('x', configs=make_module(URLS=URLS, WS_MAX_MESAGE_SIZE=10))
    assert 'WS_MAX_MESAGE_SIZE is not a panther setting; did you mean WS_MAX_MESSAGE_SIZE?' in caplog.text


def _run_cli(tmp_path, source: str) -> subprocess.CompletedProcess:
    (tmp_path / 'bad.py').write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, '-m', 'panther.cli', 'run', 'bad:app'], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30, env={'PYTHONPATH': str(ROOT), 'PATH': ''})


def test_cli_prints_one_line_and_fails_for_a_bad_config(tmp_path):
    result = _run_cli(tmp_path, '''
        from panther import Panther

        async def view():
            return {}

        URLS = {'': view}
        WS_MAX_MESSAGE_SIZE = 'big'
        app = Panther(__name__)
    ''')
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines == ["Error: configuration error: WS_MAX_MESSAGE_SIZE: expected a positive integer, got 'big'"]
    assert result.stdout == ''


def test_cli_prints_one_line_for_a_bad_route(tmp_path):
    result = _run_cli(tmp_path, '''
        from panther import Panther
        app = Panther(__name__, configs=__name__, urls={'a b/': print})
    ''')
    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1
    assert "URLS: route 'a b' has an invalid segment" in result.stderr


def test_cli_prints_one_line_for_a_missing_module(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'panther.cli', 'run', 'nothere:app'], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, env={'PYTHONPATH': str(ROOT), 'PATH': ''})
    assert result.returncode != 0
    assert result.stderr.splitlines() == ["Error: cannot import 'nothere': No module named 'nothere'"]
