"""Worker ids and connection ids.

A connection id is 32 lowercase hex characters: the 12-character id of the worker
that owns the connection, then 20 random ones. 48 random bits name a worker
(chosen when it starts) and 80 more name the connection, so ids stay unique across
workers, machines and restarts, and any process can tell from an id alone which
worker to route a message to without asking anyone.
"""

from __future__ import annotations

import os
import secrets

WORKER_ID_LENGTH = 12
CONNECTION_ID_LENGTH = 32
_RANDOM_HEX = CONNECTION_ID_LENGTH - WORKER_ID_LENGTH
# Random parts drawn per os.urandom call: one system call per 256 handshakes instead of one each.
_BATCH = 256
_ready: list[str] = []


def new_worker_id() -> str:
    return secrets.token_hex(WORKER_ID_LENGTH // 2)


def _refill() -> None:
    pool = os.urandom(_RANDOM_HEX // 2 * _BATCH).hex()
    _ready.extend(pool[i:i + _RANDOM_HEX] for i in range(0, len(pool), _RANDOM_HEX))


def new_connection_id(worker_id: str) -> str:
    """``worker_id`` and 80 random bits from the operating system's CSPRNG (as ``secrets`` draws them)."""
    while True:
        try:
            return worker_id + _ready.pop()  # atomic: two threads never get the same part
        except IndexError:
            _refill()


# A forked worker must not hand out the parts its parent drew (they would repeat across workers).
os.register_at_fork(after_in_child=_ready.clear)


_HEX = frozenset('0123456789abcdef')


def is_connection_id(value: object) -> bool:
    """True for a string shaped like one of our ids (32 lowercase hex characters)."""
    return isinstance(value, str) and len(value) == CONNECTION_ID_LENGTH and _HEX.issuperset(value)


def owner_of(connection_id: str) -> str | None:
    """The worker id inside ``connection_id``, or ``None`` if it is not one of ours."""
    if not is_connection_id(connection_id):
        return None
    return connection_id[:WORKER_ID_LENGTH]
