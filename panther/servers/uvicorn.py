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

from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from panther.frames import FRAMES_EXTENSION, frame_payload

#: Import string of the protocol class, for uvicorn's ``ws`` setting.
PROTOCOL = 'panther.servers.uvicorn:PantherWebSocketProtocol'

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
