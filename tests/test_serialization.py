"""The one JSON encoder used for HTTP bodies and WebSocket frames."""

import pytest
from pydantic import BaseModel

from panther.serialization import dumps, dumps_text, loads


class Item(BaseModel):
    name: str
    count: int


def test_tuples_sets_and_models():
    assert loads(dumps({'t': (1, 2), 's': {3}, 'm': Item(name='a', count=1)})) == {
        't': [1, 2], 's': [3], 'm': {'name': 'a', 'count': 1}}


def test_integers_beyond_64_bits_are_encoded_not_refused():
    big = 2**70
    assert loads(dumps({'n': big, 'nested': [-(2**65)]})) == {'n': big, 'nested': [-(2**65)]}
    assert dumps_text(Item(name='x', count=2**80)) == f'{{"name":"x","count":{2**80}}}'


def test_unknown_types_still_fail_clearly():
    with pytest.raises(TypeError):
        dumps(object())
