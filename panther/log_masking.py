"""Keeping tokens, and lines a client forged, out of the server's logs.

Browsers cannot set headers on a WebSocket handshake, so tokens often travel
in the query string (``?authorization=...``), and uvicorn logs every handshake
and request with its query string. ``MaskSecrets`` replaces the values of the
``authorization``, ``access_token``, ``refresh_token``, ``token`` and ``panther_resume`` query
parameters with ``***``, and writes the non-printable characters of the
client's text as escapes (``panther.log_safety.printable``). ``panther run``
installs it on uvicorn's log handlers through a generated ``--log-config`` file,
which uvicorn re-reads in every ``--workers`` and ``--reload`` process;
``install()`` (called when ``panther.authentications`` is imported) also puts it
on the uvicorn and gunicorn loggers, for servers started some other way.

A parameter is recognised by its name as the application decodes it, not as it
was sent: ``parse_qsl`` turns ``%61uthorization`` into ``authorization``, so the
mask compares names after percent-decoding (repeatedly, so ``%2561`` counts too)
and without regard to case. It masks more than the authentication reads rather
than less: a value runs to the next ``&``, the only separator ``parse_qsl`` uses,
and names after ``;`` or ``?`` are looked at as well.
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
from urllib.parse import unquote_plus

from panther.log_safety import printable

SECRET_PARAMETERS = ('authorization', 'access_token', 'refresh_token', 'token', 'panther_resume')
_SECRETS = frozenset(SECRET_PARAMETERS)

# A parameter name followed by '=', at the start or after a separator, a space or a quote.
_NAME = re.compile(r'(?:^|(?<=[?&;\s"]))([^=&;?\s"]+)=')
# Where a value ends: the next parameter, or the end of the request line it is quoted in.
_VALUE_END = re.compile(r'&|\s|"(?=\s|$)')
# A name decoded more times than this is not a name anything reads.
_MAX_DECODINGS = 4


def is_secret_name(name: str) -> bool:
    """Whether ``name``, as sent, decodes to one of ``SECRET_PARAMETERS`` (any case, spaces around)."""
    for _ in range(_MAX_DECODINGS + 1):
        if name.strip().lower() in _SECRETS:
            return True
        decoded = unquote_plus(name)
        if decoded == name:
            return False
        name = decoded
    return False


def mask(text: str) -> str:
    """``/ws?authorization=abc&x=1`` -> ``/ws?authorization=***&x=1``; ``%61uthorization=abc`` too."""
    if '=' not in text:
        return text
    parts: list[str] = []
    done = 0
    for match in _NAME.finditer(text):
        if match.start() < done or not is_secret_name(match.group(1)):
            continue
        end = _VALUE_END.search(text, match.end())
        parts += (text[done:match.end()], '***')
        done = end.start() if end else len(text)
    if not parts:
        return text
    parts.append(text[done:])
    return ''.join(parts)


# Request headers gunicorn passes to its access log (as "{name}i" arguments) that hold credentials.
_SECRET_HEADERS = frozenset({'{authorization}i', '{proxy-authorization}i'})


def _clean(value: Any) -> Any:
    return printable(mask(value)) if isinstance(value, str) else value


class MaskSecrets(logging.Filter):
    """A handler filter for server logs: masks secret query parameters, escapes non-printable characters.

    Both apply to a record's arguments (the client's text); the message, which the
    server wrote, is only masked.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_clean(a) for a in args)
        elif isinstance(args, dict):
            record.args = {k: '***' if k in _SECRET_HEADERS else _clean(v) for k, v in args.items()}
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
