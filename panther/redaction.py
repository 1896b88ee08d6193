"""Keep tokens out of server logs.

Browsers cannot set headers on a WebSocket handshake, so tokens travel in the
query string (``?authorization=<token>``), and uvicorn's access and connection
logs print the full path. A filter on those loggers replaces the value with
``[redacted]`` before any handler sees the record.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_TOKEN_IN_QUERY = re.compile(r'((?:^|[?&])(?:authorization|access_token|refresh_token)=)[^&\s"\']+', re.IGNORECASE)
_MARKERS = ('authorization=', 'access_token=', 'refresh_token=')
LOGGERS = ('uvicorn.access', 'uvicorn.error', 'gunicorn.access', 'gunicorn.error')


def redact(text: str) -> str:
    """``text`` with the values of token query parameters replaced by ``[redacted]``."""
    if not any(marker in text.lower() for marker in _MARKERS):
        return text
    return _TOKEN_IN_QUERY.sub(r'\1[redacted]', text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """Redacts token query parameters in a record's message and arguments, keeping their shape
    (uvicorn's access formatter unpacks the arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _clean(value) for key, value in record.args.items()}
        return True


def install() -> None:
    """Add the filter to the server loggers (once)."""
    for name in LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in target.filters):
            target.addFilter(RedactTokens())
