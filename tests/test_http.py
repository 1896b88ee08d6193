"""HTTP APIs through the in-process APIClient (SPEC 2.3, 2.7)."""

import http
import logging
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from panther import Panther, status
from panther.app import API, GenericAPI
from panther.exceptions import (
    APIError,
    AuthenticationAPIError,
    AuthorizationAPIError,
    BadRequestAPIError,
    ConfigError,
    NotFoundAPIError,
)
from panther.request import Request
from panther.response import HTMLResponse, PlainTextResponse, Response
from panther.test import APIClient
from panther.websocket import GenericWebsocket


class Book(BaseModel):
    title: str
    pages: int


class BookAPI(GenericAPI):
    async def get(self, book_id: int):
        return {'id': book_id, 'method': 'get'}

    def put(self, request: Request, book_id: int):  # sync, runs in a thread
        return {'id': book_id, 'data': request.data}

    async def patch(self, request, book_id):
        return Response({'patched': request.data, 'id': book_id}, status_code=202)

    def delete(self, book_id: int):
        return Response(status_code=204)


class EchoRequestAPI(GenericAPI):
    async def post(self, request: Request):
        return {
            'method': request.method, 'path': request.path, 'query': request.query_params,
            'data': {'bytes': len(request.data)} if isinstance(request.data, bytes) else request.data,
            'token': request.headers.authorization, 'agent': request.headers.get('User-Agent'),
            'content_type': request.headers.content_type, 'missing': request.headers.x_missing,
            'client': list(request.client or ()), 'user': request.user, 'cookies': request.cookies,
        }

    get = post


class Custom(Response):
    content_type = 'text/csv'

    def __init__(self, rows):
        super().__init__(rows, headers={'Content-Disposition': 'attachment; filename="x.csv"'})

    def render(self) -> bytes:
        return '\n'.join(','.join(map(str, row)) for row in self.data).encode()


@API()
async def kinds(kind: str):
    if kind == 'dict':
        return {'a': 1}
    if kind == 'list':
        return [1, 'two', None]
    if kind == 'tuple':
        return (1, 2)
    if kind == 'str':
        return 'hello'
    if kind == 'none':
        return None
    if kind == 'model':
        return Book(title='Dune', pages=412)
    if kind == 'models':
        return {'books': [Book(title='A', pages=1)]}
    if kind == 'html':
        return HTMLResponse('<h1>caf\u00e9</h1>')
    if kind == 'text':
        return PlainTextResponse('plain \u2713', headers={'X-Thing': 'yes'})
    if kind == 'custom':
        return Custom([[1, 2], [3, 4]])
    if kind == 'created':
        return Response({'id': 9}, status_code=status.HTTP_201_CREATED, headers={'Location': '/books/9/'})
    if kind == 'cookies':
        response = Response({'ok': True})
        response.set_cookie('access_token', 'abc', max_age=60)
        response.set_cookie('theme', 'dark', httponly=False, samesite=None)
        return response
    if kind == 'unencodable':
        return {'when': object()}
    raise NotFoundAPIError(f'no kind {kind!r}')


@API(methods=['POST', 'get'])
async def two_methods(request):
    return {'method': request.method}


@API()
def sync_boom():
    raise RuntimeError('sync kaboom')


@API()
async def async_boom():
    raise KeyError('async kaboom')


@dataclass
class Raiser:
    error: APIError


ERRORS = {
    'base': APIError(),
    'bad': BadRequestAPIError(),
    'bad-custom': BadRequestAPIError({'field': ['required']}),
    'authn': AuthenticationAPIError(),
    'authz': AuthorizationAPIError('Not yours'),
    'missing': NotFoundAPIError(),
    'teapot': APIError('short and stout', status_code=418, headers={'X-Pot': 'tea'}),
}


@API()
async def error(name: str):
    raise ERRORS[name]


async def token_auth(request):
    token = request.headers.authorization
    if token != 'Bearer good':
        raise AuthenticationAPIError('bad token')
    return {'name': 'ada'}


class ClassAuth:
    async def __call__(self, request):
        return {'name': request.query_params.get('as', 'class')}


async def is_ada(request):
    return request.user is not None and request.user['name'] == 'ada'


class AlwaysFalse:
    async def __call__(self, request):
        return False


@API(auth=token_auth, permissions=is_ada)
async def secret(request):
    return {'user': request.user}


@API(auth=ClassAuth, permissions=[AlwaysFalse])
async def forbidden():
    return {}


class Guarded(GenericAPI):
    auth = ClassAuth
    permissions = [is_ada]

    async def get(self, request):
        return {'user': request.user}


async def default_auth(request):
    return {'name': 'from-config', 'header': request.headers.authorization}


@API()
async def who(request):
    return {'user': request.user}


