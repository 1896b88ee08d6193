"""Worker ids and connection ids.

A connection id is 32 lowercase hex characters: the 12-character id of the worker
that owns the connection, then 20 random ones. 48 random bits name a worker
(chosen when it starts) and 80 more name the connection, so ids stay unique across
workers, machines and restarts, and any process can tell from an id alone which
worker to route a message to without asking anyone.
"""

from __future__ import annotations

import secrets

WORKER_ID_LENGTH = 12
CONNECTION_ID_LENGTH = 32


def new_worker_id() -> str:
    return secrets.token_hex(WORKER_ID_LENGTH // 2)


def new_connection_id(worker_id: str) -> str:
    return worker_id + secrets.token_hex((CONNECTION_ID_LENGTH - WORKER_ID_LENGTH) // 2)


_HEX = frozenset('0123456789abcdef')


def is_connection_id(value: object) -> bool:
    """True for a string shaped like one of our ids (32 lowercase hex characters)."""
    return isinstance(value, str) and len(value) == CONNECTION_ID_LENGTH and _HEX.issuperset(value)


def owner_of(connection_id: str) -> str | None:
    """The worker id inside ``connection_id``, or ``None`` if it is not one of ours."""
    if not is_connection_id(connection_id):
        return None
    return connection_id[:WORKER_ID_LENGTH]
