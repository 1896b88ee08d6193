"""A Python client for panther WebSocket endpoints that survives network drops (``panther.v1``).

```python
from panther.client import connect, SessionLost

async with connect('ws://127.0.0.1:8000/ws/chat/', token=access_token) as ws:
    await ws.send({'text': 'hi'})
    try:
        message = await ws.recv()        # str for text frames, bytes for binary
    except SessionLost as lost:
        ...                              # messages were missed; ws now runs on a new session
```

When the connection drops, the client reconnects by itself (exponential backoff
with full jitter) and resumes its session: same ``connection_id``, every
message once and in order (docs/protocol.md). If the session cannot be resumed
(the window ran out, the buffer overflowed, ...) the client opens a new one and
``recv()`` raises :class:`SessionLost` once. A close frame from the server ends
the session: ``recv()`` and ``send()`` then raise
``websockets.exceptions.ConnectionClosed``. A server that does not select
``panther.v1`` gets a plain connection, which does not resume; with
``WS_RESUME_WINDOW = 0`` panther selects it but keeps nothing after a drop, so
every drop raises :class:`SessionLost`.

Messages the client sends while its connection is down are sent once it is
back; a message written to a connection that then broke may be lost (the
protocol numbers the server's messages, not the client's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from panther.serialization import encode_payload

__all__ = ['Client', 'SessionLost', 'connect']

logger = logging.getLogger('panther.client')

PROTOCOL = 'panther.v1'


class SessionLost(Exception):
    """The session could not be resumed; the client now runs on a new one and missed messages.

    ``reason`` is the server's (``expired``, ``overflow``, ``invalid``, ``replayed``,
    ``user``, ``unavailable``), ``old_connection_id`` and ``connection_id`` name the
    lost and the new session.
    """

    def __init__(self, reason: str, old_connection_id: str | None, connection_id: str | None) -> None:
        super().__init__(f'session {old_connection_id} lost ({reason}); now {connection_id}')
        self.reason = reason
        self.old_connection_id = old_connection_id
        self.connection_id = connection_id


class Client:
    """One logical connection; use :func:`connect` to get one."""

    def __init__(self, url: str, token: str | None = None, headers: dict[str, str] | None = None,
                 *, backoff: float = 0.1, max_backoff: float = 5.0, ack_interval: float = 0.5,
                 **options: Any) -> None:
        self.url = url
        self.token = token
        self.headers = dict(headers or {})
        self.options = options
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.ack_interval = ack_interval
        self.connection_id: str | None = None
        #: Whether the server gave this connection a session (False: plain frames, no resume).
        self.session = False
        #: How many times the session was resumed (diagnostics and tests).
        self.resumes = 0
        self._ws: ClientConnection | None = None
        self._credential: str | None = None
        self._window = 0.0
        self._ack_every = 250
        self._last = 0  # highest sequence number received
        self._acked = 0
        self._lost: SessionLost | None = None
        self._closed = False
        self._lock = asyncio.Lock()
        self._ack_task: asyncio.Task[None] | None = None

    # -- opening -------------------------------------------------------------------

    def _url(self, resume: bool) -> str:
        parts = urlsplit(self.url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if self.token is not None:
            query.append(('authorization', self.token))
        if resume and self._credential is not None:
            query += [('panther_resume', self._credential), ('panther_seq', str(self._last))]
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def _open(self, resume: bool) -> None:
        ws = await ws_connect(self._url(resume), subprotocols=[PROTOCOL],  # type: ignore[list-item]
                              additional_headers=self.headers or None, **self.options)
        if ws.subprotocol != PROTOCOL:
            self._ws, self.session = ws, False
            self._credential = None
            return
        welcome = json.loads(await ws.recv())
        old = self.connection_id
        self.session = True
        self.connection_id = welcome['connection_id']
        self._credential = welcome['resume']
        self._window = float(welcome['window'])
        self._ack_every = max(1, int(welcome['buffer']) // 4)
        if welcome['resumed']:
            self.resumes += 1
        else:
            if old is not None:
                self._lost = SessionLost(welcome.get('lost') or 'expired', old, self.connection_id)
            self._last = self._acked = 0
        self._ws = ws
        await self._ack(force=True)  # also tells the server this client holds the new credential

    async def __aenter__(self) -> Client:
        await self._open(resume=False)
        self._ack_task = asyncio.get_running_loop().create_task(self._ack_loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = '') -> None:
        """End the session (a deliberate close: it cannot be resumed)."""
        self._closed = True
        if self._ack_task is not None:
            self._ack_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ack_task
        if self._ws is not None:
            await self._ack()
            await self._ws.close(code, reason)

    # -- resuming ------------------------------------------------------------------

    async def _reconnect(self, broken: ClientConnection) -> None:
        """Resume after ``broken`` dropped (once, however many callers noticed)."""
        async with self._lock:
            if self._ws is not broken:
                return  # another caller already reconnected
            dropped = time.monotonic()
            attempt = 0
            while True:
                resume = self._credential is not None and time.monotonic() - dropped < self._window
                await asyncio.sleep(random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt)))
                attempt += 1
                try:
                    await self._open(resume=resume)
                    return
                except InvalidStatus as exc:
                    if exc.response.status_code < 500:
                        raise  # refused by authentication or permissions: retrying will not help
                    logger.debug('reconnect attempt %d refused: %r', attempt, exc)
                except (TimeoutError, OSError, ConnectionClosed, InvalidHandshake) as exc:
                    logger.debug('reconnect attempt %d failed: %r', attempt, exc)

    def _resumable(self, exc: ConnectionClosed) -> bool:
        # A close frame from the server ends the session; a drop (no close frame received) does not.
        return self.session and not self._closed and exc.rcvd is None

    # -- messages --------------------------------------------------------------------

    async def send(self, data: Any) -> None:
        """Send ``data``: ``str`` as text, ``bytes`` as binary, anything else as JSON text."""
        payload = encode_payload(data)
        while True:
            ws = self._ws
            assert ws is not None, 'use "async with connect(...)"'
            try:
                await ws.send(('D' + payload) if self.session and type(payload) is str else payload)
                return
            except ConnectionClosed as exc:
                if not self._resumable(exc):
                    raise
                await self._reconnect(ws)

    async def recv(self) -> str | bytes:
        """The next message: ``str`` for a text frame, ``bytes`` for binary.

        Raises :class:`SessionLost` once when a session could not be resumed, and
        ``ConnectionClosed`` when the server closed the connection.
        """
        while True:
            lost = self._lost
            if lost is not None:
                self._lost = None
                raise lost
            ws = self._ws
            assert ws is not None, 'use "async with connect(...)"'
            try:
                frame = await ws.recv()
            except ConnectionClosed as exc:
                if not self._resumable(exc):
                    raise
                await self._reconnect(ws)
                continue
            if not self.session:
                return frame
            if isinstance(frame, str):
                if frame.startswith('{'):
                    continue  # a control frame this client does not need
                colon = frame.index(':')
                seq, payload = int(frame[:colon]), frame[colon + 1:]
            else:
                seq, payload = int.from_bytes(frame[:8], 'big'), frame[8:]
            if seq != self._last + 1:
                continue  # never delivered twice
            self._last = seq
            if seq - self._acked >= self._ack_every:
                await self._ack()
            return payload

    async def _ack(self, force: bool = False) -> None:
        ws = self._ws
        if ws is None or not self.session or (self._last <= self._acked and not force):
            return
        self._acked = self._last
        with contextlib.suppress(ConnectionClosed):
            await ws.send(f'A{self._last}')

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ack_interval)
            await self._ack()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.recv()
            except ConnectionClosed:
                return


@contextlib.asynccontextmanager
async def connect(url: str, token: str | None = None, headers: dict[str, str] | None = None,
                  **options: Any) -> AsyncIterator[Client]:
    """Connect to ``url`` offering a ``panther.v1`` session; use as ``async with connect(...) as ws``.

    ``token`` goes in the ``authorization`` query parameter (as the browser client
    sends it); ``headers`` are extra handshake headers. ``backoff`` / ``max_backoff``
    (seconds) shape the reconnect delays, ``ack_interval`` how often received
    messages are acknowledged; any other option goes to ``websockets.connect``.
    Raises what ``websockets.connect`` raises when the first handshake fails.
    """
    client = Client(url, token, headers, **options)
    await client.__aenter__()
    try:
        yield client
    finally:
        await client.close()
