"""Bytes the Redis bus puts on the wire and reads back, with no I/O.

Two things live here:

* ``pack``: RESP encoding of the commands the bus's writer and reader send
  over connections they drive themselves. It is the packer redis-py's
  connections use when hiredis is installed (``hiredis.pack_command``, C; its
  asyncio connections still pack in Python), taken directly: the bus's
  arguments are already bytes, so redis-py's per-argument checks in front of
  it would only cost time. Side by side
  (``benchmarks/micro_redis_pack.py``) it beats the hand-written packer this
  module used to have on every command but large XADDs: even on a 64-message
  burst, and about 6 ns per message slower on a full 512-message batch. Without hiredis, redis-py's pure-Python packer.
* The layout of a stream entry. Everything one writer ships to one worker in
  one batch goes into a single entry, so Redis stores, and the reader parses,
  one entry per batch rather than one per message::

      entry = sender worker id (WORKER_ID_LENGTH bytes) + record + record + ...
      record = sequence number (8 bytes, big endian) + length (4 bytes) + message

The sequence number lets a reader drop copies of a message it already
delivered (a batch retried after a lost connection, a resend after a Redis
restart); the length lets a reader split the entry without scanning it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from panther.connection_ids import WORKER_ID_LENGTH

_SEQ = 8
_LEN = 4
RECORD_HEADER = _SEQ + _LEN
#: The largest message one record can carry (the length field's limit).
MAX_MESSAGE = 2**32 - 1


class EntryError(ValueError):
    """A stream entry does not have the layout above (truncated or foreign)."""


def _python_pack() -> Callable[[tuple[bytes, ...]], bytes]:
    from redis.asyncio.connection import Connection

    packer = Connection()  # never connected: only its packer is used

    def pack(args: tuple[bytes, ...]) -> bytes:
        return b''.join(packer.pack_command(*args))

    return pack


# pack(args): one command, a tuple of bytes arguments, in RESP (pack((b'PING',)) == b'*1\r\n$4\r\nPING\r\n').
try:
    from hiredis import pack_command as pack
except ImportError:  # redis-py installed without its hiredis extra
    pack = _python_pack()


def record(seq: int, message: bytes) -> bytes:
    """One message as it sits in an entry, after the sender's id."""
    if len(message) > MAX_MESSAGE:
        raise ValueError(f'a bus message is limited to {MAX_MESSAGE} bytes, got {len(message)}')
    return seq.to_bytes(_SEQ, 'big') + len(message).to_bytes(_LEN, 'big') + message


def split_entry(data: bytes) -> tuple[bytes, Iterator[tuple[int, bytes]]]:
    """The sender's worker id and the entry's (sequence number, message) pairs, in order.

    Raises ``EntryError`` (from the iterator, once it reaches the damage) if a
    record runs past the end; the records before it are still yielded.
    """
    if len(data) < WORKER_ID_LENGTH:
        raise EntryError(f'entry of {len(data)} bytes is shorter than a worker id')
    return data[:WORKER_ID_LENGTH], _records(data, WORKER_ID_LENGTH)


def _records(data: bytes, at: int) -> Iterator[tuple[int, bytes]]:
    end = len(data)
    view = memoryview(data)
    while at < end:
        body = at + RECORD_HEADER
        if body > end:
            raise EntryError(f'record header cut short at byte {at} of {end}')
        seq = int.from_bytes(view[at:at + _SEQ], 'big')
        stop = body + int.from_bytes(view[at + _SEQ:body], 'big')
        if stop > end:
            raise EntryError(f'record at byte {at} claims {stop - body} bytes, {end - body} left')
        yield seq, data[body:stop]
        at = stop


def xread_entries(response: Any) -> list[tuple[bytes, bytes, int | None]]:
    """``(entry id, d field, j field)`` triples from a raw ``XREAD`` reply (RESP2 list or RESP3 map).

    ``j`` is the receiving worker's join epoch on a group message's entry, ``None``
    on others. ``None`` (the block timed out) gives no triples. An entry without a
    ``d`` field yields ``b''`` so the caller still advances past its id.
    """
    if not response:
        return []
    streams = response.values() if isinstance(response, dict) else (item[1] for item in response)
    out: list[tuple[bytes, bytes, int | None]] = []
    for entries in streams:
        for entry_id, fields in entries:
            if not isinstance(fields, dict):
                fields = dict(zip(fields[::2], fields[1::2], strict=False))
            out.append((entry_id, fields.get(b'd', b''), _epoch(fields.get(b'j'))))
    return out


def _epoch(value: bytes | None) -> int | None:
    # A foreign or damaged field filters nothing rather than stopping the reader.
    return int(value) if value is not None and value.isdigit() else None
