"""The verified-token cache in-process: what it saves, and every check it must not weaken.

A user removed behind the models' back (raw SQL) shows that an answer came from the
cache; the same removal through ``Model`` shows that the cache forgets it at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import jwt
import pytest
import redis as redis_py

from panther import Panther
from panther.authentications import JWTAuthentication, QueryParamJWTAuthentication
from panther.db import Model
from panther.db.connection import get_database
from panther.db.models import BaseUser
from panther.test import APIClient, WebsocketClient
from panther.token_cache import VerifiedTokens, user_change_marks, verified_tokens
from panther.websocket import GenericWebsocket
from tests import auth_app
from tests.auth_support import Records, claims, configs_module, sign


@pytest.fixture(autouse=True)
def _empty_cache():
    verified_tokens.clear()
    yield
    verified_tokens.clear()


@pytest.fixture
def logs():
    logger = logging.getLogger('panther')
    handler = Records()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def build(tmp_path, **settings):
    settings = {'SECRET_KEY': auth_app.SECRET, 'DATABASE': {'path': str(tmp_path / 'cache.sqlite3')},
                'URLS': auth_app.URLS, 'AUTH_CACHE_TTL': 60, **settings}
    return Panther('token_cache_tests', configs=configs_module(**settings))


@pytest.fixture
def app(tmp_path):
    return build(tmp_path)


@pytest.fixture
async def user(app):
    return await BaseUser.create_user('ali', 'a passphrase')


async def who(app, token: str, path: str = '/ws/query/'):
    """The user the WebSocket saw (``{'user', 'id'}``), or ``None`` when the handshake was refused."""
    transcript = await WebsocketClient(app).aconnect(path, query_params={'authorization': token})
    if transcript[0]['type'] != 'websocket.accept':
        return None
    return json.loads(transcript[1]['text'])


async def remove_behind_the_models_back(user_id: int) -> None:
    await get_database().run(lambda conn: conn.execute('DELETE FROM baseuser WHERE id = ?', (user_id,)))


async def test_a_second_handshake_is_answered_from_the_cache(app, user):
    token = JWTAuthentication.encode_token(user.id)
    assert await who(app, token) == {'user': 'ali', 'id': user.id}
    assert token in verified_tokens
    await remove_behind_the_models_back(user.id)
    # Neither PyJWT nor the database was asked: the row is gone, the answer is not.
    assert await who(app, token) == {'user': 'ali', 'id': user.id}
    response = await APIClient(app).request('GET', '/api/header/', headers={'Authorization': f'Bearer {token}'})
    assert response.data == {'user': 'ali', 'id': user.id}


@pytest.mark.parametrize('how', ['instance', 'delete_one', 'delete_many_by_name', 'delete_one_by_str_id'])
async def test_a_deleted_user_is_refused_on_the_next_handshake(app, user, how, logs):
    token = JWTAuthentication.encode_token(user.id)
    assert await who(app, token) == {'user': 'ali', 'id': user.id}
    if how == 'instance':
        assert await user.delete()
    elif how == 'delete_one':
        assert await BaseUser.delete_one(id=user.id)
    elif how == 'delete_one_by_str_id':
        assert await BaseUser.delete_one(id=str(user.id))
    else:
        assert await BaseUser.delete_many(username='ali') == 1  # not by id: every cached user is forgotten
    assert token not in verified_tokens
    logs.clear()
    assert await who(app, token) is None
    assert logs.errors() == ['QueryParamJWTAuthentication Error: "User not found"']


async def test_a_changed_user_is_seen_on_the_next_handshake(app, user):
    token = JWTAuthentication.encode_token(user.id)
    assert (await who(app, token))['user'] == 'ali'
    await user.update(username='ali2')
    assert (await who(app, token))['user'] == 'ali2'
    await BaseUser.update_one({'username': 'ali2'}, username='ali3')
    assert (await who(app, token))['user'] == 'ali3'


async def test_other_users_stay_cached_when_one_changes(app, user):
    other = await BaseUser.create_user('bob', 'a passphrase')
    mine, theirs = JWTAuthentication.encode_token(user.id), JWTAuthentication.encode_token(other.id)
    await who(app, mine)
    await who(app, theirs)
    await user.update_last_login()
    assert mine not in verified_tokens and theirs in verified_tokens


async def test_an_expired_token_is_refused_even_when_cached(app, user, logs):
    token = sign(claims(user.id, life=2))
    exp = jwt.decode(token, options={'verify_signature': False})['exp']
    assert await who(app, token) == {'user': 'ali', 'id': user.id}
    assert token in verified_tokens  # AUTH_CACHE_TTL is 60 s: only exp can end it
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    logs.clear()
    assert await who(app, token) is None
    assert logs.errors() == ['QueryParamJWTAuthentication Error: "Token has expired"']


async def test_an_entry_lives_at_most_the_ttl(tmp_path):
    app = build(tmp_path, AUTH_CACHE_TTL=0.3)
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = JWTAuthentication.encode_token(user.id)
    assert await who(app, token) is not None
    await remove_behind_the_models_back(user.id)  # as another process would, without Redis
    assert await who(app, token) is not None
    await asyncio.sleep(0.35)
    assert await who(app, token) is None


async def test_refresh_tokens_never_get_in(app, user, logs):
    tokens = await JWTAuthentication.login(user)
    assert await who(app, tokens['refresh_token']) is None
    assert logs.errors() == ["QueryParamJWTAuthentication Error: \"Expected a token of type 'access', got 'refresh'\""]
    assert tokens['refresh_token'] not in verified_tokens
    assert await who(app, tokens['access_token']) is not None
    assert await who(app, tokens['refresh_token']) is None
    assert len(verified_tokens) == 1
    fresh = await JWTAuthentication.refresh(tokens['refresh_token'])
    assert set(fresh) == {'access_token', 'refresh_token'}


async def test_refusals_are_not_cached(app, user):
    for token in (sign(claims(user.id + 1000)), sign(claims(user.id), key='another-key-that-is-also-32-bytes-long'),
                  'not-a-jwt'):
        assert await who(app, token) is None
        assert token not in verified_tokens
    assert len(verified_tokens) == 0


async def test_the_cache_is_bounded(tmp_path):
    app = build(tmp_path, AUTH_CACHE_SIZE=5)
    user = await BaseUser.create_user('ali', 'a passphrase')
    tokens = [JWTAuthentication.encode_token(user.id) for _ in range(20)]
    for token in tokens:
        assert await who(app, token) is not None
        assert len(verified_tokens) <= 5
    assert len(verified_tokens) == 5
    assert all(token in verified_tokens for token in tokens[-5:])


async def test_no_cache_when_ttl_is_none(tmp_path):
    app = build(tmp_path, AUTH_CACHE_TTL=None)
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = JWTAuthentication.encode_token(user.id)
    assert await who(app, token) is not None
    assert len(verified_tokens) == 0
    await remove_behind_the_models_back(user.id)
    assert await who(app, token) is None


async def test_a_new_app_build_does_not_inherit_entries(tmp_path, logs):
    app = build(tmp_path)
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = JWTAuthentication.encode_token(user.id)
    assert await who(app, token) is not None
    other = build(tmp_path, SECRET_KEY='a-different-secret-key-0123456789abcdef')
    logs.clear()
    assert await who(other, token) is None
    assert logs.errors() == ['QueryParamJWTAuthentication Error: "Token signature is invalid"']


class _Mutating(GenericWebsocket):
    auth = QueryParamJWTAuthentication

    async def connect(self):
        await self.accept()
        await self.send({'user': self.user.username, 'id': self.user.id})
        self.user.username = 'changed in memory only'


async def test_each_caller_gets_its_own_copy_of_the_user(tmp_path):
    app = build(tmp_path, URLS={'ws/': _Mutating})
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = JWTAuthentication.encode_token(user.id)
    for _ in range(3):
        assert (await who(app, token, '/ws/'))['user'] == 'ali'


class _StrictJWT(QueryParamJWTAuthentication):
    lookups = 0

    @classmethod
    async def get_user(cls, payload):
        cls.lookups += 1
        return await super().get_user(payload)


class _Strict(GenericWebsocket):
    auth = _StrictJWT

    async def connect(self):
        await self.accept()
        await self.send({'user': self.user.username, 'id': self.user.id})


async def test_a_subclass_with_its_own_checks_is_not_cached(tmp_path):
    app = build(tmp_path, URLS={'ws/': _Strict})
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = JWTAuthentication.encode_token(user.id)
    for _ in range(3):
        assert await who(app, token, '/ws/') is not None
    assert _StrictJWT.lookups == 3
    assert token not in verified_tokens


# -- with Redis --------------------------------------------------------------------


@pytest.fixture
async def redis_app(tmp_path, redis_config):
    return build(tmp_path, REDIS=redis_config)


def _raw_redis(redis_config) -> redis_py.Redis:
    return redis_py.Redis(host=redis_config['host'], port=redis_config['port'])


async def test_logout_is_refused_on_the_next_handshake(redis_app, logs):
    user = await BaseUser.create_user('ali', 'a passphrase')
    tokens = await JWTAuthentication.login(user)
    access = tokens['access_token']
    assert await who(redis_app, access) is not None
    assert await who(redis_app, access) is not None
    await JWTAuthentication.logout(access)
    assert access not in verified_tokens
    logs.clear()
    assert await who(redis_app, access) is None
    assert logs.errors() == ['QueryParamJWTAuthentication Error: "Token has been revoked"']


async def test_a_logout_on_another_worker_is_refused_on_the_next_handshake(redis_app, redis_config, logs):
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = sign(claims(user.id, jti='revoked-elsewhere'))
    assert await who(redis_app, token) is not None
    assert token in verified_tokens
    with _raw_redis(redis_config) as other_worker:  # what logout() does there
        other_worker.set('panther:revoked-token:revoked-elsewhere', b'1', ex=60)
    logs.clear()
    assert await who(redis_app, token) is None
    assert logs.errors() == ['QueryParamJWTAuthentication Error: "Token has been revoked"']
    assert token not in verified_tokens


async def test_a_user_deleted_on_another_worker_is_refused_on_the_next_handshake(redis_app, redis_config, logs):
    user = await BaseUser.create_user('ali', 'a passphrase')
    token = JWTAuthentication.encode_token(user.id)
    assert await who(redis_app, token) is not None
    await remove_behind_the_models_back(user.id)
    assert await who(redis_app, token) is not None  # no mark yet: served from the cache
    with _raw_redis(redis_config) as other_worker:  # what the other worker's delete does
        other_worker.set(user_change_marks(BaseUser, user.id)[0], b'1', ex=10)
    logs.clear()
    assert await who(redis_app, token) is None
    assert logs.errors() == ['QueryParamJWTAuthentication Error: "User not found"']


async def test_user_writes_leave_marks_for_other_workers(redis_app, redis_config):
    user = await BaseUser.create_user('ali', 'a passphrase')
    own, everyone = user_change_marks(BaseUser, user.id)
    with _raw_redis(redis_config) as client:
        assert client.exists(own, everyone) == 0
        await user.update(username='ali2')
        assert client.exists(own) == 1 and 60 < client.ttl(own) <= 61  # AUTH_CACHE_TTL + 1
        await BaseUser.delete_many(username='ali2')
        assert client.exists(everyone) == 1


class _Book(Model):
    title: str


async def test_marks_only_for_the_user_model(redis_app, redis_config):
    book = await _Book.insert_one(title='Dune')
    await book.update(title='Dune (1965)')
    with _raw_redis(redis_config) as client:
        assert client.keys('panther:user-changed:*') == []


# -- the cache alone -----------------------------------------------------------------


class _User:
    def __init__(self, user_id: int) -> None:
        self.id = user_id
        self.tags = ['a']


async def test_a_lookup_that_ran_alongside_a_user_change_is_not_stored(app):
    cache = VerifiedTokens()
    ticket = cache.ticket()
    cache.forget_rows(_User, (1,))
    cache.store(ticket, 't1', _User(1), time.time() + 60, 'r1')
    assert 't1' not in cache
    cache.store(cache.ticket(), 't1', _User(1), time.time() + 60, 'r1')
    assert 't1' in cache
    copy = cache.get('t1')[0]
    copy.tags.append('b')
    assert cache.get('t1')[0].tags == ['a']


def test_threads_hammering_the_cache_keep_it_bounded_and_consistent(app):
    from panther.configs import config

    config.AUTH_CACHE_SIZE = 50
    cache = VerifiedTokens()
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(3000):
                token = f't{(seed * 7919 + i) % 400}'
                cache.store(cache.ticket(), token, _User(i % 30), time.time() + 60, 'r')
                cache.get(token)
                if i % 50 == 0:
                    cache.forget_rows(_User, (i % 30,))
                if i % 97 == 0:
                    cache.discard(token)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert 0 < len(cache) <= 50
    cache.forget_rows(_User, None)
    assert len(cache) == 0
