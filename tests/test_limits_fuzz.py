"""Random text, bytes and JSON thrown at a typed handler over a real connection.

Whatever arrives, the server answers (``{"ok": ...}`` for a valid ``Order``,
``{"detail": [...]}`` otherwise), keeps the connection open, logs no crash,
and a second connection is not disturbed.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from websockets.sync.client import connect

from tests.limits_app.models import Order
from tests.limits_helpers import limits_server

# Unbounded: integers past 64 bits are legal JSON and must not crash the echo (orjson refuses them).
INTS = st.integers()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTS | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
ORDERS = st.fixed_dictionaries(
    {'item': st.text(max_size=30), 'quantity': INTS},
    optional={'tags': st.lists(st.text(max_size=10), max_size=4)},
)
ORDER_KEYS = st.dictionaries(st.sampled_from(['item', 'quantity', 'tags', 'extra']), JSON_VALUES, max_size=4)
MESSAGES = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    JSON_VALUES.map(json.dumps),
    ORDER_KEYS.map(json.dumps),
    ORDERS.map(json.dumps),
    ORDERS.map(lambda order: json.dumps(order).encode()),  # valid JSON in a binary frame
)


@pytest.fixture(scope='module')
def typed_server():
    with limits_server() as server:
        with connect(server.ws + '/ws/typed', open_timeout=10) as fuzzed, \
                connect(server.ws + '/ws/echo', open_timeout=10) as bystander:
            yield server, fuzzed, bystander


@settings(max_examples=150, deadline=None)
@given(message=MESSAGES)
def test_any_message_gets_an_answer_and_the_connection_stays_open(typed_server, message):
    _, fuzzed, _ = typed_server
    fuzzed.send(message)
    reply = json.loads(fuzzed.recv(timeout=10))
    try:
        order = Order.model_validate_json(message)  # the same model as the handler's: the oracle
    except ValidationError:
        assert set(reply) == {'detail'} and reply['detail'], reply
    else:
        assert reply == json.loads(json.dumps({'ok': order.model_dump()}))


def test_after_the_fuzzing_the_server_is_healthy_and_the_bystander_unaffected(typed_server):
    server, fuzzed, bystander = typed_server
    bystander.send('still there?')
    assert bystander.recv(timeout=10) == 'still there?'
    fuzzed.send(json.dumps({'item': 'book', 'quantity': 1}))
    assert json.loads(fuzzed.recv(timeout=10)) == {'ok': {'item': 'book', 'quantity': 1, 'tags': []}}
    log = server.log()
    assert 'Traceback' not in log and 'raised' not in log, log
