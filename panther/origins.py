"""Origin validation for WebSocket handshakes, kept apart from everything else.

Browsers always send ``Origin`` on a WebSocket handshake and scripts cannot
forge it, so checking it is what stops another site from opening a connection
that rides on the user's cookies (cross-site WebSocket hijacking): the same-origin
policy does not apply to WebSockets.

``WS_ALLOWED_ORIGINS = None`` (the default) allows every origin, which is safe
only when credentials are not sent automatically by the browser (a token in the
query string or a header). ``['https://app.example.com']`` allows exactly those
origins (scheme, host and port, compared case-insensitively); ``'*'`` in the list
allows any. A handshake without ``Origin`` comes from a non-browser client and
is allowed: it cannot carry a victim's cookies.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from panther.types import Scope


def origin_of(scope: Scope) -> str | None:
    for key, value in scope.get('headers') or ():
        if key == b'origin' or key.lower() == b'origin':
            return value.decode('latin-1').rstrip('/').lower()
    return None


def origin_allowed(scope: Scope, allowed: frozenset[str] | None) -> bool:
    """``allowed=None`` allows any origin; ``'*'`` in the set does too."""
    if allowed is None or '*' in allowed:
        return True
    origin = origin_of(scope)
    return origin is None or origin in allowed


def _uses_cookies(guard: Any) -> bool:
    """Whether ``guard`` looks like cookie-based authentication (``CookieJWTAuthentication`` or a subclass).

    Judged by name so that any cookie authentication, built in or the user's, counts.
    """
    if inspect.isfunction(guard) or inspect.ismethod(guard):
        return 'cookie' in f'{guard.__module__}.{guard.__qualname__}'.lower()
    cls = guard if inspect.isclass(guard) else type(guard)
    return any('cookie' in f'{c.__module__}.{c.__qualname__}'.lower() for c in cls.__mro__)


def hijacking_warning(guards: Iterable[tuple[str, Any]], allowed: frozenset[str] | None) -> str | None:
    """The start-up warning for cookie-authenticated WebSockets open to every origin, or None.

    ``guards`` are ``(where, auth)`` pairs: ``('WS_AUTHENTICATION', ...)``, ``('ChatWebsocket.auth', ...)``.
    """
    if allowed is not None and '*' not in allowed:
        return None
    cookie = sorted({where for where, guard in guards if guard is not None and _uses_cookies(guard)})
    if not cookie:
        return None
    return (f'{", ".join(cookie)} authenticate(s) WebSockets with cookies but WS_ALLOWED_ORIGINS allows any '
            'origin: any web site can open an authenticated WebSocket as your user (cross-site WebSocket '
            "hijacking). Set WS_ALLOWED_ORIGINS = ['https://your.site'].")
