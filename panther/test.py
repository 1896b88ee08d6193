"""In-process test clients: call the app directly, no server, no sockets.

For unit tests. Tests of real behaviour (server, network, several workers) run a
real server in a subprocess instead.

Example:

```python
from panther.test import APIClient, WebsocketClient

response = APIClient(app).get('/api/users/1/')      # in a sync test
assert response.status_code == 200 and response.data == {'id': 1}
response = await APIClient(app).get('/api/users/1/')  # in an async test

messages = WebsocketClient(app).connect('/ws/echo/', messages=['hi'])
assert messages[0] == {'type': 'websocket.accept', 'subprotocol': None, 'headers': {}}
assert messages[1] == {'type': 'websocket.send', 'text': 'hi'}

async with WebsocketClient(app).session('/ws/echo/') as ws:
    await ws.send('hi')
    assert await ws.receive_text() == 'hi'
```
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import warnings
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson

from panther.serialization import dumps
from panther.types import ASGIApp, Message

T = TypeVar('T')


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, factory()).result()


def _split(path: str, query_params: dict[str, Any] | None) -> tuple[str, bytes]:
    path, _, query = path.partition('?')
    if query_params:
        query = '&'.join(filter(None, [query, urlencode(query_params)]))
    return '/' + path.lstrip('/'), query.encode()


def _headers(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode('latin-1'), str(v).encode('latin-1')) for k, v in (headers or {}).items()]


class ResponseHeaders(dict[str, str]):
    """Response headers by lower-case name; lookups ignore case (``headers['Content-Type']``)."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class TestResponse:
    """What an ``APIClient`` call returns.

    ``data`` is the decoded JSON (or text for ``text/*``, else the raw ``body``).
    ``headers`` keeps the last value of a repeated header (``set-cookie``);
    ``raw_headers`` has every ``(name, value)`` pair, and ``cookies`` every
    ``Set-Cookie`` as a ``(b'Set-Cookie', b'name=value; ...')`` pair.
    """

    __test__ = False

    status_code: int
    headers: ResponseHeaders
    body: bytes
    data: Any = field(default=None)
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[tuple[bytes, bytes]] = field(default_factory=list)


class PendingResponse:
    """What an ``APIClient`` method returns when an event loop is running: ``await`` it.

    The request runs on the caller's loop when awaited, so it shares that loop's
    resources (database, Redis, the app's runtime). Reading a response attribute
    without ``await`` raises ``TypeError`` saying so, instead of hanging the loop.
    """

    __slots__ = ('_call', '_factory', '_used')

    def __init__(self, call: str, factory: Callable[[], Coroutine[Any, Any, TestResponse]]) -> None:
        self._call = call
        self._factory = factory
        self._used = False

    def __await__(self) -> Generator[Any, None, TestResponse]:
        self._used = True
        return self._factory().__await__()

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__'):
            raise AttributeError(name)
        self._used = True
        raise TypeError(
            f'{self._call} was called inside a running event loop: use "await {self._call}" to get the '
            f'response (a sync call cannot run the app on the loop it is blocking)'
        )

    def __del__(self) -> None:
        if not self._used:
            warnings.warn(f'{self._call} was never awaited, so the request never ran', RuntimeWarning, stacklevel=1)


#: What ``APIClient.get`` and friends return: the response in sync code, something to await in async code.
MaybeResponse = TestResponse | PendingResponse


