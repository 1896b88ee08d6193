"""Permissions: BasePermission subclasses and IsAuthenticated, for APIs and WebSockets."""

from __future__ import annotations

import types

import pytest

from panther import Panther
from panther.app import GenericAPI
from panther.authentications import JWTAuthentication, QueryParamJWTAuthentication
from panther.db.models import BaseUser
from panther.exceptions import ConfigError
from panther.permissions import BasePermission, IsAuthenticated
from panther.test import APIClient, WebsocketClient
from panther.websocket import GenericWebsocket
from tests.auth_app import SECRET
from tests.auth_support import configs_module


class IsAli(BasePermission):
    async def __call__(self, request) -> bool:
        return request.user is not None and request.user.username == 'ali'


class PrivateWebsocket(GenericWebsocket):
    auth = QueryParamJWTAuthentication
    permissions = IsAuthenticated  # a single permission is wrapped in a list

    async def connect(self):
        await self.accept()
        await self.send(self.user.username)


class AliWebsocket(PrivateWebsocket):
    permissions = [IsAuthenticated, IsAli]


class PrivateAPI(GenericAPI):
    auth = JWTAuthentication
    permissions = [IsAuthenticated]

    async def get(self, request):
        return {'user': request.user.username}


class AliAPI(PrivateAPI):
    permissions = [IsAuthenticated, IsAli]


@pytest.fixture
def app(tmp_path):
    return Panther('permission_tests', configs=configs_module(
        SECRET_KEY=SECRET, DATABASE={'path': str(tmp_path / 'p.sqlite3')},
        URLS={'ws/private/': PrivateWebsocket, 'ws/ali/': AliWebsocket,
              'api/private/': PrivateAPI, 'api/ali/': AliAPI}))


@pytest.fixture
async def tokens(app):
    ali = await BaseUser.create_user('ali', 'pw')
    bob = await BaseUser.create_user('bob', 'pw')
    return {'ali': JWTAuthentication.encode_token(ali.id), 'bob': JWTAuthentication.encode_token(bob.id)}


async def test_is_authenticated_on_plain_objects():
    assert await IsAuthenticated()(types.SimpleNamespace(user=object())) is True
    assert await IsAuthenticated()(types.SimpleNamespace(user=None)) is False


async def test_base_permission_must_be_implemented():
    with pytest.raises(NotImplementedError):
        await BasePermission()(types.SimpleNamespace(user=None))


async def test_websocket_without_user_is_rejected_with_user_accepted(app, tokens):
    client = WebsocketClient(app)
    anonymous = await client.aconnect('/ws/private/')
    assert [m['type'] for m in anonymous] == ['websocket.close']
    transcript = await client.aconnect('/ws/private/', query_params={'authorization': tokens['bob']})
    assert transcript[0]['type'] == 'websocket.accept'
    assert transcript[1]['text'] == 'bob'


async def test_every_permission_must_allow_a_websocket(app, tokens):
    client = WebsocketClient(app)
    bob = await client.aconnect('/ws/ali/', query_params={'authorization': tokens['bob']})
    assert [m['type'] for m in bob] == ['websocket.close']
    ali = await client.aconnect('/ws/ali/', query_params={'authorization': tokens['ali']})
    assert ali[1]['text'] == 'ali'


async def test_api_permissions_answer_403(app, tokens):
    client = APIClient(app)
    anonymous = await client.request('GET', '/api/private/')
    assert anonymous.status_code == 403
    bob = {'Authorization': f'Bearer {tokens["bob"]}'}
    assert (await client.request('GET', '/api/private/', headers=bob)).data == {'user': 'bob'}
    assert (await client.request('GET', '/api/ali/', headers=bob)).status_code == 403
    ali = {'Authorization': f'Bearer {tokens["ali"]}'}
    assert (await client.request('GET', '/api/ali/', headers=ali)).data == {'user': 'ali'}


def test_a_sync_permission_is_a_startup_error():
    class SyncPermission:
        def __call__(self, request):
            return True

    class Guarded(GenericWebsocket):
        permissions = [SyncPermission]

    with pytest.raises(ConfigError, match='SyncPermission'):
        Panther('permission_tests', configs=configs_module(URLS={'ws/': Guarded}))
