"""Keeping tokens out of the server's logs.

Browsers cannot set headers on a WebSocket handshake, so tokens often travel
in the query string (``?authorization=...``), and uvicorn logs every handshake
and request with its query string. ``MaskSecrets`` replaces the values of the
``authorization``, ``access_token``, ``refresh_token`` and ``token`` query
parameters with ``***``. ``panther run`` installs it on uvicorn's log handlers
through a generated ``--log-config`` file, which uvicorn re-reads in every
``--workers`` and ``--reload`` process; ``install()`` (called when
``panther.authentications`` is imported) also puts it on the uvicorn and gunicorn
loggers, for servers started some other way.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import logging
import os
import re
import tempfile
from typing import Any

SECRET_PARAMETERS = ('authorization', 'access_token', 'refresh_token', 'token')

_SECRET_VALUE = re.compile(
    r'(?i)((?:^|[?&;\s"])(?:' + '|'.join(SECRET_PARAMETERS) + r')=)[^&;#\s"]*'
)


def mask(text: str) -> str:
    """``/ws?authorization=abc&x=1`` -> ``/ws?authorization=***&x=1``."""
    if '=' not in text:
        return text
    return _SECRET_VALUE.sub(r'\1***', text)


class MaskSecrets(logging.Filter):
    """A handler filter that masks secret query parameters in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        args = record.args
        if isinstance(args, tuple):
            if any(isinstance(a, str) and '=' in a for a in args):
                record.args = tuple(mask(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {k: mask(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


SERVER_LOGGERS = ('uvicorn.access', 'uvicorn.error', 'gunicorn.access', 'gunicorn.error')


def install() -> None:
    """Put ``MaskSecrets`` on the server loggers themselves (once)."""
    for name in SERVER_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, MaskSecrets) for f in target.filters):
            target.addFilter(MaskSecrets())


def uvicorn_log_config(use_colors: bool | None = None) -> dict[str, Any]:
    """uvicorn's default logging config with ``MaskSecrets`` on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault('filters', {})['mask_secrets'] = {'()': f'{__name__}.MaskSecrets'}
    for handler in config['handlers'].values():
        handler.setdefault('filters', []).append('mask_secrets')
    if use_colors is not None:
        for formatter in config['formatters'].values():
            formatter['use_colors'] = use_colors
    return config


def write_uvicorn_log_config(use_colors: bool | None = None) -> str:
    """Write ``uvicorn_log_config()`` to a JSON file removed when this process exits; returns its path."""
    fd, path = tempfile.mkstemp(prefix='panther-log-', suffix='.json')
    with os.fdopen(fd, 'w') as file:
        json.dump(uvicorn_log_config(use_colors), file)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
