"""One JSON encoder for HTTP bodies and WebSocket frames (orjson, pydantic-aware)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic import BaseModel

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode='json')
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f'{type(value).__name__} is not JSON serializable')


def _slow_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    return _default(value)


def _fallback(value: Any) -> bytes:
    # orjson refuses integers beyond 64 bits, which any client can put in a JSON
    # message; the standard library encodes them. Only this rare path pays for it.
    return json.dumps(value, default=_slow_default, separators=(',', ':'), ensure_ascii=False).encode()


def dumps(value: Any) -> bytes:
    """Encode ``value`` to JSON bytes; tuples become lists, models become objects."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if 'Integer exceeds' not in str(exc):
            raise
        return _fallback(value)


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


def encode_payload(data: Any) -> str | bytes:
    """What a WebSocket frame carries: ``str`` as text, bytes as binary, anything else as JSON text."""
    kind = type(data)
    if kind is str or kind is bytes:
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return str(data)
    return dumps_text(data)


loads = orjson.loads
