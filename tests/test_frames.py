"""panther.frames: the ready frames a server adapter writes, byte for byte as the websockets library builds them."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from panther.frames import frame_payload, wire_frame

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 200_000]


@pytest.mark.parametrize('size', SIZES)
def test_text_frames_match_the_websockets_library(size):
    text = 'ü' * (size // 2) + 'x' * (size % 2)
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert wire_frame(text) == expected
    assert frame_payload(expected) == (True, text.encode())


@pytest.mark.parametrize('size', SIZES)
def test_binary_frames_match_the_websockets_library(size):
    data = bytes(i % 251 for i in range(size))
    expected = Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[])
    assert wire_frame(data) == expected
    assert frame_payload(expected) == (False, data)
