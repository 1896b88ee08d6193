"""panther's WebSocket protocol for uvicorn: uvicorn's sans-I/O protocol plus a frame fast path.

``panther run`` and ``panther.workers.UvicornWorker`` select
:class:`PantherWebSocketProtocol` (uvicorn accepts a protocol class for ``ws``).
It behaves exactly like uvicorn's ``websockets-sansio`` protocol and adds the
``panther.frames`` scope extension (:mod:`panther.frames`): a send that need
not wait writes its ready frame to the transport, synchronously and in order,
and a close that a non-reading peer would hold up forever can abort the TCP
connection.

Under plain ``uvicorn main:app`` (any ``--ws``), or any other server, the
extension is absent and every frame is an ASGI send.

This module is the only one in panther that reads uvicorn's or the websockets
library's internals; a uvicorn release that renames one costs speed (the sink
refuses and the ASGI send is used), never a connection.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from panther.frames import FRAMES_EXTENSION, frame_payload
from panther.servers import ADAPTER_ENV

#: Import string of the protocol class, for uvicorn's ``ws`` setting.
PROTOCOL = 'panther.servers.uvicorn:PantherWebSocketProtocol'
#: Import string of the HTTP protocol class (handshake timeout, head size bound), for uvicorn's ``http``.
HTTP_PROTOCOL = 'panther.servers.uvicorn:PantherHttpToolsProtocol'
#: Seconds for a request head (WS_HANDSHAKE_TIMEOUT), handed from ``panther run`` or the gunicorn worker.
HANDSHAKE_TIMEOUT_ENV = 'PANTHER_HANDSHAKE_TIMEOUT'
#: A request head larger than this, or with more header lines, is answered 431 and closed.
MAX_HEAD_BYTES = 8 * 1024
MAX_HEADERS = 128

logger = logging.getLogger('panther')

#: The HTTP protocol subclasses uvicorn's httptools one; without httptools uvicorn keeps h11, untouched.
HAS_HTTPTOOLS = importlib.util.find_spec('httptools') is not None


def announce(app: Any, off_reason: str | None) -> None:
    """Tell the worker processes (through the environment) what panther's protocols and banner read.

    ``off_reason`` is None when panther's WebSocket protocol was selected, else why not
    (shown in the banner); the app's ``WS_HANDSHAKE_TIMEOUT`` goes to the HTTP protocol.
    """
    os.environ[ADAPTER_ENV] = 'uvicorn' if off_reason is None else f'off: {off_reason}'
    limits = getattr(app, 'limits', None)
    if limits is not None:
        os.environ[HANDSHAKE_TIMEOUT_ENV] = str(limits.handshake_timeout or 0)

# Before 0.53 uvicorn builds a refusal with the library's reject(), which already sets
# Content-Length and Content-Type, then appends the app's headers: two Content-Length
# headers make clients drop the response. There, the app's two are left out.
_REJECT_SETS_LENGTH = tuple(int(part) for part in uvicorn.__version__.split('.')[:2]) < (0, 53)
_LENGTH_AND_TYPE = (b'content-length', b'content-type')


class PantherWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol that also offers the ``panther.frames`` extension."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Older uvicorn releases have no `disconnected` flag of their own.
        self.panther_lost = False
        # Mirrors `writable` as a plain attribute: the frame sink reads it on every frame.
        self.panther_paused = False
        # Whether the accepted connection negotiated an extension (permessage-deflate); fixed at accept.
        self.panther_compressed = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.panther_lost = True
        super().connection_lost(exc)
        # A send waiting for a paused transport that is now gone would wait forever
        # on releases that do not release it themselves.
        self.writable.set()

    # Flow control, which uvicorn releases before 0.53 lack in this protocol: a full transport
    # buffer pauses uvicorn's send (and the frame sink), a drained one resumes it.
    def pause_writing(self) -> None:
        self.panther_paused = True
        self.writable.clear()

    def resume_writing(self) -> None:
        self.panther_paused = False
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.handshake_initiated and not self.close_sent:  # a 101 is on its way: the scope exists
            self.scope['extensions'][FRAMES_EXTENSION] = self

    async def send(self, message: Any) -> None:
        kind = message['type']
        if _REJECT_SETS_LENGTH and kind == 'websocket.http.response.start':
            headers = [(k, v) for k, v in message.get('headers', ()) if k.lower() not in _LENGTH_AND_TYPE]
            message = {**message, 'headers': headers}
        await super().send(message)
        if kind == 'websocket.accept':
            self.panther_compressed = bool(self.conn.extensions)
        elif kind == 'websocket.http.response.body' and not message.get('more_body', False):
            # A refusal answered with an HTTP response is a complete handshake: without
            # this, uvicorn logs "ASGI callable returned without completing handshake."
            self.handshake_complete = True

    # -- panther.frames.FrameSink ------------------------------------------------

    def write_frame(self, frame: bytes) -> bool:
        # Ordered by what fails most often: a paused transport under load. The library's own
        # state needs no look: a close from the peer closes the transport (is_closing), one from
        # us sets close_sent, a protocol error or a keepalive timeout does both.
        transport = self.transport
        if (
            self.panther_paused
            or self.close_sent
            or self.panther_lost
            or not self.handshake_complete
            or self.initial_response is not None
            or transport.is_closing()
        ):
            return False
        if self.panther_compressed:
            connection = self.conn
            # permessage-deflate keeps one compression context per connection: the
            # library encodes the payload with it, as uvicorn's own send would.
            is_text, payload = frame_payload(frame)
            if is_text:
                connection.send_text(payload)
            else:
                connection.send_binary(payload)
            transport.write(b''.join(connection.data_to_send()))
        else:
            transport.write(frame)
        return True

    def abort_connection(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def handle_ping(self) -> None:
        # A client that sends pings and never reads would grow the transport's buffer with
        # pongs without bound: while the buffer is over its high-water mark, pongs are dropped.
        output = self.conn.data_to_send()
        if not self.panther_paused:
            self.transport.write(b''.join(output))


def _handshake_timeout() -> float | None:
    value = os.environ.get(HANDSHAKE_TIMEOUT_ENV, '10')
    try:
        seconds = float(value)
    except ValueError:
        return 10.0
    return seconds if seconds > 0 else None


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol
except ImportError:  # httptools is not installed: uvicorn serves HTTP with h11, untouched
    _HttpToolsProtocol = None  # type: ignore[assignment,misc]


if _HttpToolsProtocol is not None:

    class PantherHttpToolsProtocol(_HttpToolsProtocol):  # type: ignore[valid-type,misc]
        """uvicorn's httptools protocol with a deadline and a size bound for every request head.

        A connection that is opened and then sends its request line and headers slowly, or
        never finishes them, is closed when ``WS_HANDSHAKE_TIMEOUT`` runs out (counted from
        the connection, then from the start of each further request on it); a head over
        ``MAX_HEAD_BYTES`` or ``MAX_HEADERS`` lines gets 431 and is closed. Otherwise it is
        uvicorn's protocol unchanged; the WebSocket upgrade goes to ``ws`` as usual.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.panther_timeout = _handshake_timeout()
            self.panther_deadline: Any = None
            self.panther_in_head = False
            self.panther_head_bytes = 0
            self.panther_headers = 0
            self.panther_refused = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._panther_head_starts()

        def connection_lost(self, exc: Exception | None) -> None:
            self._panther_head_ends()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.panther_in_head:
                self.panther_head_bytes += len(data)
            super().data_received(data)
            if self.panther_in_head and (self.panther_head_bytes > MAX_HEAD_BYTES
                                         or self.panther_headers > MAX_HEADERS):
                self._panther_too_large()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self.panther_in_head:
                self._panther_head_starts()

        def on_header(self, name: bytes, value: bytes) -> None:
            super().on_header(name, value)
            self.panther_headers += 1

        def on_headers_complete(self) -> None:
            too_large = self.panther_headers > MAX_HEADERS or sum(
                len(name) + len(value) for name, value in self.headers) + len(self.url) > MAX_HEAD_BYTES
            self._panther_head_ends()
            if too_large:
                self._panther_too_large()
                # Stops the parser: uvicorn turns it into its 400 answer, which send_400_response skips.
                raise RuntimeError('request head too large')
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if not self.panther_refused:
                super().send_400_response(msg)

        def _panther_head_starts(self) -> None:
            self.panther_in_head = True
            self.panther_head_bytes = 0
            self.panther_headers = 0
            if self.panther_timeout is not None and self.panther_deadline is None:
                self.panther_deadline = self.loop.call_later(self.panther_timeout, self._panther_expired)

        def _panther_head_ends(self) -> None:
            self.panther_in_head = False
            if self.panther_deadline is not None:
                self.panther_deadline.cancel()
                self.panther_deadline = None

        def _panther_expired(self) -> None:
            self.panther_deadline = None
            if self.panther_in_head and not self.transport.is_closing():
                logger.info('%s did not send its request head within %s s (WS_HANDSHAKE_TIMEOUT): closed',
                            self._panther_peer(), self.panther_timeout)
                self.transport.close()

        def _panther_peer(self) -> str:
            return f'{self.client[0]}:{self.client[1]}' if self.client else 'a client'

        def _panther_too_large(self) -> None:
            self._panther_head_ends()
            if self.panther_refused or self.transport.is_closing():
                return
            self.panther_refused = True
            logger.info('%s sent a request head over %d bytes or %d header lines: answered 431',
                        self._panther_peer(), MAX_HEAD_BYTES, MAX_HEADERS)
            body = b'{"detail":"Request Header Fields Too Large"}'
            self.transport.write(b'HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n'
                                 b'content-length: %d\r\nconnection: close\r\n\r\n%s' % (len(body), body))
            self.transport.close()
