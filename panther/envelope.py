"""The wire format of messages between workers: compact, binary, no JSON on the way.

Every envelope starts with one kind byte. Payloads travel as they will be framed:
text stays text, bytes stay binary.

    S <connection id:32> <utf-8 text>          send a text frame
    B <connection id:32> <bytes>               send a binary frame
    C <connection id:32> <code:2> <reason>     close a connection
    G|H <name len:2> <name> <n:2> <n ids> <payload>   group send (text|binary)
    R <kind> <body>                            session handover (panther.session_handover)
    T <sent at:8> <envelope>                   any of the above, stamped with when it was sent

The stamp (a big-endian double of ``time.time()``) is added only with ``METRICS_PATH``
set, for ``panther_bus_delivery_seconds``; every worker reads stamped envelopes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from panther.connection_ids import CONNECTION_ID_LENGTH as _ID

SEND_TEXT, SEND_BYTES, CLOSE, GROUP_TEXT, GROUP_BYTES = b'S', b'B', b'C', b'G', b'H'
SESSION = b'R'
STAMPED = b'T'
_STAMP = struct.Struct('>d')
_STAMPED_HEADER = 1 + _STAMP.size


@dataclass(slots=True)
class Envelope:
    kind: bytes
    target: str  # a connection id, or a group name for group kinds
    payload: str | bytes = b''
    code: int = 1000
    exclude: tuple[str, ...] = ()
    sent_at: float | None = None  # time.time() at the sender, for stamped envelopes


def stamp(raw: bytes, sent_at: float) -> bytes:
    """``raw`` stamped with ``sent_at`` (the sender's ``time.time()``)."""
    return STAMPED + _STAMP.pack(sent_at) + raw


def unstamped(raw: bytes) -> bytes:
    """``raw`` without its stamp, if it has one."""
    return raw[_STAMPED_HEADER:] if raw[:1] == STAMPED else raw


def _split_stamp(raw: bytes) -> tuple[bytes, bytes]:
    """``(stamp header or b'', envelope)``."""
    if raw[:1] == STAMPED:
        return raw[:_STAMPED_HEADER], raw[_STAMPED_HEADER:]
    return b'', raw


def encode_send(connection_id: str, payload: str | bytes) -> bytes:
    if isinstance(payload, str):
        return SEND_TEXT + connection_id.encode() + payload.encode()
    return SEND_BYTES + connection_id.encode() + payload


def encode_close(connection_id: str, code: int, reason: str) -> bytes:
    return CLOSE + connection_id.encode() + code.to_bytes(2, 'big') + reason.encode()


def encode_group(name: str, payload: str | bytes, exclude: tuple[str, ...] = ()) -> bytes:
    raw_name = name.encode()
    kind, body = (GROUP_TEXT, payload.encode()) if isinstance(payload, str) else (GROUP_BYTES, payload)
    return b''.join((
        kind, len(raw_name).to_bytes(2, 'big'), raw_name,
        len(exclude).to_bytes(2, 'big'), ''.join(exclude).encode(), body,
    ))


#: The most connection ids one group envelope can exclude (its count field's limit).
MAX_EXCLUDE = 0xFFFF


def group_name(raw: bytes) -> str | None:
    """The group a group envelope is for, or ``None`` for any other kind."""
    raw = _split_stamp(raw)[1]
    if raw[:1] not in (GROUP_TEXT, GROUP_BYTES):
        return None
    return raw[3:3 + int.from_bytes(raw[1:3], 'big')].decode()


def exclude_more(raw: bytes, connection_ids: list[str]) -> bytes:
    """The group envelope ``raw`` with ``connection_ids`` added to its exclusions (nothing decoded but the header).

    Raises ``ValueError`` if ``raw`` is not a group envelope or the exclusions would pass ``MAX_EXCLUDE``.
    """
    header, raw = _split_stamp(raw)
    if raw[:1] not in (GROUP_TEXT, GROUP_BYTES):
        raise ValueError(f'not a group envelope: kind {raw[:1]!r}')
    at = 3 + int.from_bytes(raw[1:3], 'big')
    count = int.from_bytes(raw[at:at + 2], 'big') + len(connection_ids)
    if count > MAX_EXCLUDE:
        raise ValueError(f'a group envelope excludes at most {MAX_EXCLUDE} connections, not {count}')
    return b''.join((header, raw[:at], count.to_bytes(2, 'big'), ''.join(connection_ids).encode(), raw[at + 2:]))


def decode(raw: bytes) -> Envelope:
    kind = raw[:1]
    if kind == STAMPED:
        message = decode(raw[_STAMPED_HEADER:])
        message.sent_at = _STAMP.unpack_from(raw, 1)[0]
        return message
    if kind in (SEND_TEXT, SEND_BYTES, CLOSE):
        target = raw[1:1 + _ID].decode()
        rest = raw[1 + _ID:]
        if kind == SEND_TEXT:
            return Envelope(kind, target, rest.decode())
        if kind == SEND_BYTES:
            return Envelope(kind, target, bytes(rest))
        return Envelope(kind, target, rest[2:].decode(), code=int.from_bytes(rest[:2], 'big'))
    if kind in (GROUP_TEXT, GROUP_BYTES):
        name_len = int.from_bytes(raw[1:3], 'big')
        name = raw[3:3 + name_len].decode()
        pos = 3 + name_len
        count = int.from_bytes(raw[pos:pos + 2], 'big')
        pos += 2
        ids = raw[pos:pos + count * _ID].decode()
        exclude = tuple(ids[i:i + _ID] for i in range(0, len(ids), _ID))
        body = raw[pos + count * _ID:]
        payload: str | bytes = body.decode() if kind == GROUP_TEXT else bytes(body)
        return Envelope(kind, name, payload, exclude=exclude)
    if kind == SESSION:
        return Envelope(kind, '')  # read by panther.session_handover, not here
    raise ValueError(f'unknown envelope kind {kind!r}')
