"""Bytes the shared-local bus exchanges over its Unix sockets, with no I/O.

A connection between two workers starts with one mode byte:

    M <frame> <frame> ...        a stream of envelopes, one sender to one receiver
        frame = <length:4> <envelope>
    Q <name length:2> <name>     a membership query; the answer, then the connection closes:
        answer = <count:4> <count connection ids, CONNECTION_ID_LENGTH bytes each>

Envelopes (``panther.envelope``) travel as they are; nothing is re-encoded.
"""

from __future__ import annotations

from collections.abc import Iterable

from panther.connection_ids import CONNECTION_ID_LENGTH

STREAM, QUERY = b'M', b'Q'


def frame(message: bytes) -> bytes:
    """``message`` as one frame of a stream."""
    return len(message).to_bytes(4, 'big') + message


def read_frames(buffer: bytearray) -> list[bytes]:
    """Remove every complete frame from the front of ``buffer``; return their envelopes in order."""
    size_total = len(buffer)
    position = 0
    messages = []
    while size_total - position >= 4:
        end = position + 4 + int.from_bytes(buffer[position:position + 4], 'big')
        if end > size_total:
            break
        messages.append(bytes(buffer[position + 4:end]))
        position = end
    if position:
        del buffer[:position]
    return messages


def query(name: str) -> bytes:
    """The membership query for group ``name``, mode byte included."""
    raw_name = name.encode()
    return QUERY + len(raw_name).to_bytes(2, 'big') + raw_name


def read_query(buffer: bytearray) -> str | None:
    """The group name of a complete query in ``buffer`` (after the mode byte), or ``None`` if incomplete."""
    if len(buffer) < 2:
        return None
    size = int.from_bytes(buffer[:2], 'big')
    if len(buffer) < 2 + size:
        return None
    return buffer[2:2 + size].decode()


def answer(members: Iterable[str]) -> bytes:
    """The answer to a membership query: this worker's members of the group."""
    ids = tuple(members)
    return len(ids).to_bytes(4, 'big') + ''.join(ids).encode()


def answer_size(header: bytes) -> int:
    """How many bytes of ids follow an answer's 4-byte ``header``."""
    return int.from_bytes(header, 'big') * CONNECTION_ID_LENGTH


def read_answer(body: bytes) -> list[str]:
    """The connection ids in an answer's body."""
    text = body.decode()
    return [text[i:i + CONNECTION_ID_LENGTH] for i in range(0, len(text), CONNECTION_ID_LENGTH)]
