"""Writing a ready WebSocket frame straight to uvicorn's transport.

An ASGI ``send`` of one text message goes through the server's send
coroutine, the WebSocket library's frame builder and its flow control: on
this project's benchmark machine that is about as much CPU as the kernel's
own work for the write, and a broadcast pays it once per member. A server
frame is not masked, so without extensions its bytes are the same for every
connection: a group send can build them once and hand them to each member's
transport.

That is only correct while the server itself would write the frame the same
way at that moment, so :func:`direct_writer` returns a writer that checks, on
every call, that

- the handshake is complete and no extension (permessage-deflate) was
  negotiated, since an extension rewrites every frame per connection;
- the connection is open and no close frame has been sent;
- the transport is not paused: a full write buffer is the server's flow
  control, and the caller must then take the ordinary ASGI path, which waits.

When any check fails the writer returns ``False`` and writes nothing; the
caller sends the ASGI message instead. The caller must also only use it while
none of its own ASGI sends is in flight, so frames reach the socket in order.

Only uvicorn's two ``websockets`` protocols are recognised (also under
gunicorn's UvicornWorker), by class, since they are uvicorn internals; for any
other server or protocol (wsproto, the in-process test client)
:func:`direct_writer` returns ``None`` and every send is an ASGI send.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from typing import Any

DirectWriter = Callable[[bytes], bool]

_LEGACY = ('uvicorn.protocols.websockets.websockets_impl', 'WebSocketProtocol')
_SANSIO = ('uvicorn.protocols.websockets.websockets_sansio_impl', 'WebSocketsSansIOProtocol')

_TEXT = 0x81  # FIN + text opcode
_BINARY = 0x82  # FIN + binary opcode
_short_header = struct.Struct('!BB').pack
_medium_header = struct.Struct('!BBH').pack
_long_header = struct.Struct('!BBQ').pack


def encode_frame(message: dict[str, Any]) -> bytes:
    """The frame for an ASGI ``websocket.send`` message (see :func:`wire_frame`)."""
    text = message.get('text')
    return wire_frame(text if text is not None else message['bytes'])


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


def direct_writer(send: Any) -> DirectWriter | None:
    """A direct writer for the connection behind an ASGI ``send``, or ``None``.

    Call it once the connection is accepted.
    """
    protocol = getattr(send, '__self__', None)
    if protocol is None:
        return None
    kind = _kind(type(protocol))
    if kind is _LEGACY:
        return _legacy_writer(protocol)
    if kind is _SANSIO:
        return _sansio_writer(protocol)
    return None


def _kind(cls: type) -> tuple[str, str] | None:
    for base in cls.__mro__:
        key = (base.__module__, base.__qualname__)
        if key == _LEGACY:
            return _LEGACY
        if key == _SANSIO:
            return _SANSIO
    return None


def _open_state() -> Any:
    # websockets is loaded by now: the protocol object that was handed to us is built on it.
    return sys.modules['websockets.protocol'].State.OPEN


def _legacy_writer(protocol: Any) -> DirectWriter | None:
    transport = getattr(protocol, 'transport', None)
    if transport is None:
        return None
    opened = _open_state()
    handshake_done = protocol.handshake_completed_event
    closed = protocol.closed_event

    def write(frame: bytes) -> bool:
        # The order follows what most often fails: a paused transport under load.
        if (
            protocol._paused
            or protocol.state is not opened
            or protocol.extensions
            or not handshake_done.is_set()
            or closed.is_set()
            or protocol.initial_response is not None
            or transport.is_closing()
        ):
            return False
        transport.write(frame)
        return True

    return write


def _sansio_writer(protocol: Any) -> DirectWriter | None:
    transport = getattr(protocol, 'transport', None)
    if transport is None:
        return None
    opened = _open_state()
    connection = protocol.conn
    writable = protocol.writable

    def write(frame: bytes) -> bool:
        if (
            not writable.is_set()
            or connection.state is not opened
            or connection.extensions
            or protocol.close_sent
            or not protocol.handshake_complete
            or protocol.disconnected
            or protocol.initial_response is not None
            or transport.is_closing()
        ):
            return False
        transport.write(frame)
        return True

    return write
