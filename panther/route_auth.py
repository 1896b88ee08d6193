"""Which authentication each route really runs, summarised for the start-up banner.

A route's own ``auth`` (class attribute or ``@API(auth=...)``) wins; otherwise the
configured default (``AUTHENTICATION`` / ``WS_AUTHENTICATION``) runs, and only for
requests that carry credentials; otherwise none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from panther.guards import guard_name


def route_auth(endpoint: Any, default_key: str) -> str:
    """How ``endpoint`` (an ``HTTPEndpoint`` or ``WebsocketEndpoint``) authenticates, in a few words."""
    own = getattr(endpoint, 'auth', None)
    if own is not None:
        return guard_name(own)
    default = getattr(endpoint, 'default_auth', None)
    if default is not None:
        return f'{guard_name(default)} from {default_key}'
    return 'none'


def plural(count: int, noun: str) -> str:
    """``'1 route'``, ``'2 routes'``."""
    return f'{count} {noun}' if count == 1 else f'{count} {noun}s'


def auth_summary(endpoints: Iterable[Any], default_key: str) -> str:
    """``'QueryParamJWTAuthentication (2 routes), none (1 route)'``; ``'no routes'`` when empty.

    Most used first; ties keep route order.
    """
    counts = Counter(route_auth(endpoint, default_key) for endpoint in endpoints)
    if not counts:
        return 'no routes'
    return ', '.join(f'{label} ({plural(n, "route")})' for label, n in counts.most_common())
