"""The shared-local bus's socket bytes: frames and membership queries (no sockets needed)."""

import pytest

from panther.bus import shared_wire
from panther.connection_ids import CONNECTION_ID_LENGTH


@pytest.mark.parametrize('chunk', [1, 3, 4, 5, 7, 1000])
def test_frames_split_anywhere_come_out_whole_and_in_order(chunk):
    messages = [b'', b'x', b'\x00' * 70_000, bytes(range(256)), b'last']
    stream = b''.join(shared_wire.frame(m) for m in messages)
    buffer, got = bytearray(), []
    for i in range(0, len(stream), chunk):
        buffer += stream[i:i + chunk]
        got.extend(shared_wire.read_frames(buffer))
    assert got == messages
    assert buffer == b''


def test_an_incomplete_frame_stays_in_the_buffer():
    buffer = bytearray(shared_wire.frame(b'one') + shared_wire.frame(b'two')[:-1])
    assert shared_wire.read_frames(buffer) == [b'one']
    assert bytes(buffer) == shared_wire.frame(b'two')[:-1]


def test_query_and_answer_round_trip():
    request = shared_wire.query('room é')
    assert request[:1] == shared_wire.QUERY
    body = bytearray(request[1:])
    assert shared_wire.read_query(body[:-1]) is None
    assert shared_wire.read_query(body) == 'room é'
    ids = ['a' * CONNECTION_ID_LENGTH, 'b' * CONNECTION_ID_LENGTH]
    reply = shared_wire.answer(ids)
    assert shared_wire.answer_size(reply[:4]) == len(reply) - 4
    assert shared_wire.read_answer(reply[4:]) == ids
    assert shared_wire.answer([]) == b'\x00\x00\x00\x00'
