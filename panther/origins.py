"""Origin validation for WebSocket handshakes, kept apart from everything else.

Browsers always send ``Origin`` on a WebSocket handshake and cannot forge it, so
checking it is what stops another site from opening a connection that rides on
the user's cookies (cross-site WebSocket hijacking). Non-browser clients may omit
it; such handshakes are allowed because they cannot carry a victim's cookies.
"""

from __future__ import annotations

from panther.types import Scope


def origin_of(scope: Scope) -> str | None:
    for key, value in scope.get('headers') or ():
        if key == b'origin' or key.lower() == b'origin':
            return value.decode('latin-1').rstrip('/')
    return None


def origin_allowed(scope: Scope, allowed: frozenset[str] | None) -> bool:
    """``allowed=None`` allows any origin; ``'*'`` in the set does too."""
    if allowed is None or '*' in allowed:
        return True
    origin = origin_of(scope)
    return origin is None or origin in allowed
