"""What a server adapter may offer the app beyond ASGI: writing ready WebSocket frames.

A server frame is not masked, so without extensions the bytes that carry a
message are the same for every connection. A group send can build them once
and hand them to each member, and a send that need not wait can skip the ASGI
message, the server's send coroutine and its frame builder.

Only a server adapter that knows its server's internals can do that safely
(``panther.servers.uvicorn``). It offers it to the app through the ASGI scope
extension :data:`FRAMES_EXTENSION`, whose value implements :class:`FrameSink`.
Everything else in panther treats ``send`` as opaque; without the extension
every frame is an ordinary ASGI ``websocket.send``.
"""

from __future__ import annotations

import struct
from typing import Protocol

#: Key in ``scope['extensions']`` under which a server adapter offers a :class:`FrameSink`.
FRAMES_EXTENSION = 'panther.frames'

_TEXT = 0x81  # FIN + text opcode
_BINARY = 0x82  # FIN + binary opcode
_short_header = struct.Struct('!BB').pack
_medium_header = struct.Struct('!BBH').pack
_long_header = struct.Struct('!BBQ').pack


class FrameSink(Protocol):
    """The fast path of one connection, as a server adapter offers it."""

    def write_frame(self, frame: bytes) -> bool:
        """Write ``frame`` (built by :func:`wire_frame`) now, or return False and write nothing.

        False means the ordinary ASGI send must be used: the handshake is not
        complete, a close was sent, the peer left, or the transport's buffer is
        full (the server's flow control, which only the ASGI send waits for).
        The caller only calls it while none of its own ASGI sends is in flight,
        so frames reach the socket in order.
        """
        ...

    def abort_connection(self) -> None:
        """Drop the TCP connection at once (a peer that stopped reading); the server then reports the disconnect."""
        ...


def wire_frame(payload: str | bytes) -> bytes:
    """The unmasked, unfragmented frame that carries ``payload``: text for ``str``, binary for ``bytes``.

    >>> wire_frame('hi')
    b'\\x81\\x02hi'
    """
    if type(payload) is str:
        payload = payload.encode()
        first = _TEXT
    else:
        first = _BINARY
    size = len(payload)
    if size < 126:
        return _short_header(first, size) + payload
    if size < 65536:
        return _medium_header(first, 126, size) + payload
    return _long_header(first, 127, size) + payload


def frame_payload(frame: bytes) -> tuple[bool, bytes]:
    """``(is_text, payload)`` of a frame built by :func:`wire_frame`."""
    size = frame[1]
    return frame[0] == _TEXT, frame[2 if size < 126 else 4 if size == 126 else 10:]