class APIClient:
    """Call HTTP APIs in-process.

    Every method works both ways: in plain sync code it returns the ``TestResponse``;
    inside a running event loop (an ``async def`` test under pytest-asyncio or
    ``IsolatedAsyncioTestCase``) write ``response = await client.get(...)``; using
    the result there without ``await`` raises a ``TypeError`` that says so.

    Each method takes:

    - ``path``: the path, optionally with a query string (``'/api/books/?page=2'``).
    - ``payload``: the body: JSON-encoded, ``bytes`` sent as they are, or a dict
      urlencoded when the ``content-type`` is a form.
    - ``headers``: request headers (``{'Authorization': f'Bearer {token}'}``).
    - ``query_params``: a dict added to the query string.
    - ``content_type`` (``post``, ``put``, ``patch``): sets that header.

    Args:
        app: the ``Panther`` app (or any ASGI app) to call.

    Examples:
        ```python
        response = APIClient(app).post('/api/books/', payload={'title': 'Dune'})
        print(response.status_code, response.data, response.headers['Content-Type'])
        ```
    """

    __test__ = False  # not a pytest test class

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def _call(self, method: str, path: str, payload: Any, headers: dict[str, str] | None,
              query_params: dict[str, Any] | None, content_type: str | None = None) -> MaybeResponse:
        if content_type is not None and not any(k.lower() == 'content-type' for k in headers or {}):
            headers = {'content-type': content_type, **(headers or {})}

        def factory() -> Coroutine[Any, Any, TestResponse]:
            return self.request(method, path, payload, headers, query_params)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(factory())
        return PendingResponse(f'APIClient.{method.lower()}({path!r})', factory)

    def get(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
            query_params: dict[str, Any] | None = None) -> MaybeResponse:
        """``GET path``; ``payload`` (JSON-encoded unless bytes) is rarely needed but allowed."""
        return self._call('GET', path, payload, headers, query_params)

    def post(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
             query_params: dict[str, Any] | None = None, content_type: str | None = None) -> MaybeResponse:
        """``POST path`` with ``payload`` as JSON (bytes are sent as they are; a form
        ``content-type`` header urlencodes a dict). ``content_type`` sets that header."""
        return self._call('POST', path, payload, headers, query_params, content_type)

    def put(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
            query_params: dict[str, Any] | None = None, content_type: str | None = None) -> MaybeResponse:
        return self._call('PUT', path, payload, headers, query_params, content_type)

    def patch(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
              query_params: dict[str, Any] | None = None, content_type: str | None = None) -> MaybeResponse:
        return self._call('PATCH', path, payload, headers, query_params, content_type)

    def delete(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
               query_params: dict[str, Any] | None = None) -> MaybeResponse:
        return self._call('DELETE', path, payload, headers, query_params)

    def options(self, path: str, headers: dict[str, str] | None = None,
                query_params: dict[str, Any] | None = None) -> MaybeResponse:
        return self._call('OPTIONS', path, None, headers, query_params)

    def head(self, path: str, headers: dict[str, str] | None = None,
             query_params: dict[str, Any] | None = None) -> MaybeResponse:
        return self._call('HEAD', path, None, headers, query_params)

    async def request(self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None,
                      query_params: dict[str, Any] | None = None) -> TestResponse:
        """Send any method; always a coroutine (``await client.request('GET', '/x/')``)."""
        raw_path, query = _split(path, query_params)
        raw_headers = _headers(headers)
        body = b''
        if payload is not None:
            content_type = next((v for k, v in raw_headers if k == b'content-type'), None)
            if isinstance(payload, bytes):
                body = payload
            elif content_type is not None and content_type.startswith(b'application/x-www-form-urlencoded'):
                body = urlencode(payload, doseq=True).encode()
            else:
                body = dumps(payload)
            if content_type is None:
                raw_headers.append((b'content-type', b'application/json'))
        scope = {
            'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': method.upper(),
            'scheme': 'http', 'path': raw_path, 'raw_path': raw_path.encode(), 'query_string': query,
            'root_path': '', 'headers': raw_headers, 'client': ('127.0.0.1', 50000),
            'server': ('testserver', 80),
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {'type': 'http.request', 'body': body, 'more_body': False}
            await asyncio.Event().wait()  # nothing more: the client stays connected
            return {'type': 'http.disconnect'}

        start: Message = {}
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            if message['type'] == 'http.response.start':
                start.update(message)
            elif message['type'] == 'http.response.body':
                chunks.append(message.get('body', b''))

        await self.app(scope, receive, send)
        response_body = b''.join(chunks)
        pairs = [(k.decode('latin-1').lower(), v.decode('latin-1')) for k, v in start.get('headers', [])]
        response_headers = ResponseHeaders(pairs)
        cookies = [(b'Set-Cookie', v.encode('latin-1')) for k, v in pairs if k == 'set-cookie']
        data: Any = response_body
        if response_headers.get('content-type', '').startswith('application/json'):
            data = orjson.loads(response_body) if response_body else None
        elif response_headers.get('content-type', '').startswith('text/'):
            data = response_body.decode()
        return TestResponse(start.get('status', 500), response_headers, response_body, data, pairs, cookies)


class WebsocketSession:
    """One in-process WebSocket connection, driven step by step."""

    __test__ = False

    def __init__(self, app: ASGIApp, path: str, headers: dict[str, str] | None,
                 query_params: dict[str, Any] | None, subprotocols: list[str] | None) -> None:
        raw_path, query = _split(path, query_params)
        self.scope = {
            'type': 'websocket', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'scheme': 'ws',
            'path': raw_path, 'raw_path': raw_path.encode(), 'query_string': query, 'root_path': '',
            'headers': _headers(headers), 'client': ('127.0.0.1', 50000), 'server': ('testserver', 80),
            'subprotocols': subprotocols or [],
        }
        self.app = app
        self.transcript: list[Message] = []
        self.closed_code: int | None = None
        #: ASGI messages the app sent out of order (a real server would log "Unexpected ASGI message").
        self.violations: list[str] = []
        self._app_state = 'connecting'  # -> 'accepted' -> 'closed'
        self._client_closed = False
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connected = False

    async def start(self) -> Message:
        """Open the handshake; returns the app's answer (accept or close)."""
        await self._to_app.put({'type': 'websocket.connect'})
        self._task = asyncio.get_running_loop().create_task(self._run_app())
        return await self.receive()

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope, self._receive, self._send)
        finally:
            await self._from_app.put({'type': '_app_returned'})

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        kind = message['type']
        allowed = _ALLOWED[self._app_state]
        if kind not in allowed:
            self.violations.append(f'{kind!r} while the app side is {self._app_state}')
            raise RuntimeError(f'Unexpected ASGI message {kind!r} (app side is {self._app_state})')
        if self._client_closed:
            if kind == 'websocket.close':
                self._app_state = 'closed'
                return  # like a server: closing an already closed socket is a no-op
            raise OSError('the test client has disconnected')
        message = _recorded(message)
        self.transcript.append(message)
        if kind == 'websocket.accept':
            self._app_state = 'accepted'
            self._connected = True
        elif kind == 'websocket.close':
            self._app_state = 'closed'
            self.closed_code = message.get('code', 1000)
            # The closing handshake completes (or the handshake is refused): the app then sees the disconnect.
            await self._to_app.put({'type': 'websocket.disconnect',
                                    'code': self.closed_code if self._connected else 1006})
        await self._from_app.put(message)

    async def send(self, data: str | bytes | Any) -> None:
        """Send a text frame (``str``), a binary frame (``bytes``) or JSON text (anything else)."""
        if isinstance(data, str):
            await self._to_app.put({'type': 'websocket.receive', 'text': data})
        elif isinstance(data, bytes):
            await self._to_app.put({'type': 'websocket.receive', 'bytes': data})
        else:
            await self._to_app.put({'type': 'websocket.receive', 'text': dumps(data).decode()})

    async def receive(self, timeout: float = 2.0) -> Message:
        """The next ASGI message the app sent; raises ``TimeoutError`` if none comes."""
        message = await asyncio.wait_for(self._from_app.get(), timeout)
        if message['type'] == '_app_returned':
            await self._from_app.put(message)
            raise ConnectionError('the app has finished the connection')
        return message

    async def receive_text(self, timeout: float = 2.0) -> str:
        message = await self.receive(timeout)
        if message['type'] != 'websocket.send' or message.get('text') is None:
            raise AssertionError(f'expected a text frame, got {message!r}')
        return message['text']

    async def receive_bytes(self, timeout: float = 2.0) -> bytes:
        message = await self.receive(timeout)
        if message['type'] != 'websocket.send' or message.get('bytes') is None:
            raise AssertionError(f'expected a binary frame, got {message!r}')
        return message['bytes']

    async def receive_json(self, timeout: float = 2.0) -> Any:
        return orjson.loads(await self.receive_text(timeout))

    async def close(self, code: int = 1000, timeout: float = 5.0) -> None:
        """Close from the client side and wait for the app to finish.

        An app that ignores the disconnect for ``timeout`` seconds (say, an endless
        loop inside ``connect``) is cancelled, so a test never hangs.
        """
        if self.closed_code is None:
            self.closed_code = code
            self._client_closed = True
            await self._to_app.put({'type': 'websocket.disconnect', 'code': code})
        try:
            await self.wait_closed(timeout)
        except TimeoutError:
            task = self._task
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def check_protocol(self) -> None:
        """Raise ``AssertionError`` if the app sent any ASGI message out of order."""
        if self.violations:
            raise AssertionError('the app broke the ASGI WebSocket protocol: ' + '; '.join(self.violations))

    async def wait_closed(self, timeout: float = 5.0) -> None:
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def __aenter__(self) -> WebsocketSession:
        await self.start()
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        await self.close()
        if exc_type is None:
            self.check_protocol()


