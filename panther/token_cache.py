"""A short-lived, bounded cache of verified access tokens and their users.

Why: verifying a JWT costs about 100 µs (PyJWT) and loading its user about
190 µs (a hop to the SQLite thread), while a whole handshake without auth takes
about 1 ms. Clients reconnect, open several tabs and send many requests with
one token; after the first, the built-in JWT classes answer from here.

What is kept, per token string: the user, its model and id, the token's ``exp``
and the Redis keys that would say the answer is no longer good. Only a token
that passed every check of the access path is stored (signature with the
configured key and algorithm, ``exp``/``iat``, ``token_type`` access,
``user_id``, not revoked, the user exists); refusals never are. Every caller
gets its own copy of the user, so a handler that changes ``self.user`` changes
nobody else's.

Settings: ``AUTH_CACHE_TTL`` (seconds, default 5; ``None`` turns the cache off)
and ``AUTH_CACHE_SIZE`` (entries, default 10,000; the oldest go first, and
expired ones are dropped as new ones arrive).

Why it is safe, check by check:

- Expiry: a hit is refused from the token's ``exp`` on, exactly as PyJWT
  would, and an entry lives at most ``AUTH_CACHE_TTL`` from the moment its
  lookup started.
- Revocation: with ``REDIS``, every hit asks Redis, in one ``EXISTS``, for the
  token's revocation key (the same round trip an uncached request makes), so a
  ``logout()`` on any worker or machine is seen by the next handshake
  everywhere; ``logout()`` also drops the entry here. Without ``REDIS`` there is
  no revocation (``logout()`` raises ``ConfigError``).
- Refresh tokens: only tokens that passed the access checks get in, and only
  the access path reads the cache, so a refresh token is never an access token.
- User changes and deletion: updates and deletes of the user model through
  ``Model`` in this process drop that user's entries (all of the model's when
  the write is not by id) before the write returns (``panther.db.changes``),
  and a lookup that ran alongside such a write is not stored. With ``REDIS``
  the write also sets ``panther:user-changed:<model>:<id>`` (or
  ``panther:user-changed:<model>``) for ``AUTH_CACHE_TTL`` + 1 s, and the
  ``EXISTS`` of every hit includes both keys, so other workers and machines load
  the user again on the next handshake. No entry outlives a mark that concerns
  it: the entry lives ``AUTH_CACHE_TTL`` from the start of its lookup, which came
  before the write that set the mark. Without ``REDIS``, a write made by
  another process reaches this one within ``AUTH_CACHE_TTL``: that is the bound
  (set ``AUTH_CACHE_TTL = None`` if several workers must see such writes at once
  and there is no Redis).
- Configuration: entries belong to the settings they were verified under; a new
  app build (another key, algorithm, ``USER_MODEL``, ``DATABASE`` or ``REDIS``)
  empties the cache.
- A JWT subclass that overrides ``decode_token`` or ``get_user`` is not cached:
  its own checks run every time.
- Threads and size: one lock guards every change; at most ``AUTH_CACHE_SIZE``
  entries, each at most ``AUTH_CACHE_TTL`` old.
"""

from __future__ import annotations

import copy
import datetime
import enum
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from panther.configs import config
from panther.db.changes import on_rows_changed

__all__ = ['VerifiedTokens', 'user_change_marks', 'verified_tokens']

logger = logging.getLogger('panther')

USER_CHANGED_PREFIX = 'panther:user-changed:'

# Values a caller cannot change in place; anything else in a user is copied for each caller.
_IMMUTABLE = (str, int, float, bytes, type(None), datetime.date, datetime.time, datetime.timedelta,
              Decimal, uuid.UUID, enum.Enum, frozenset)


def user_change_marks(model: type, user_id: Any) -> tuple[str, str]:
    """The Redis keys a change of user ``user_id`` sets: ``(this user's, the whole model's)``."""
    name = f'{USER_CHANGED_PREFIX}{model.__module__}.{model.__qualname__}'
    return f'{name}:{user_id}', name


def _own_copy(user: Any) -> Any:
    """A copy of ``user`` that its caller may change without touching the cached one."""
    clone = copy.copy(user)
    fields = getattr(clone, '__dict__', None)
    if fields is None:
        return copy.deepcopy(user)
    for name, value in fields.items():
        if not isinstance(value, _IMMUTABLE):
            fields[name] = copy.deepcopy(value)
    return clone


@dataclass(frozen=True, slots=True)
class _Entry:
    user: Any
    owner: tuple[type, Any]  # (model, id) of the user
    exp: float  # the token's exp (wall clock)
    deadline: float  # time.monotonic() after which the entry is stale
    redis_keys: tuple[str, ...]  # any of them in Redis: revoked, or the user changed


@dataclass(frozen=True, slots=True)
class Ticket:
    """Taken before a lookup starts; ``store`` keeps its result only if nothing changed meanwhile."""

    generation: int
    started: float


