"""Origin validation for WebSocket handshakes, kept apart from everything else.

Browsers always send ``Origin`` on a WebSocket handshake and scripts cannot
forge it, so checking it is what stops another site from opening a connection
that rides on the user's cookies (cross-site WebSocket hijacking): the same-origin
policy does not apply to WebSockets.

``WS_ALLOWED_ORIGINS = None`` (the default) allows every origin for handshakes
whose credentials the browser does not send by itself (a token in the query
string or a header); a handshake that a cookie authenticated is accepted only
from the same origin: its ``Origin`` names the host the request was sent to
(the ``Host`` header). ``['https://app.example.com']`` allows exactly those
origins (scheme, host and port, compared case-insensitively) for every
handshake; ``'*'`` in the list allows any, cookies included. A handshake
without ``Origin`` comes from a non-browser client and is allowed: it cannot
carry a victim's cookies.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from panther.types import Scope

_DEFAULT_PORTS = {'http': 80, 'ws': 80, 'https': 443, 'wss': 443}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get('headers') or ():
        if key == name or key.lower() == name:
            return value.decode('latin-1')
    return None


def origin_of(scope: Scope) -> str | None:
    origin = _header(scope, b'origin')
    return None if origin is None else origin.rstrip('/').lower()


def origin_allowed(scope: Scope, allowed: frozenset[str] | None) -> bool:
    """``allowed=None`` allows any origin; ``'*'`` in the set does too."""
    if allowed is None or '*' in allowed:
        return True
    origin = origin_of(scope)
    return origin is None or origin in allowed


def is_same_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin`` (``scheme://host[:port]``) names ``host`` (a ``Host`` header, ``host[:port]``).

    Ports left out mean the scheme's default (80 for http/ws, 443 for https/wss) on both
    sides; names compare without case. ``'null'`` and anything unparsable are not the same origin.
    """
    if not host:
        return False
    try:
        parts = urlsplit(origin.strip().lower())
        target = urlsplit('//' + host.strip().lower())
        default = _DEFAULT_PORTS.get(parts.scheme)
        same_port = (parts.port or default) == (target.port or default)
    except ValueError:  # a port that is not a number
        return False
    return bool(parts.hostname) and default is not None and parts.hostname == target.hostname and same_port


def cross_site_refusal(scope: Scope, allowed: frozenset[str] | None) -> str | None:
    """Why a handshake a cookie authenticated is refused (for a 403), or None to let it through.

    Call it for handshakes whose cookie-based authentication returned a user (see
    ``uses_cookies``). ``allowed`` is ``WS_ALLOWED_ORIGINS``: when it is set, the list
    has already decided and nothing more is refused here. When it is unset the
    handshake must come from the same origin (``is_same_origin`` with the ``Host``
    header), or carry no ``Origin`` (not a browser), or carry no cookie at all.
    """
    if allowed is not None:
        return None
    origin = _header(scope, b'origin')
    if origin is None or _header(scope, b'cookie') is None:
        return None
    host = _header(scope, b'host')
    if is_same_origin(origin, host):
        return None
    return (f'origin {origin!r} is not the host {host!r} and a cookie authenticated the handshake '
            '(WS_ALLOWED_ORIGINS lists the other origins to accept)')


def uses_cookies(guard: Any) -> bool:
    """Whether ``guard`` looks like cookie-based authentication (``CookieJWTAuthentication`` or a subclass).

    Judged by name so that any cookie authentication, built in or the user's, counts:
    a class, a base class or a function with "cookie" in its name.
    """
    if guard is None:
        return False
    if inspect.isfunction(guard) or inspect.ismethod(guard):
        return 'cookie' in f'{guard.__module__}.{guard.__qualname__}'.lower()
    cls = guard if inspect.isclass(guard) else type(guard)
    return any('cookie' in f'{c.__module__}.{c.__qualname__}'.lower() for c in cls.__mro__)


def hijacking_warning(guards: Iterable[tuple[str, Any]], allowed: frozenset[str] | None) -> str | None:
    """The start-up warning for cookie-authenticated WebSockets opened to every origin by ``'*'``, or None.

    ``guards`` are ``(where, auth)`` pairs: ``('WS_AUTHENTICATION', ...)``, ``('ChatWebsocket.auth', ...)``.
    Unset (``None``), ``WS_ALLOWED_ORIGINS`` needs no warning: those handshakes are then
    accepted from the same origin only (``cross_site_refusal``).
    """
    if allowed is None or '*' not in allowed:
        return None
    cookie = sorted({where for where, guard in guards if uses_cookies(guard)})
    if not cookie:
        return None
    return (f"{', '.join(cookie)} authenticate(s) WebSockets with cookies but WS_ALLOWED_ORIGINS has '*': "
            'any web site can open an authenticated WebSocket as your user (cross-site WebSocket hijacking). '
            "List your sites instead (WS_ALLOWED_ORIGINS = ['https://your.site']), or leave it unset to accept "
            'cookie-authenticated handshakes from the same origin only.')