class WebsocketClient:
    """Run WebSocket connections in-process.

    ``connect`` runs one connection to its end and returns the ASGI messages the
    app sent; ``session`` gives an ``async with`` form to send and receive step by step.
    The in-process client offers no ``websocket.http.response`` extension, so a
    refused handshake is a ``websocket.close`` with code 1000.

    Args:
        app: the ``Panther`` app (or any ASGI app) to call.

    Examples:
        ```python
        messages = WebsocketClient(app).connect('/ws/echo/', messages=['hi'])
        assert messages[1] == {'type': 'websocket.send', 'text': 'hi'}

        async with WebsocketClient(app).session('/ws/echo/') as ws:
            await ws.send({'n': 1})
            assert await ws.receive_json() == {'n': 1}
        ```
    """

    __test__ = False

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def session(self, path: str, headers: dict[str, str] | None = None,
                query_params: dict[str, Any] | None = None,
                subprotocols: list[str] | None = None) -> WebsocketSession:
        """One connection to drive step by step: ``async with client.session(path) as ws``.

        Args:
            path: the path, optionally with a query string.
            headers: handshake headers.
            query_params: a dict added to the query string.
            subprotocols: the subprotocols the client offers.
        """
        return WebsocketSession(self.app, path, headers, query_params, subprotocols)

    def connect(self, path: str, headers: dict[str, str] | None = None,
                query_params: dict[str, Any] | None = None, messages: list[Any] | None = None,
                idle: float = 0.2, timeout: float = 5.0) -> list[Message]:
        """Connect, send ``messages`` in order, wait until the app closes or stays idle, then disconnect.

        Args:
            path: the path, optionally with a query string.
            headers: handshake headers.
            query_params: a dict added to the query string (``{'authorization': token}``).
            messages: sent in order after the handshake: ``str`` as text, ``bytes``
                as binary, anything else as JSON text.
            idle: seconds without a message from the app that count as done.
            timeout: seconds to wait at most.

        Returns:
            Every ASGI message the app sent, each in one shape: ``websocket.accept``
            with ``subprotocol`` and ``headers``, ``websocket.send`` with exactly one
            of ``text`` and ``bytes``, ``websocket.close`` with ``code`` and ``reason``.

        Raises:
            AssertionError: the app sent ASGI messages out of order.
        """
        return _run(lambda: self.aconnect(path, headers, query_params, messages, idle, timeout))

    async def aconnect(self, path: str, headers: dict[str, str] | None = None,
                       query_params: dict[str, Any] | None = None, messages: list[Any] | None = None,
                       idle: float = 0.2, timeout: float = 5.0) -> list[Message]:
        """The async form of ``connect``."""
        session = self.session(path, headers, query_params)
        await session.start()
        if session._connected and session.closed_code is None:
            for data in messages or ():
                await session.send(data)
            await _until_idle(session, idle, timeout)
        await session.close(timeout=timeout)
        session.check_protocol()
        return session.transcript


