"""What start-up tells a newcomer: the banner's auth and route count, misspelled hooks.

In-process (``app.banner()``, caplog) and under a real ``panther run``, reading its log.
"""

from __future__ import annotations

import logging
import textwrap
import time

import pytest

from panther import Panther
from panther.app import API, GenericAPI
from panther.authentications import JWTAuthentication, QueryParamJWTAuthentication
from panther.configs import config
from panther.hook_names import likely_hook, misspelled_hooks, warn_misspelled_hooks
from panther.websocket import GenericWebsocket
from tests.servers import serve

SECRET_KEY = 'startup-messages-test-key-0123456789abcdef'


@pytest.fixture(autouse=True)
def _fresh_config():
    yield
    config.refresh()


class Inbox(GenericWebsocket):
    auth = QueryParamJWTAuthentication


class Outbox(GenericWebsocket):
    auth = QueryParamJWTAuthentication


class Lobby(GenericWebsocket):
    pass


class Page(GenericAPI):
    async def get(self):
        return 'hi'


@API(auth=JWTAuthentication)
async def me():
    return {}


def _app(urls, **settings):
    module = type(__import__('sys'))('startup_messages_configs')
    module.SECRET_KEY = SECRET_KEY
    for key, value in settings.items():
        setattr(module, key, value)
    return Panther(__name__, configs=module, urls=urls)


def _auth_line(app: Panther) -> str:
    return app.banner().splitlines()[1]


# --- the banner's auth line ----------------------------------------------------------------------------------------

def test_banner_names_the_auth_each_route_uses():
    app = _app({'ws/in/': Inbox, 'ws/out/': Outbox, 'ws/lobby/': Lobby, '': Page, 'me/': me})
    line = _auth_line(app)
    assert line == ('  auth: http none (1 route), JWTAuthentication (1 route); '
                    'websocket QueryParamJWTAuthentication (2 routes), none (1 route)')


def test_banner_names_the_configured_defaults():
    app = _app({'ws/lobby/': Lobby, 'ws/in/': Inbox, '': Page},
               WS_AUTHENTICATION='panther.authentications.QueryParamJWTAuthentication',
               AUTHENTICATION='panther.authentications.JWTAuthentication')
    assert _auth_line(app) == (
        '  auth: http JWTAuthentication from AUTHENTICATION (1 route); '
        'websocket QueryParamJWTAuthentication from WS_AUTHENTICATION (1 route), QueryParamJWTAuthentication (1 route)'
    )


def test_banner_without_websocket_routes_and_without_auth():
    app = _app({'': Page})
    assert _auth_line(app) == '  auth: http none (1 route); websocket no routes'


@pytest.mark.parametrize(('urls', 'expected'), [
    ({'': Page}, '1 route, 0 WebSocket'),
    ({'': Page, 'ws/': Lobby}, '2 routes, 1 WebSocket'),
])
def test_banner_route_count_is_pluralised(urls, expected):
    first = _app(urls).banner().splitlines()[0]
    assert f': {expected};' in first


# --- misspelled hooks ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('name', 'hook'), [
    ('recieve', 'receive'), ('recive', 'receive'), ('Receive', 'receive'), ('conect', 'connect'),
    ('connnect', 'connect'), ('disconect', 'disconnect'), ('disconnet', 'disconnect'), ('receiv', 'receive'),
    ('recieved', 'receive'), ('DISCONNECT', 'disconnect'),
])
def test_near_misses_are_recognised(name, hook):
    assert likely_hook(name, ('connect', 'receive', 'disconnect')) == hook


@pytest.mark.parametrize('name', ['recv', 'reconnect', 'connection', 'receive_json', 'on_connect', 'broadcast',
                                  'connect', 'disconnect', '_recieve', 'disconnected', 'receiver'])
def test_other_names_are_not_typos(name):
    assert likely_hook(name, ('connect', 'receive', 'disconnect')) is None