def fresh_view():
    async def view(request):
        return {'user': request.user}

    return view


class Socket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()


URLS = {
    'books/<book_id>/': BookAPI,
    'echo/': EchoRequestAPI,
    'kinds/<kind>/': kinds,
    'two/': two_methods,
    'boom/': {'sync/': sync_boom, 'async/': async_boom},
    'errors/<name>/': error,
    'secret/': secret,
    'forbidden/': forbidden,
    'guarded/': Guarded,
    'who/': who,
    'ws/': Socket,
}
AUTHENTICATION = 'tests.test_http.default_auth'
HTTP_MAX_BODY_SIZE = 1000


@pytest.fixture(scope='module')
def client():
    return APIClient(Panther(__name__, configs=__name__))


class TestViews:
    def test_generic_api_async_get_with_conversion(self, client):
        response = client.get('/books/5/')
        assert response.status_code == 200
        assert response.data == {'id': 5, 'method': 'get'}
        assert response.headers['content-type'] == 'application/json'

    def test_generic_api_sync_put_with_request(self, client):
        assert client.put('/books/5/', payload={'title': 'x'}).data == {'id': 5, 'data': {'title': 'x'}}

    def test_patch_and_delete(self, client):
        response = client.patch('/books/6', payload=[1, 2])
        assert response.status_code == 202 and response.data == {'patched': [1, 2], 'id': '6'}
        response = client.delete('/books/6/')
        assert response.status_code == 204 and response.body == b''
        assert 'content-length' not in response.headers

    def test_function_api_methods(self, client):
        assert client.get('two').data == {'method': 'GET'}
        assert client.post('/two/').data == {'method': 'POST'}
        response = client.put('/two/')
        assert response.status_code == 405 and response.headers['allow'] == 'POST, GET, HEAD'

    def test_405_lists_allowed_methods(self, client):
        response = client.post('/books/1/')
        assert response.status_code == 405
        assert response.data == {'detail': 'Method Not Allowed'}
        assert response.headers['allow'] == 'GET, HEAD, PUT, PATCH, DELETE'

    async def test_head_sends_get_headers_without_body(self, client):
        get = await client.request('GET', '/kinds/html/')
        head = await client.request('HEAD', '/kinds/html/')
        assert head.status_code == 200 and head.body == b''
        assert head.headers['content-length'] == get.headers['content-length'] == str(len(get.body))

    async def test_head_on_a_post_only_route_is_405(self, client):
        response = await client.request('HEAD', '/echo/')
        assert response.status_code == 200  # echo has get = post
        app = Panther(__name__, configs=__name__, urls={'p/': API(methods=['POST'])(fresh_view())})
        assert (await APIClient(app).request('HEAD', '/p/')).status_code == 405