def _recorded(message: Message) -> Message:
    """The app's message in one fixed shape, so tests can compare whole dicts.

    ``websocket.accept`` always has ``subprotocol`` (``None``) and ``headers`` (a dict
    of lower-case names, ``{}``); ``websocket.send`` has exactly one of ``text`` and
    ``bytes``; ``websocket.close`` has ``code`` and ``reason`` (ASGI's defaults
    1000 and ``''`` when the app left them out).
    """
    kind = message['type']
    if kind == 'websocket.accept':
        headers = {}
        raw = message.get('headers') or ()
        for name, value in raw.items() if isinstance(raw, dict) else raw:
            name = name.decode('latin-1') if isinstance(name, bytes) else str(name)
            headers[name.lower()] = value.decode('latin-1') if isinstance(value, bytes) else str(value)
        return {'type': kind, 'subprotocol': message.get('subprotocol'), 'headers': headers}
    if kind == 'websocket.send':
        text = message.get('text')
        return {'type': kind, 'text': text} if text is not None else {'type': kind, 'bytes': message.get('bytes')}
    if kind == 'websocket.close':
        return {'type': kind, 'code': message.get('code', 1000), 'reason': message.get('reason') or ''}
    return dict(message)


_ALLOWED = {
    'connecting': frozenset({'websocket.accept', 'websocket.close', 'websocket.http.response.start'}),
    'accepted': frozenset({'websocket.send', 'websocket.close'}),
    'closed': frozenset(),
}


async def _until_idle(session: WebsocketSession, idle: float, limit: float = 5.0) -> None:
    # ``limit`` bounds an app that never goes quiet (e.g. a ticker), so ``connect`` never hangs.
    deadline = asyncio.get_running_loop().time() + limit
    while session.closed_code is None:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return
        try:
            await session.receive(timeout=min(idle, left))
        except (TimeoutError, ConnectionError):
            return

