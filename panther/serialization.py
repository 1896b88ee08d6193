"""One JSON encoder for HTTP bodies and WebSocket frames (orjson, pydantic-aware)."""

from __future__ import annotations

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


def dumps(value: Any) -> bytes:
    """Encode ``value`` to JSON bytes; tuples become lists, models become objects."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    return orjson.dumps(value, default=_default, option=_OPTIONS).decode()


loads = orjson.loads
