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

- the handshake is complete;
- the connection is open and no close frame has been sent;
- the transport is not paused: a full write buffer is the server's flow
  control, and the caller must then take the ordinary ASGI path, which waits.

A connection with an extension (permessage-deflate, which browsers ask for)
cannot take the shared bytes: its frames are compressed with a context of its
own. Its writer hands the payload to the WebSocket library's own frame encoder
instead, synchronously, which is what the server's send does minus the
coroutine, the ASGI message and the wait.

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

#: ``writer(send, frame) -> bool``: True if ``frame`` was written to the transport behind ``send``.
DirectWriter = Callable[[Any, bytes], bool]

_LEGACY = ('uvicorn.protocols.websockets.websockets_impl', 'WebSocketProtocol')
_SANSIO = ('uvicorn.protocols.websockets.websockets_sansio_impl', 'WebSocketsSansIOProtocol')

_TEXT = 0x81  # FIN + text opcode
_BINARY = 0x82  # FIN + binary opcode
_short_header = struct.Struct('!BB').pack
_medium_header = struct.Struct('!BBH').pack
_long_header = struct.Struct('!BBQ').pack


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
    """The direct writer for the connection behind an ASGI ``send``, or ``None``.

    Call it once the connection is accepted, then ``writer(send, frame)``. The
    writer is one shared function per protocol class, not a closure per
    connection, so it costs an idle connection no memory.
    """
    protocol = getattr(send, '__self__', None)
    if protocol is None or getattr(protocol, 'transport', None) is None:
        return None
    cls = type(protocol)
    try:
        writer = _writers[cls]
    except KeyError:
        writer = _writers[cls] = _writer_for(cls)
        if writer is not None:
            _open_state()
    if writer is None:
        return None
    # uvicorn internals may change between releases: without every attribute the writer
    # reads, this connection simply uses the ASGI send.
    holders = (protocol, getattr(protocol, 'conn', None)) if writer is _write_sansio else (protocol,)
    needed = _NEEDS[writer]
    if not all(hasattr(holder, name) for holder, names in zip(holders, needed, strict=False) for name in names):
        return None
    return writer


def _writer_for(cls: type) -> DirectWriter | None:
    for base in cls.__mro__:
        key = (base.__module__, base.__qualname__)
        if key == _LEGACY:
            return _write_legacy
        if key == _SANSIO:
            return _write_sansio
    return None


_writers: dict[type, DirectWriter | None] = {}
# What each writer reads: on the protocol, then (sans-I/O) on its websockets connection.
_NEEDS: dict[Any, tuple[tuple[str, ...], ...]] = {}
_open: Any = None


def _open_state() -> Any:
    global _open
    if _open is None:
        # websockets is loaded by now: the protocol object we were handed is built on it.
        _open = sys.modules['websockets.protocol'].State.OPEN
    return _open


def _payload(frame: bytes) -> tuple[int, bytes]:
    """The opcode and payload of a frame built by :func:`wire_frame`."""
    size = frame[1]
    return frame[0] & 0x0F, frame[2 if size < 126 else 4 if size == 126 else 10:]


def _write_legacy(send: Any, frame: bytes) -> bool:
    protocol = send.__self__
    transport = protocol.transport
    # The order follows what most often fails: a paused transport under load.
    if (
        protocol._paused
        or protocol.state is not _open
        or not protocol.handshake_completed_event.is_set()
        or protocol.closed_event.is_set()
        or protocol.initial_response is not None
        or transport.is_closing()
    ):
        return False
    if protocol.extensions:
        # permessage-deflate keeps one compression context per connection: the
        # library's own frame writer encodes the payload with it, in send order.
        protocol.write_frame_sync(True, *_payload(frame))
    else:
        transport.write(frame)
    return True


def _write_sansio(send: Any, frame: bytes) -> bool:
    protocol = send.__self__
    transport = protocol.transport
    connection = protocol.conn
    if (
        not protocol.writable.is_set()
        or connection.state is not _open
        or protocol.close_sent
        or not protocol.handshake_complete
        or protocol.disconnected
        or protocol.initial_response is not None
        or transport.is_closing()
    ):
        return False
    if connection.extensions:
        # What uvicorn's own send does, without its coroutine: the connection encodes
        # the frame with its extensions and hands back the bytes to write.
        opcode, payload = _payload(frame)
        if opcode == 1:
            connection.send_text(payload)
        else:
            connection.send_binary(payload)
        transport.write(b''.join(connection.data_to_send()))
    else:
        transport.write(frame)
    return True


_NEEDS[_write_legacy] = (
    ('transport', '_paused', 'state', 'extensions', 'handshake_completed_event', 'closed_event', 'initial_response',
     'write_frame_sync'),
)
_NEEDS[_write_sansio] = (
    ('transport', 'conn', 'writable', 'close_sent', 'handshake_complete', 'disconnected', 'initial_response'),
    ('state', 'extensions', 'send_text', 'send_binary', 'data_to_send'),
)
