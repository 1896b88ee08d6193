"""Resume credentials of ``panther.v1`` sessions: ``<connection id>.<nonce>.<mac>``.

The nonce (128 random bits) is what the server remembers for the session; it is
replaced on every resume, so a credential works once. The MAC (HMAC-SHA256 with
``SECRET_KEY`` over the id and the nonce) lets any worker tell a credential it
issued from a forged one without looking anything up, and so tell a forged
credential (``invalid``) from a used one (``replayed``). Without ``SECRET_KEY`` the
MAC is not secret; the stored nonce alone then protects the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from panther.connection_ids import is_connection_id

_NONCE_HEX = 32
_MAC_HEX = 32
_HEX = frozenset('0123456789abcdef')


def new_nonce() -> str:
    return secrets.token_hex(_NONCE_HEX // 2)


def _mac(key: bytes, connection_id: str, nonce: str) -> str:
    return hmac.new(key, f'panther.v1 resume {connection_id} {nonce}'.encode(), hashlib.sha256).hexdigest()[:_MAC_HEX]


def issue(key: bytes, connection_id: str, nonce: str) -> str:
    """The credential a client presents to resume ``connection_id`` while ``nonce`` is current."""
    return f'{connection_id}.{nonce}.{_mac(key, connection_id, nonce)}'


def read(key: bytes, credential: str) -> tuple[str, str] | None:
    """``(connection id, nonce)`` of a credential this deployment issued, or None if malformed or forged."""
    parts = credential.split('.')
    if len(parts) != 3:
        return None
    connection_id, nonce, mac = parts
    if not is_connection_id(connection_id) or len(nonce) != _NONCE_HEX or not _HEX.issuperset(nonce):
        return None
    if not hmac.compare_digest(mac.encode(), _mac(key, connection_id, nonce).encode()):
        return None
    return connection_id, nonce


def same(presented: str, kept: str | None) -> bool:
    """Constant-time comparison of a presented nonce with one the server keeps."""
    return kept is not None and hmac.compare_digest(presented.encode(), kept.encode())