class TestRequest:
    def test_json_query_headers_client(self, client):
        response = client.post('/echo/?a=1&b=', payload={'x': [1, 2]}, query_params={'c': 'three'},
                               headers={'Authorization': 'Bearer t', 'User-Agent': 'pytest'})
        data = response.data
        assert data['method'] == 'POST' and data['path'] == '/echo/'
        assert data['data'] == {'x': [1, 2]}
        assert data['query'] == {'a': '1', 'b': '', 'c': 'three'}
        assert data['token'] == 'Bearer t' and data['agent'] == 'pytest'
        assert data['content_type'] == 'application/json' and data['missing'] is None
        assert data['client'] == ['127.0.0.1', 50000]

    def test_form_body(self, client):
        response = client.post('/echo/', payload=b'name=caf%C3%A9&tags=a&empty=',
                               headers={'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8'})
        assert response.data['data'] == {'name': 'caf\u00e9', 'tags': 'a', 'empty': ''}

    def test_form_payload_from_a_dict(self, client):
        # Every method takes (path, payload, headers, query_params) in that order, get included.
        assert client.get('/echo/', None, {'User-Agent': 'positional'}, {'q': '1'}).data['agent'] == 'positional'
        response = client.post('/echo/', {'a': 'b c'}, {'content-type': 'application/x-www-form-urlencoded'})
        assert response.data['data'] == {'a': 'b c'}

    def test_get_has_no_data(self, client):
        assert client.get('/echo/').data['data'] is None

    @pytest.mark.parametrize('body', [b'{"a": ', b'not json', b'\xff\xfe'])
    def test_bad_json_is_400(self, client, body):
        response = client.post('/echo/', payload=body)
        assert response.status_code == 400 and response.data == {'detail': 'Invalid JSON body'}

    def test_bad_form_encoding_is_400(self, client):
        form = {'content-type': 'application/x-www-form-urlencoded'}
        response = client.post('/echo/', payload=b'a=\xff', headers=form)
        assert response.status_code == 400

    def test_other_content_types_give_bytes(self, client):
        response = client.post('/echo/', payload=b'abc', headers={'content-type': 'application/octet-stream'})
        assert response.data['data'] == {'bytes': 3}

    def test_too_large_body_is_413(self, client):
        assert client.post('/echo/', payload={'x': 'y' * 900}).status_code == 200
        response = client.post('/echo/', payload={'x': 'y' * 1000})
        assert response.status_code == 413 and response.data == {'detail': 'Request body too large'}

    async def test_body_in_chunks_and_limit_without_content_length(self):
        app = Panther(__name__, configs=__name__)
        chunks = [b'{"a": "', b'x' * 400, b'", "b": "', b'y' * 400, b'"}']

        async def call(parts):
            messages = [{'type': 'http.request', 'body': p, 'more_body': i < len(parts) - 1}
                        for i, p in enumerate(parts)]
            sent = []

            async def receive():
                return messages.pop(0)

            async def send(message):
                sent.append(message)

            scope = {'type': 'http', 'method': 'POST', 'path': '/echo/', 'query_string': b'',
                     'headers': [(b'content-type', b'application/json')]}
            await app(scope, receive, send)
            return sent[0]['status'], sent[1]['body']

        code, body = await call(chunks)
        assert code == 200 and b'"a":"xxxx' in body
        code, _ = await call([*chunks[:-1], b'z' * 300, b'"}'])
        assert code == 413

    def test_repeated_headers_and_cookies(self, client):
        app = Panther(__name__, configs=__name__)

        async def run():
            sent = []

            async def receive():
                return {'type': 'http.request', 'body': b''}

            async def send(message):
                sent.append(message)

            headers = [(b'cookie', b'a=1'), (b'Cookie', b'b=2; c="x y"'), (b'user-agent', b'u1'),
                       (b'user-agent', b'u2')]
            await app({'type': 'http', 'method': 'GET', 'path': '/echo/', 'headers': headers}, receive, send)
            return sent

        import asyncio
        import json
        sent = asyncio.run(run())
        data = json.loads(sent[1]['body'])
        assert data['cookies'] == {'a': '1', 'b': '2', 'c': 'x y'}
        assert data['agent'] == 'u1, u2'
        assert data['client'] == []

    def test_default_authentication_runs_only_with_credentials(self, client):
        assert client.get('/who/').data == {'user': None}
        response = client.get('/who/', headers={'Authorization': 'Bearer x'})
        assert response.data == {'user': {'name': 'from-config', 'header': 'Bearer x'}}


class TestResponses:
    @pytest.mark.parametrize(('kind', 'data'), [
        ('dict', {'a': 1}), ('list', [1, 'two', None]), ('tuple', [1, 2]), ('str', 'hello'), ('none', None),
        ('model', {'title': 'Dune', 'pages': 412}), ('models', {'books': [{'title': 'A', 'pages': 1}]}),
    ])
    def test_json(self, client, kind, data):
        response = client.get(f'/kinds/{kind}/')
        assert response.status_code == 200
        assert response.headers['content-type'] == 'application/json'
        assert response.data == data
        assert response.headers['content-length'] == str(len(response.body))

    def test_html(self, client):
        response = client.get('/kinds/html/')
        assert response.headers['content-type'] == 'text/html; charset=utf-8'
        assert response.body == '<h1>caf\u00e9</h1>'.encode() and response.data == '<h1>caf\u00e9</h1>'

    def test_plain_text_with_headers(self, client):
        response = client.get('/kinds/text/')
        assert response.headers['content-type'] == 'text/plain; charset=utf-8'
        assert response.data == 'plain \u2713' and response.headers['x-thing'] == 'yes'

    def test_subclass_with_its_own_type_and_headers(self, client):
        response = client.get('/kinds/custom/')
        assert response.headers['content-type'] == 'text/csv'
        assert response.headers['content-disposition'] == 'attachment; filename="x.csv"'
        assert response.body == b'1,2\n3,4'

    def test_status_and_location(self, client):
        response = client.get('/kinds/created/')
        assert response.status_code == 201 and response.headers['location'] == '/books/9/'

    def test_set_cookie_gives_one_header_each(self, client):
        response = client.get('/kinds/cookies/')
        cookies = [v for k, v in response.raw_headers if k == 'set-cookie']
        assert cookies == ['access_token=abc; HttpOnly; Max-Age=60; Path=/; SameSite=Lax', 'theme=dark; Path=/']

    def test_header_injection_is_refused(self):
        with pytest.raises(ValueError, match='line break'):
            Response({}, headers={'X-A': 'ok\r\nSet-Cookie: evil=1'}).raw_headers(2)

    def test_user_content_length_is_replaced(self):
        headers = dict(Response({'a': 1}, headers={'Content-Length': '999'}).raw_headers(7))
        assert headers[b'content-length'] == b'7'

    def test_unencodable_return_is_500(self, client, caplog):
        response = client.get('/kinds/unencodable/')
        assert response.status_code == 500 and response.data == {'detail': 'Internal Server Error'}
        assert 'GET /kinds/unencodable/ raised' in caplog.text