def test_a_misspelled_websocket_hook_is_one_warning_naming_class_and_hook(caplog):
    class ChatSocket(GenericWebsocket):
        async def connect(self):
            await self.accept()

        async def recieve(self, data):
            await self.send(data)

    with caplog.at_level(logging.WARNING, logger='panther'):
        _app({'ws/chat/': ChatSocket, 'ws/chat2/': ChatSocket})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and 'recieve' in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert 'ChatSocket.recieve()' in message and 'receive()' in message


def test_every_misspelled_hook_of_a_class_is_named():
    class Sloppy(GenericWebsocket):
        async def conect(self):
            await self.accept()

        async def disconect(self, code):
            pass

    assert sorted(misspelled_hooks(Sloppy)) == [('conect', 'connect'), ('disconect', 'disconnect')]


def test_no_warning_when_the_hook_itself_is_defined(caplog):
    class Both(GenericWebsocket):
        async def receive(self, data):
            pass

        async def recieve(self, data):  # a helper with an unlucky name, next to the real hook
            pass

    class Child(Both):
        async def recieved(self):
            pass

    assert misspelled_hooks(Both) == [] and misspelled_hooks(Child) == []
    with caplog.at_level(logging.WARNING, logger='panther'):
        _app({'ws/': Both, 'ws/child/': Child})
    assert 'misspelling' not in caplog.text


def test_inherited_misspelling_is_reported_for_the_routed_class():
    class Base(GenericWebsocket):
        async def recieve(self, data):
            pass

    class Routed(Base):
        pass

    name = Routed.__qualname__
    assert warn_misspelled_hooks([Routed]) == [
        f'{name}.recieve() looks like a misspelling of the receive() hook, which {name} does not define: '
        'panther never calls recieve(); rename it to receive()'
    ]


def test_api_methods_too():
    class Books(GenericAPI):
        async def gett(self):
            return []

        async def delet(self):
            return None

        async def post(self):
            return None

        def posts(self):  # a helper: contains "post", not a typo of it
            return []

        def target(self):  # close to nothing
            return None

    assert sorted(misspelled_hooks(Books)) == [('delet', 'delete'), ('gett', 'get')]


# --- under a real ``panther run`` ----------------------------------------------------------------------------------

APP = '''
from panther import Panther
from panther.app import GenericAPI
from panther.authentications import QueryParamJWTAuthentication
from panther.websocket import GenericWebsocket

SECRET_KEY = 'startup-messages-test-key-0123456789abcdef'


class Inbox(GenericWebsocket):
    auth = QueryParamJWTAuthentication


class Outbox(GenericWebsocket):
    auth = QueryParamJWTAuthentication


class Echo(GenericWebsocket):
    async def connect(self):
        await self.accept()

    async def recieve(self, data):
        await self.send(data)


class Page(GenericAPI):
    async def get(self):
        return 'hi'


URLS = {'ws/in/': Inbox, 'ws/out/': Outbox, 'ws/echo/': Echo, '': Page}
app = Panther(__name__, configs=__name__)
'''


def _log_when(server, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log()
        if needle in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f'{needle!r} not in the log:\n{server.log()}')


def test_panther_run_logs_the_true_auth_and_the_misspelled_hook(tmp_path):
    (tmp_path / 'main.py').write_text(textwrap.dedent(APP))
    with serve('main:app', cwd=tmp_path) as server:
        log = _log_when(server, 'auth: http')
    assert '4 routes, 3 WebSocket; websocket backend: in-process' in log
    assert ('auth: http none (1 route); websocket QueryParamJWTAuthentication (2 routes), none (1 route)') in log
    warnings = [line for line in log.splitlines() if 'misspelling' in line]
    assert len(warnings) == 1, log
    assert warnings[0].startswith('WARNING:') and 'Echo.recieve()' in warnings[0] and 'receive()' in warnings[0]
