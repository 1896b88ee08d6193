"""The JWT classes in-process: header, query param and cookie, over HTTP and WebSocket."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from panther import Panther
from panther.app import GenericAPI
from panther.authentications import (
    BaseAuthentication,
    CookieJWTAuthentication,
    JWTAuthentication,
    QueryParamJWTAuthentication,
)
from panther.db.models import BaseUser
from panther.exceptions import AuthenticationAPIError, ConfigError
from panther.main import _setup_logging
from panther.test import APIClient, WebsocketClient
from panther.websocket import GenericWebsocket
from tests import auth_app
from tests.auth_support import Records, claims, configs_module, credentials, rejection_cases, sign

KINDS = ('header', 'query', 'cookie')
CLASS_NAMES = {'header': 'JWTAuthentication', 'query': 'QueryParamJWTAuthentication',
               'cookie': 'CookieJWTAuthentication'}


@pytest.fixture
def logs():
    _setup_logging()
    logger = logging.getLogger('panther')
    handler = Records()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture
def app(tmp_path):
    return Panther('auth_tests', configs=configs_module(
        SECRET_KEY=auth_app.SECRET, DATABASE={'path': str(tmp_path / 'auth.sqlite3')}, URLS=auth_app.URLS))


@pytest.fixture
async def user(app):
    return await BaseUser.create_user('ali', 'a passphrase')


async def _http(app, kind, token):
    headers, query = credentials(kind, token) if token is not None else ({}, {})
    return await APIClient(app).request('GET', f'/api/{kind}/', headers=headers, query_params=query)


async def _ws(app, kind, token):
    headers, query = credentials(kind, token) if token is not None else ({}, {})
    return await WebsocketClient(app).aconnect(f'/ws/{kind}/', headers=headers, query_params=query)


def _rejected(transcript) -> bool:
    return [m['type'] for m in transcript] == ['websocket.close']


@pytest.mark.parametrize('kind', KINDS)
async def test_valid_token_loads_the_user_over_http_and_websocket(app, user, kind, logs):
    token = JWTAuthentication.encode_token(user.id)
    response = await _http(app, kind, token)
    assert response.status_code == 200
    assert response.data == {'user': 'ali', 'id': user.id}
    transcript = await _ws(app, kind, token)
    assert transcript[0]['type'] == 'websocket.accept'
    assert transcript[1]['text'] == f'{{"user":"ali","id":{user.id}}}'
    assert logs.errors() == []


@pytest.mark.parametrize('kind', KINDS)
async def test_no_credential_means_no_user(app, user, kind, logs):
    response = await _http(app, kind, None)
    assert response.status_code == 200 and response.data == {'user': None, 'id': None}
    transcript = await _ws(app, kind, None)
    assert transcript[0]['type'] == 'websocket.accept'
    assert transcript[1]['text'] == '{"user":null,"id":null}'
    assert logs.errors() == []


@pytest.mark.parametrize('kind', KINDS)
async def test_empty_credential_counts_as_absent(app, user, kind, logs):
    headers, query = credentials(kind, '')
    if kind == 'header':
        headers = {'Authorization': ''}
    response = await APIClient(app).request('GET', f'/api/{kind}/', headers=headers, query_params=query)
    assert response.data == {'user': None, 'id': None}
    assert logs.errors() == []


@pytest.mark.parametrize('case', list(rejection_cases(1)))
@pytest.mark.parametrize('kind', KINDS)
async def test_rejected_token_logs_one_line_and_refuses(app, user, kind, case, logs):
    make, reason = rejection_cases(user.id)[case]
    token = make()
    expected = f'{CLASS_NAMES[kind]} Error: "{reason}"'

    response = await _http(app, kind, token)
    assert response.status_code == 401
    assert response.data == {'detail': 'Authentication Error'}
    assert logs.errors() == [expected]

    logs.clear()
    transcript = await _ws(app, kind, token)
    assert _rejected(transcript), transcript
    assert logs.errors() == [expected]
    assert token not in logs.text()


async def test_header_with_another_scheme_is_refused(app, user, logs):
    response = await APIClient(app).request('GET', '/api/header/', headers={'Authorization': 'Basic YWxpOnB3'})
    assert response.status_code == 401
    assert logs.errors() == ['JWTAuthentication Error: "Authorization header must be "Bearer <token>""']


async def test_query_param_accepts_a_bearer_prefix(app, user):
    token = JWTAuthentication.encode_token(user.id)
    response = await APIClient(app).request('GET', '/api/query/', query_params={'authorization': f'Bearer {token}'})
    assert response.data['user'] == 'ali'


async def test_login_returns_a_pair_and_records_the_login(app, user):
    assert user.last_login is None
    tokens = await JWTAuthentication.login(user)
    assert set(tokens) == {'access_token', 'refresh_token'}
    access = jwt.decode(tokens['access_token'], auth_app.SECRET, algorithms=['HS256'])
    refresh = jwt.decode(tokens['refresh_token'], auth_app.SECRET, algorithms=['HS256'])
    assert access['user_id'] == refresh['user_id'] == user.id
    assert (access['token_type'], refresh['token_type']) == ('access', 'refresh')
    # SPEC defaults: one day, refresh twice as long.
    assert access['exp'] - access['iat'] == 24 * 3600
    assert refresh['exp'] - refresh['iat'] == 48 * 3600
    assert access['jti'] != refresh['jti']
    stored = await BaseUser.find_one(id=user.id)
    assert stored.last_login is not None
    assert datetime.now(UTC) - stored.last_login < timedelta(minutes=1)
    headers, _ = credentials('header', tokens['access_token'])
    response = await APIClient(app).request('GET', '/api/header/', headers=headers)
    assert response.data['user'] == 'ali'


async def test_refresh_gives_a_new_pair_and_refuses_access_tokens(app, user, logs):
    tokens = await JWTAuthentication.login(user)
    fresh = await JWTAuthentication.refresh(tokens['refresh_token'])
    assert set(fresh) == {'access_token', 'refresh_token'}
    assert fresh['access_token'] != tokens['access_token']
    assert (await QueryParamJWTAuthentication.decode_token(fresh['access_token']))['user_id'] == user.id
    with pytest.raises(AuthenticationAPIError):
        await JWTAuthentication.refresh(tokens['access_token'])
    assert logs.errors() == ['JWTAuthentication Error: "Expected a token of type \'refresh\', got \'access\'"']


async def test_logout_without_redis_is_a_clear_error(app, user):
    tokens = await JWTAuthentication.login(user)
    with pytest.raises(ConfigError) as caught:
        await JWTAuthentication.logout(tokens['access_token'])
    assert caught.value.key == 'REDIS'
    assert 'revoke' in str(caught.value)


async def test_configured_lifetimes_and_algorithm_are_used(tmp_path):
    Panther('auth_tests', configs=configs_module(
        JWT_CONFIG={'key': 'k' * 64, 'algorithm': 'HS512', 'life_time': 60, 'refresh_life_time': 600},
        DATABASE={'path': str(tmp_path / 'a.sqlite3')}, URLS=auth_app.URLS))
    token = JWTAuthentication.encode_token(7)
    assert jwt.get_unverified_header(token)['alg'] == 'HS512'
    payload = jwt.decode(token, 'k' * 64, algorithms=['HS512'])
    assert payload['exp'] - payload['iat'] == 60
    refresh = jwt.decode(JWTAuthentication.encode_token(7, 'refresh'), 'k' * 64, algorithms=['HS512'])
    assert refresh['exp'] - refresh['iat'] == 600
    # An HS256 token signed with the right key is still refused: only the configured algorithm counts.
    with pytest.raises(AuthenticationAPIError):
        await JWTAuthentication.decode_token(sign(claims(7), key='k' * 64, algorithm='HS256'))


class _NeedsJWT(GenericWebsocket):
    auth = QueryParamJWTAuthentication


class _NeedsJWTInstance(GenericWebsocket):
    auth = CookieJWTAuthentication()  # built at import, before any configuration: checked at start-up


class _NeedsJWTAPI(GenericAPI):
    auth = CookieJWTAuthentication

    async def get(self):
        return {}


KEYLESS_SETTINGS = [
    {'AUTHENTICATION': 'panther.authentications.JWTAuthentication', 'URLS': {}},
    {'WS_AUTHENTICATION': 'panther.authentications.QueryParamJWTAuthentication', 'URLS': {}},
    {'URLS': {'ws/': _NeedsJWT}},
    {'URLS': {'ws/': _NeedsJWTInstance}},
    {'URLS': {'api/': _NeedsJWTAPI}},
    {'URLS': {'ws/': _NeedsJWT}, 'JWT_CONFIG': {'life_time': 60}},
]
NO_KEY_REASON = "Token is invalid (no signing key: set SECRET_KEY or JWT_CONFIG['key'])"


def _key_warnings(logs) -> list[str]:
    return [line for line in logs.warnings() if 'JWT_CONFIG' in line]


@pytest.mark.parametrize('settings', KEYLESS_SETTINGS)
def test_jwt_auth_without_a_key_builds_with_one_warning(settings, logs):
    Panther('auth_tests', configs=configs_module(**settings))
    assert len(_key_warnings(logs)) == 1, logs.warnings()
    assert 'SECRET_KEY' in _key_warnings(logs)[0]
    assert logs.errors() == []


def test_the_key_warning_is_said_once_per_build_however_many_routes_use_jwt(logs):
    settings = {'AUTHENTICATION': 'panther.authentications.JWTAuthentication',
                'WS_AUTHENTICATION': 'panther.authentications.QueryParamJWTAuthentication',
                'URLS': {'ws/a/': _NeedsJWT, 'ws/b/': _NeedsJWT, 'ws/c/': _NeedsJWTInstance, 'api/': _NeedsJWTAPI,
                         'api/who/': auth_app.URLS['api/query/']}}
    app = Panther('auth_tests', configs=configs_module(**settings))
    assert len(_key_warnings(logs)) == 1
    APIClient(app).get('/api/who/')
    WebsocketClient(app).connect('/ws/a/')
    assert len(_key_warnings(logs)) == 1  # not per request
    Panther('auth_tests', configs=configs_module(**settings))
    assert len(_key_warnings(logs)) == 2  # a new build says it again


def test_no_warning_with_a_key_or_without_jwt(logs):
    Panther('auth_tests', configs=configs_module(SECRET_KEY='s' * 32, URLS={'ws/': _NeedsJWT}))
    Panther('auth_tests', configs=configs_module(JWT_CONFIG={'key': 'k' * 32}, URLS={'ws/': _NeedsJWT}))
    Panther('auth_tests', configs=configs_module(URLS={'ws/': _WhoWebsocket}))
    assert logs.warnings() == []


@pytest.fixture
def keyless_app(tmp_path):
    return Panther('auth_tests', configs=configs_module(
        DATABASE={'path': str(tmp_path / 'keyless.sqlite3')}, URLS=auth_app.URLS))


@pytest.mark.parametrize('kind', KINDS)
async def test_without_a_key_no_token_means_no_user(keyless_app, kind, logs):
    response = await _http(keyless_app, kind, None)
    assert response.status_code == 200 and response.data == {'user': None, 'id': None}
    transcript = await _ws(keyless_app, kind, None)
    assert transcript[0]['type'] == 'websocket.accept'
    assert transcript[1]['text'] == '{"user":null,"id":null}'
    assert logs.errors() == []


@pytest.mark.parametrize('kind', KINDS)
async def test_without_a_key_every_token_is_refused(keyless_app, kind, logs):
    user = await BaseUser.create_user('ali', 'a passphrase')
    # Signed with the key another app would have used: without a key nothing can be verified.
    for token in (sign(claims(user.id)), 'not-a-jwt'):
        logs.clear()
        response = await _http(keyless_app, kind, token)
        assert (response.status_code, response.data) == (401, {'detail': 'Authentication Error'})
        assert logs.errors() == [f'{CLASS_NAMES[kind]} Error: "{NO_KEY_REASON}"']
        logs.clear()
        transcript = await _ws(keyless_app, kind, token)
        assert _rejected(transcript), transcript
        assert logs.errors() == [f'{CLASS_NAMES[kind]} Error: "{NO_KEY_REASON}"']
        assert token not in logs.text()


async def test_without_a_key_signing_fails_loudly(keyless_app):
    user = await BaseUser.create_user('ali', 'a passphrase')
    with pytest.raises(ConfigError) as caught:
        await JWTAuthentication.login(user)
    assert caught.value.key == 'JWT_CONFIG' and 'SECRET_KEY' in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        QueryParamJWTAuthentication.encode_token(user.id)
    assert caught.value.key == 'JWT_CONFIG' and 'SECRET_KEY' in str(caught.value)
    assert (await BaseUser.find_one(id=user.id)).last_login is None  # nothing recorded for a failed login


async def test_unknown_user_without_database_setting_is_user_not_found(tmp_path, monkeypatch, logs):
    # No DATABASE: the embedded default, a panther.sqlite3 file in the working directory.
    monkeypatch.chdir(tmp_path)
    app = Panther('auth_tests', configs=configs_module(SECRET_KEY=auth_app.SECRET, URLS=auth_app.URLS))
    assert app.config.DATABASE == {}
    token = sign(claims(4242))
    transcript = await _ws(app, 'query', token)
    assert _rejected(transcript), transcript
    assert logs.errors() == ['QueryParamJWTAuthentication Error: "User not found"']
    logs.clear()
    assert (await _http(app, 'header', token)).status_code == 401
    assert logs.errors() == ['JWTAuthentication Error: "User not found"']
    assert (tmp_path / 'panther.sqlite3').exists()


def test_jwt_config_key_alone_is_enough():
    app = Panther('auth_tests', configs=configs_module(
        JWT_CONFIG={'key': 'k' * 64}, WS_AUTHENTICATION='panther.authentications.QueryParamJWTAuthentication',
        URLS={'ws/': _NeedsJWT}))
    assert app.config.JWT_CONFIG.key == 'k' * 64


class _APIKey(BaseAuthentication):
    async def __call__(self, request):
        key = request.headers.x_api_key
        if key is None:
            return None
        if key != 'open-sesame':
            raise self.fail('Unknown API key')
        return 'robot'


async def _broken_auth(request):
    raise ValueError('the user store is down')


class _WhoWebsocket(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send(str(self.user))


class _WhoAPI(GenericAPI):
    async def get(self, request):
        return {'user': request.user}


@pytest.fixture
def custom_app():
    urls = {
        'ws/key/': type('KeyWS', (_WhoWebsocket,), {'auth': _APIKey}),
        'ws/broken/': type('BrokenWS', (_WhoWebsocket,), {'auth': _broken_auth}),
        'api/key/': type('KeyAPI', (_WhoAPI,), {'auth': _APIKey}),
        'api/broken/': type('BrokenAPI', (_WhoAPI,), {'auth': _broken_auth}),
    }
    return Panther('auth_tests', configs=configs_module(URLS=urls))


async def test_custom_authentication_uses_fail_for_its_one_line(custom_app, logs):
    ok = await APIClient(custom_app).request('GET', '/api/key/', headers={'X-API-Key': 'open-sesame'})
    assert ok.data == {'user': 'robot'}
    refused = await APIClient(custom_app).request('GET', '/api/key/', headers={'X-API-Key': 'nope'})
    assert refused.status_code == 401 and refused.data == {'detail': 'Authentication Error'}
    assert logs.errors() == ['_APIKey Error: "Unknown API key"']
    logs.clear()
    transcript = await WebsocketClient(custom_app).aconnect('/ws/key/', headers={'X-API-Key': 'nope'})
    assert _rejected(transcript)
    assert logs.errors() == ['_APIKey Error: "Unknown API key"']


async def test_other_exceptions_in_auth_get_one_clear_line(custom_app, logs):
    response = await APIClient(custom_app).request('GET', '/api/broken/')
    assert response.status_code == 401
    assert logs.errors() == ['_broken_auth Error: "the user store is down"']
    logs.clear()
    transcript = await WebsocketClient(custom_app).aconnect('/ws/broken/')
    assert _rejected(transcript)
    assert logs.errors() == ['_broken_auth Error: "the user store is down"']


async def test_base_authentication_must_be_implemented():
    with pytest.raises(NotImplementedError):
        await BaseAuthentication()(object())


class _ReadsAnotherQueryParameter(QueryParamJWTAuthentication):
    @classmethod
    def get_token(cls, request):
        return request.query_params.get('t')


@pytest.mark.parametrize(('default', 'query', 'headers', 'expected'), [
    # The built-in classes are called without a scan for credentials first: None without their token.
    ('panther.authentications.QueryParamJWTAuthentication', {}, {}, None),
    ('panther.authentications.QueryParamJWTAuthentication', {}, {'Authorization': 'Bearer x'}, None),
    ('panther.authentications.QueryParamJWTAuthentication', {'authorization': 'TOKEN'}, {}, 'ali'),
    ('panther.authentications.CookieJWTAuthentication', {}, {'Cookie': 'other=1'}, None),
    ('panther.authentications.CookieJWTAuthentication', {}, {'Cookie': 'access_token=TOKEN'}, 'ali'),
    ('panther.authentications.JWTAuthentication', {'authorization': 'TOKEN'}, {}, None),
    ('panther.authentications.JWTAuthentication', {}, {'Authorization': 'Bearer TOKEN'}, 'ali'),
    # A subclass with its own token lookup keeps the scan: a credential elsewhere is not looked for.
    ('tests.test_authentications._ReadsAnotherQueryParameter', {'t': 'TOKEN'}, {}, None),
    ('tests.test_authentications._ReadsAnotherQueryParameter', {'t': 'TOKEN', 'authorization': '1'}, {}, 'ali'),
])
async def test_the_default_websocket_authentication_with_and_without_credentials(
        tmp_path, default, query, headers, expected, logs):
    app = Panther('auth_default_tests', configs=configs_module(
        SECRET_KEY=auth_app.SECRET, DATABASE={'path': str(tmp_path / 'auth.sqlite3')},
        URLS={'ws/': auth_app.WhoWebsocket}, WS_AUTHENTICATION=default))
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = JWTAuthentication.encode_token(user.id)
    query = {k: v.replace('TOKEN', token) for k, v in query.items()}
    headers = {k: v.replace('TOKEN', token) for k, v in headers.items()}
    transcript = await WebsocketClient(app).aconnect('/ws/', headers=headers, query_params=query)
    assert transcript[0]['type'] == 'websocket.accept'
    seen = json.loads(transcript[1]['text'])['user']
    assert seen == expected
    assert logs.errors() == []