class VerifiedTokens:
    """Token string -> the user it authenticated, for a few seconds; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # oldest first
        self._owners: dict[tuple[type, Any], set[str]] = {}
        self._generation = 0
        self._context: tuple[Any, ...] = ()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, token: object) -> bool:
        return token in self._entries

    @staticmethod
    def enabled() -> bool:
        """Whether ``AUTH_CACHE_TTL`` turns the cache on."""
        return config.AUTH_CACHE_TTL is not None

    @staticmethod
    def _settings() -> tuple[Any, ...]:
        return (config.JWT_CONFIG, config.USER_MODEL, config.DATABASE, config.REDIS,
                config.AUTH_CACHE_TTL, config.AUTH_CACHE_SIZE)

    def _same_settings(self) -> bool:
        context = self._context
        return bool(context) and context[0] is config.JWT_CONFIG and context[1] is config.USER_MODEL \
            and context[2] is config.DATABASE and context[3] is config.REDIS \
            and context[4] is config.AUTH_CACHE_TTL and context[5] is config.AUTH_CACHE_SIZE

    def get(self, token: str) -> tuple[Any, tuple[str, ...]] | None:
        """``(a copy of the user, the Redis keys to check)`` for a live entry, else ``None``."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if time.monotonic() >= entry.deadline or time.time() >= entry.exp or not self._same_settings():
            self.discard(token)
            return None
        return _own_copy(entry.user), entry.redis_keys

    def ticket(self) -> Ticket:
        """Take before verifying a token; pass to ``store``."""
        return Ticket(self._generation, time.monotonic())

    def store(self, ticket: Ticket, token: str, user: Any, exp: float, revocation_key: str) -> None:
        """Keep ``user`` for ``token`` unless something changed since ``ticket`` was taken."""
        ttl, size = config.AUTH_CACHE_TTL, config.AUTH_CACHE_SIZE
        user_id = getattr(user, 'id', None)
        if ttl is None or user_id is None:
            return
        model = type(user)
        entry = _Entry(
            user=_own_copy(user), owner=(model, user_id), exp=exp, deadline=ticket.started + ttl,
            redis_keys=(revocation_key, *user_change_marks(model, user_id)),
        )
        now = time.monotonic()
        with self._lock:
            if ticket.generation != self._generation:
                return  # a user changed or a token was dropped while this lookup ran
            if not self._same_settings():
                self._clear_locked()
                self._context = self._settings()
            self._remove_locked(token)
            while self._entries:
                oldest_token, oldest = next(iter(self._entries.items()))
                if len(self._entries) < size and oldest.deadline > now:
                    break
                self._remove_locked(oldest_token)
            self._entries[token] = entry
            self._owners.setdefault(entry.owner, set()).add(token)

    def discard(self, token: str) -> None:
        """Forget ``token`` (logout, or an entry found stale).

        Unlike a user change this does not void lookups in flight: a revoked token
        stored by one of them is still refused, because every hit asks Redis.
        """
        with self._lock:
            self._remove_locked(token)

    def forget_rows(self, model: type, ids: tuple[Any, ...] | None) -> None:
        """Forget the users ``ids`` of ``model`` (every user of ``model`` when ``ids`` is ``None``)."""
        with self._lock:
            self._generation += 1
            if ids is None:
                owners = [owner for owner in self._owners if owner[0] is model]
            else:
                owners = [(model, user_id) for user_id in ids]
            for owner in owners:
                for token in tuple(self._owners.get(owner, ())):
                    self._remove_locked(token)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._generation += 1
            self._clear_locked()

    def _clear_locked(self) -> None:
        self._entries.clear()
        self._owners.clear()

    def _remove_locked(self, token: str) -> None:
        entry = self._entries.pop(token, None)
        if entry is None:
            return
        tokens = self._owners.get(entry.owner)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._owners[entry.owner]


verified_tokens = VerifiedTokens()
"""The process's cache, used by the built-in JWT classes."""


async def _forget_changed_users(model: type, ids: tuple[Any, ...] | None) -> None:
    from panther.db.models import get_user_model  # the models module imports this one

    if model is not get_user_model():
        return
    verified_tokens.forget_rows(model, ids)
    ttl = config.AUTH_CACHE_TTL
    if ttl is None or config.REDIS is None:
        return
    from panther.db.connections import redis

    keys = [user_change_marks(model, user_id)[0] for user_id in ids] if ids is not None else \
        [user_change_marks(model, None)[1]]
    try:
        for key in keys:
            await redis.set(key, b'1', ex=math.ceil(ttl) + 1)
    except Exception as exc:
        logger.warning('AUTH_CACHE_TTL: could not tell other workers through Redis that %s %s changed (%s); '
                       'they may use their cached copy for up to %s s', model.__name__,
                       'every user' if ids is None else f'id={ids[0]}', exc, ttl)


on_rows_changed(_forget_changed_users)
