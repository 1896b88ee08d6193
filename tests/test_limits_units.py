"""The pieces behind the limits, in-process: bucket, sweeper, masking, shutdown, config."""

import asyncio
import logging
import types

import pytest

from panther import Panther
from panther.cli import uvicorn_args
from panther.exceptions import ConfigError
from panther.inbound import TokenBucket
from panther.log_masking import MaskSecrets, mask, uvicorn_log_config
from panther.origins import origin_allowed
from panther.test import WebsocketClient
from panther.websocket import GenericWebsocket

HOOKS: list[str] = []


class Recorder(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        await self.send(data)

    async def disconnect(self, code):
        HOOKS.append(f'{self.connection_id} {code}')


def _app(**settings) -> Panther:
    module = types.ModuleType('limits_unit_configs')
    vars(module).update({'URLS': {'ws': Recorder}, **settings})
    return Panther('limits_unit_configs', configs=module)


def test_token_bucket_serves_the_burst_then_the_rate():
    bucket = TokenBucket(rate=2, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100.25) is False  # half a token
    assert bucket.take(100.5) is True  # one token after 0.5 s at 2/s
    assert [bucket.take(200.0) for _ in range(4)] == [True, True, True, False]  # saved up: at most the burst


@pytest.mark.parametrize(('settings', 'burst'), [
    ({'WS_RATE_LIMIT': 0.5}, 1), ({'WS_RATE_LIMIT': 10}, 10), ({'WS_RATE_LIMIT': 10, 'WS_RATE_LIMIT_BURST': 3}, 3),
])
def test_burst_defaults_to_the_rate_and_at_least_one(settings, burst):
    assert _app(**settings).limits.rate_burst == burst


@pytest.mark.parametrize(('key', 'value'), [
    ('WS_RATE_LIMIT_BURST', 0), ('WS_RATE_LIMIT_BURST', 2.5), ('WS_CLOSE_TIMEOUT', None), ('WS_CLOSE_TIMEOUT', 'x'),
])
def test_new_keys_are_validated(key, value):
    with pytest.raises(ConfigError, match=key):
        _app(**{key: value})


def test_limits_that_cost_nothing_when_off():
    limits = _app().limits
    assert not limits.watches_inbound
    assert _app(WS_IDLE_TIMEOUT=3).limits.watches_inbound
    assert _app(WS_RATE_LIMIT=3).limits.watches_inbound


def test_origin_check():
    def scope(origin):
        return {'headers': [(b'origin', origin.encode())] if origin else []}

    allowed = frozenset({'https://app.example'})
    assert origin_allowed(scope('https://APP.example/'), allowed)
    assert not origin_allowed(scope('https://app.example:8443'), allowed)
    assert not origin_allowed(scope('http://app.example'), allowed)
    assert origin_allowed(scope(None), allowed)
    assert origin_allowed(scope('https://x.example'), None)
    assert origin_allowed(scope('https://x.example'), frozenset({'*'}))


@pytest.mark.parametrize(('text', 'masked'), [
    ('/ws?authorization=secret', '/ws?authorization=***'),
    ('/ws?room=1&Authorization=Bearer%20abc.def&x=2', '/ws?room=1&Authorization=***&x=2'),
    ('/api?access_token=a&refresh_token=b&token=c', '/api?access_token=***&refresh_token=***&token=***'),
    ('/ws?mytoken=kept&tokens=kept', '/ws?mytoken=kept&tokens=kept'),
    ('no query here', 'no query here'),
])
def test_mask(text, masked):
    assert mask(text) == masked


def test_mask_filter_keeps_uvicorn_access_records_formattable():
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord('uvicorn.access', logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ('127.0.0.1:5000', 'GET', '/x?token=topsecret', '1.1', 200), None)
    assert MaskSecrets().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert 'topsecret' not in line and 'token=***' in line


def test_generated_log_config_filters_every_handler():
    config = uvicorn_log_config(use_colors=False)
    assert config['filters']['mask_secrets'] == {'()': 'panther.log_masking.MaskSecrets'}
    assert all('mask_secrets' in handler['filters'] for handler in config['handlers'].values())


def test_panther_run_bounds_uvicorn_shutdown_unless_told_otherwise():
    app = _app(WS_SHUTDOWN_TIMEOUT=2.5)
    assert uvicorn_args('m:app', app, [])[-2:] == ['--timeout-graceful-shutdown', '3']
    assert uvicorn_args('m:app', app, ['--timeout-graceful-shutdown=9']).count('--timeout-graceful-shutdown') == 0


async def test_runtime_stop_closes_every_connection_with_1001_and_runs_the_hooks():
    HOOKS.clear()
    app = _app(WS_SHUTDOWN_TIMEOUT=2)
    client = WebsocketClient(app)
    sessions = [client.session('/ws') for _ in range(3)]
    for session in sessions:
        assert (await session.start())['type'] == 'websocket.accept'
    await app.runtime.stop()
    for session in sessions:
        close = await session.receive()
        assert (close['type'], close['code'], close['reason']) == ('websocket.close', 1001, 'server shutting down')
        await session.wait_closed()
    assert sorted(line.split()[1] for line in HOOKS) == ['1001'] * 3
    assert len(app.runtime.registry) == 0 and app.runtime.bus is None


async def test_a_connection_task_cancelled_by_the_server_still_runs_its_disconnect_hook():
    HOOKS.clear()
    app = _app()
    session = WebsocketClient(app).session('/ws')
    await session.start()
    session._task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await session._task
    assert [line.split()[1] for line in HOOKS] == ['1001']
    assert len(app.runtime.registry) == 0 and app.runtime.admitted == 0
    await app.runtime.stop()


async def test_idle_sweeper_closes_only_the_silent():
    HOOKS.clear()
    app = _app(WS_IDLE_TIMEOUT=0.2)
    client = WebsocketClient(app)
    silent, chatty = client.session('/ws'), client.session('/ws')
    await silent.start()
    await chatty.start()
    for i in range(6):
        await chatty.send(str(i))
        assert await chatty.receive_text() == str(i)
        await asyncio.sleep(0.06)
    close = await silent.receive(timeout=1)
    assert (close['code'], close['reason']) == (1001, 'idle timeout')
    assert chatty.closed_code is None
    assert len(app.runtime.idle.watched) == 1  # only the chatty one is still watched
    await chatty.close()
    await app.runtime.stop()
    assert app.runtime.idle is None
