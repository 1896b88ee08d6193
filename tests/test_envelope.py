"""The binary envelope between workers round-trips every kind losslessly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panther import envelope
from panther.connection_ids import new_connection_id, new_worker_id

ID = new_connection_id(new_worker_id())
ids = st.builds(lambda: new_connection_id(new_worker_id()))


@pytest.mark.parametrize('payload', ['hello', '', 'ünïcödé ✓', '{"a": 1}'])
def test_send_text(payload):
    message = envelope.decode(envelope.encode_send(ID, payload))
    assert (message.kind, message.target, message.payload) == (envelope.SEND_TEXT, ID, payload)
    assert type(message.payload) is str


@pytest.mark.parametrize('payload', [b'', b'\x00\xff', bytes(range(256))])
def test_send_bytes(payload):
    message = envelope.decode(envelope.encode_send(ID, payload))
    assert (message.kind, message.target, message.payload) == (envelope.SEND_BYTES, ID, payload)
    assert type(message.payload) is bytes


@pytest.mark.parametrize(('code', 'reason'), [(1000, ''), (1008, 'kicked'), (4999, 'ünïcödé'), (1011, 'x' * 120)])
def test_close(code, reason):
    message = envelope.decode(envelope.encode_close(ID, code, reason))
    assert (message.kind, message.target, message.code, message.payload) == (envelope.CLOSE, ID, code, reason)


def test_group_with_exclusions():
    other = new_connection_id(new_worker_id())
    message = envelope.decode(envelope.encode_group('room:1', 'hi', (ID, other)))
    assert message.kind == envelope.GROUP_TEXT
    assert (message.target, message.payload, message.exclude) == ('room:1', 'hi', (ID, other))
    binary = envelope.decode(envelope.encode_group('room', b'\x01'))
    assert (binary.kind, binary.payload, binary.exclude) == (envelope.GROUP_BYTES, b'\x01', ())


@given(name=st.text(max_size=50), payload=st.one_of(st.text(), st.binary()), exclude=st.lists(ids, max_size=5))
def test_group_round_trip(name, payload, exclude):
    message = envelope.decode(envelope.encode_group(name, payload, tuple(exclude)))
    assert (message.target, message.payload, message.exclude) == (name, payload, tuple(exclude))
    assert type(message.payload) is type(payload)


@given(payload=st.one_of(st.text(), st.binary()))
def test_send_round_trip(payload):
    message = envelope.decode(envelope.encode_send(ID, payload))
    assert message.payload == payload and type(message.payload) is type(payload)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match='unknown envelope kind'):
        envelope.decode(b'Zjunk')


@given(name=st.text(max_size=50), payload=st.one_of(st.text(), st.binary()), exclude=st.lists(ids, max_size=5),
       more=st.lists(ids, max_size=5))
def test_exclude_more_adds_exclusions_and_keeps_the_rest(name, payload, exclude, more):
    raw = envelope.encode_group(name, payload, tuple(exclude))
    assert envelope.group_name(raw) == name
    message = envelope.decode(envelope.exclude_more(raw, more))
    assert (message.kind, message.target, message.payload) == (raw[:1], name, payload)
    assert set(message.exclude) == set(exclude) | set(more) and len(message.exclude) == len(exclude) + len(more)


def test_exclude_more_refuses_other_kinds_and_too_many():
    assert envelope.group_name(envelope.encode_send(ID, 'x')) is None
    with pytest.raises(ValueError, match='not a group envelope'):
        envelope.exclude_more(envelope.encode_send(ID, 'x'), [ID])
    raw = envelope.encode_group('room', 'x', (ID,) * envelope.MAX_EXCLUDE)
    with pytest.raises(ValueError, match='at most'):
        envelope.exclude_more(raw, [ID])
