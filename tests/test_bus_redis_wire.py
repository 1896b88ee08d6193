"""The Redis bus's wire format: RESP packing, entry layout, XREAD replies (no Redis needed)."""

import hiredis
import pytest
from redis.asyncio.connection import Connection

from panther.bus import redis_wire
from panther.connection_ids import WORKER_ID_LENGTH

SENDER = b'w' * WORKER_ID_LENGTH


def test_pack_is_hiredis_and_matches_redis_pys_python_packer():
    assert redis_wire.pack is hiredis.pack_command  # redis[hiredis] is a dependency
    args = (b'XADD', b'panther:bus:stream:abc', b'MAXLEN', b'~', b'100000', b'*', b'd', bytes(range(256)) * 3, b'')
    expected = b''.join(Connection().pack_command(*args))
    assert redis_wire.pack(args) == expected
    assert redis_wire._python_pack()(args) == expected  # the fallback without hiredis


def test_pack_parses_back_as_the_same_arguments():
    # A RESP array of bulk strings is also a valid reply: hiredis reads the arguments back.
    args = (b'SADD', b'key\r\nwith crlf', b'$3\r\n', b'\x00' * 70_000)
    reader = hiredis.Reader()
    reader.feed(redis_wire.pack(args))
    assert reader.gets() == list(args)


@pytest.mark.parametrize('sizes', [[0], [1], [32, 0, 5], [65_536, 1, 70_000], [3] * 500])
def test_entry_round_trip(sizes):
    messages = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    entry = SENDER + b''.join(redis_wire.record(100 + i, m) for i, m in enumerate(messages))
    sender, records = redis_wire.split_entry(entry)
    assert sender == SENDER
    assert list(records) == [(100 + i, m) for i, m in enumerate(messages)]


def test_entry_of_only_a_sender_has_no_records():
    sender, records = redis_wire.split_entry(SENDER)
    assert (sender, list(records)) == (SENDER, [])


def test_large_sequence_numbers_survive():
    entry = SENDER + redis_wire.record(2**64 - 1, b'x')
    assert list(redis_wire.split_entry(entry)[1]) == [(2**64 - 1, b'x')]


def test_entry_shorter_than_a_sender_is_refused():
    with pytest.raises(redis_wire.EntryError, match='shorter than a worker id'):
        redis_wire.split_entry(SENDER[:-1])


_HEADER = redis_wire.RECORD_HEADER


@pytest.mark.parametrize('cut', [1, _HEADER - 1, _HEADER, _HEADER + 4])
def test_truncated_entry_yields_the_intact_records_then_fails(cut):
    good = redis_wire.record(1, b'first')
    damaged = redis_wire.record(2, b'second message')[:cut]
    _, records = redis_wire.split_entry(SENDER + good + damaged)
    assert next(records) == (1, b'first')
    with pytest.raises(redis_wire.EntryError):
        next(records)


def test_record_refuses_what_its_length_field_cannot_hold():
    class Huge(bytes):
        def __len__(self):
            return redis_wire.MAX_MESSAGE + 1

    with pytest.raises(ValueError, match='limited to'):
        redis_wire.record(1, Huge())


def test_xread_entries_resp2_and_resp3():
    entries = [[b'1-0', [b'd', b'one']], [b'1-1', [b'other', b'x', b'd', b'two']], [b'1-2', [b'other', b'y']],
               [b'1-3', [b'd', b'group', b'j', b'17']], [b'1-4', [b'd', b'odd', b'j', b'x1']]]
    expected = [(b'1-0', b'one', None), (b'1-1', b'two', None), (b'1-2', b'', None), (b'1-3', b'group', 17),
                (b'1-4', b'odd', None)]
    assert redis_wire.xread_entries([[b'stream', entries]]) == expected
    assert redis_wire.xread_entries({b'stream': entries}) == expected
    assert redis_wire.xread_entries({b'stream': [[b'1-0', {b'd': b'one', b'j': b'3'}]]}) == [(b'1-0', b'one', 3)]
    assert redis_wire.xread_entries(None) == []
    assert redis_wire.xread_entries([]) == []
