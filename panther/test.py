"""In-process test clients: call the app directly, no server, no sockets.

For unit tests. Tests of real behaviour (server, network, several workers) run a
real server in a subprocess instead.

Example::

    from panther.test import APIClient, WebsocketClient

    response = APIClient(app).get('/api/users/1/')
    assert response.status_code == 200 and response.data == {'id': 1}

    messages = WebsocketClient(app).connect('/ws/echo/', messages=['hi'])
    assert messages[0] == {'type': 'websocket.accept', 'subprotocol': None}

    async with WebsocketClient(app).session('/ws/echo/') as ws:
        await ws.send('hi')
        assert await ws.receive_text() == 'hi'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Coroutine
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


@dataclass
class TestResponse:
    """``data`` is the decoded JSON (or text for ``text/*``, else the raw ``body``).

    ``headers`` has lower-case names; a repeated header (``set-cookie``) keeps its
    last value there and every value in ``raw_headers``.
    """

    __test__ = False

    status_code: int
    headers: dict[str, str]
    body: bytes
    data: Any = field(default=None)
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


class APIClient:
    """Call HTTP APIs in-process; each method returns a ``TestResponse``."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def get(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
            query_params: dict[str, Any] | None = None) -> TestResponse:
        return _run(lambda: self.request('GET', path, payload, headers, query_params))

    def post(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
             query_params: dict[str, Any] | None = None) -> TestResponse:
        return _run(lambda: self.request('POST', path, payload, headers, query_params))

    def put(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
            query_params: dict[str, Any] | None = None) -> TestResponse:
        return _run(lambda: self.request('PUT', path, payload, headers, query_params))

    def patch(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
              query_params: dict[str, Any] | None = None) -> TestResponse:
        return _run(lambda: self.request('PATCH', path, payload, headers, query_params))

    def delete(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
               query_params: dict[str, Any] | None = None) -> TestResponse:
        return _run(lambda: self.request('DELETE', path, payload, headers, query_params))

    async def request(self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None,
                      query_params: dict[str, Any] | None = None) -> TestResponse:
        """The async form of every method above."""
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
        response_headers = dict(pairs)
        data: Any = response_body
        if response_headers.get('content-type', '').startswith('application/json'):
            data = orjson.loads(response_body) if response_body else None
        elif response_headers.get('content-type', '').startswith('text/'):
            data = response_body.decode()
        return TestResponse(start.get('status', 500), response_headers, response_body, data, pairs)


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
        self.transcript.append(dict(message))
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
    """

    __test__ = False

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def session(self, path: str, headers: dict[str, str] | None = None,
                query_params: dict[str, Any] | None = None,
                subprotocols: list[str] | None = None) -> WebsocketSession:
        return WebsocketSession(self.app, path, headers, query_params, subprotocols)

    def connect(self, path: str, headers: dict[str, str] | None = None,
                query_params: dict[str, Any] | None = None, messages: list[Any] | None = None,
                idle: float = 0.2, timeout: float = 5.0) -> list[Message]:
        """Connect, send ``messages`` in order, wait until the app closes or stays idle
        for ``idle`` seconds (``timeout`` at most), then disconnect; returns every
        message the app sent."""
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

