"""``parse_query``: the query string reads exactly as ``urllib.parse.parse_qsl`` reads it."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from panther.base_request import parse_query


@pytest.mark.parametrize('query', [
    b'', b'&', b'a', b'a=', b'=b', b'a=1&b=2', b'a=1&a=2', b'a=b=c', b'a=1;b=2', b'&&a=1&&',
    b'authorization=eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.sig-_x',
    b'a%3Db=c', b'%61uthorization=t', b'a+b=c+d', b'x=%ZZ', 'ä=ö'.encode(), b'a=1#frag',
])
def test_matches_parse_qsl(query):
    assert parse_query(query) == dict(parse_qsl(query.decode('latin-1'), keep_blank_values=True))


def test_matches_parse_qsl_on_random_strings():
    pieces = ['a', 'b', '=', '&', 'x=1', '=v', '&&', 'a=b=c', ';', '?', ' ', 'é', '%41', '+', '%']
    rng = random.Random(7)
    for _ in range(5000):
        query = ''.join(rng.choice(pieces) for _ in range(rng.randint(0, 8))).encode()
        assert parse_query(query) == dict(parse_qsl(query.decode('latin-1'), keep_blank_values=True)), query