class TestErrors:
    @pytest.mark.parametrize(('name', 'code', 'detail'), [
        ('base', 500, 'Internal Server Error'),
        ('bad', 400, 'Bad Request'),
        ('bad-custom', 400, {'field': ['required']}),
        ('authn', 401, 'Authentication Error'),
        ('authz', 403, 'Not yours'),
        ('missing', 404, 'Not Found'),
        ('teapot', 418, 'short and stout'),
    ])
    def test_api_error_family(self, client, name, code, detail):
        response = client.get(f'/errors/{name}/')
        assert response.status_code == code
        assert response.data == {'detail': detail}
        if name == 'teapot':
            assert response.headers['x-pot'] == 'tea'

    @pytest.mark.parametrize('path', ['/boom/sync/', '/boom/async/'])
    def test_unhandled_exception_is_500_with_traceback_logged(self, client, caplog, path):
        caplog.set_level(logging.ERROR, logger='panther')
        response = client.get(path)
        assert response.status_code == 500
        assert response.data == {'detail': 'Internal Server Error'}
        assert 'kaboom' not in response.body.decode()
        record = next(r for r in caplog.records if r.name == 'panther' and r.levelno == logging.ERROR)
        assert record.exc_info is not None and 'kaboom' in str(record.exc_info[1])
        assert 'Traceback' in caplog.text

    def test_404(self, client):
        response = client.get('/nope/')
        assert response.status_code == 404 and response.data == {'detail': 'Not Found'}
        assert client.get('/books/').status_code == 404

    def test_426_on_a_websocket_route(self, client):
        response = client.get('/ws/')
        assert response.status_code == 426
        assert response.data == {'detail': 'Upgrade Required'}
        assert response.headers['upgrade'] == 'websocket'


class TestGuards:
    def test_auth_and_permission_pass(self, client):
        response = client.get('/secret/', headers={'Authorization': 'Bearer good'})
        assert response.status_code == 200 and response.data == {'user': {'name': 'ada'}}

    def test_auth_rejects(self, client):
        response = client.get('/secret/', headers={'Authorization': 'Bearer bad'})
        assert response.status_code == 401 and response.data == {'detail': 'bad token'}
        assert client.get('/secret/').status_code == 401  # an explicit auth always runs

    def test_permission_denied(self, client):
        assert client.get('/forbidden/').status_code == 403
        assert client.get('/guarded/').status_code == 403
        response = client.get('/guarded/', query_params={'as': 'ada'})
        assert response.status_code == 200 and response.data == {'user': {'name': 'ada'}}

    def test_auth_raising_anything_else_is_401(self, caplog):
        async def broken(request):
            raise ValueError('db down')

        app = Panther(__name__, configs=__name__, urls={'x/': API(auth=broken)(fresh_view())})
        response = APIClient(app).get('/x/')
        assert response.status_code == 401
        assert 'db down' in caplog.text

    def test_sync_guards_are_start_up_errors(self):
        def sync_auth(request):
            return None

        with pytest.raises(ConfigError, match='sync_auth must be async'):
            Panther(__name__, configs=__name__, urls={'x/': API(auth=sync_auth)(fresh_view())})
        with pytest.raises(ConfigError, match='must be async'):
            Panther(__name__, configs=__name__, urls={'x/': API(permissions=[lambda r: True])(fresh_view())})

    def test_api_decorator_misuse(self):
        with pytest.raises(ConfigError, match='unknown HTTP methods'):
            API(methods=['FETCH'])
        with pytest.raises(ConfigError, match='parentheses'):
            API(who)
        assert API(methods='post').methods == ('POST',)


def test_status_has_every_http_code_and_the_rfc6455_close_codes():
    names = {v for k, v in vars(status).items() if k.startswith('HTTP_')}
    assert {int(s) for s in http.HTTPStatus} <= names
    assert status.HTTP_426_UPGRADE_REQUIRED == 426 and status.HTTP_404_NOT_FOUND == 404
    ws = {v for k, v in vars(status).items() if k.startswith('WS_')}
    assert set(range(1000, 1016)) <= ws
    assert status.WS_1000_NORMAL_CLOSURE == 1000 and status.WS_1008_POLICY_VIOLATION == 1008
    assert status.WS_1011_INTERNAL_ERROR == 1011 and status.WS_1013_TRY_AGAIN_LATER == 1013
    for name, value in vars(status).items():
        if name.startswith(('HTTP_', 'WS_')):
            assert name.split('_')[1] == str(value), name
