"""Authentication classes: who is making this request or opening this connection.

An authentication is called with the ``Request`` or the WebSocket connection and
returns the user (or ``None`` when no credential was sent); it raises
``AuthenticationAPIError`` to refuse. The JWT classes differ only in where they
read the token:

```python
from panther.authentications import QueryParamJWTAuthentication

AUTHENTICATION = 'panther.authentications.JWTAuthentication'               # Authorization: Bearer <t>
WS_AUTHENTICATION = 'panther.authentications.QueryParamJWTAuthentication'  # ?authorization=<t>

tokens = await JWTAuthentication.login(user)     # {'access_token': ..., 'refresh_token': ...}
tokens = await JWTAuthentication.refresh(tokens['refresh_token'])
await JWTAuthentication.logout(tokens['access_token'])   # needs REDIS
```

A refused credential logs one line, ``<ClassName> Error: "<reason>"``, on the
``panther`` logger; the token itself is never logged.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import jwt

from panther.configs import JWTConfig, config
from panther.exceptions import AuthenticationAPIError, ConfigError, ServiceUnavailableAPIError
from panther.log_masking import install as _mask_tokens_in_server_logs
from panther.log_safety import printable
from panther.token_cache import verified_tokens

__all__ = [
    'BaseAuthentication',
    'CookieJWTAuthentication',
    'JWTAuthentication',
    'QueryParamJWTAuthentication',
]

logger = logging.getLogger('panther')

ACCESS = 'access'
REFRESH = 'refresh'
REVOKED_PREFIX = 'panther:revoked-token:'

# Apps that authenticate by token must not print tokens in uvicorn's access log.
_mask_tokens_in_server_logs()


class BaseAuthentication:
    """Base class of authentication classes.

    Subclasses implement ``async def __call__(self, request_or_connection)`` and
    return the user, or ``None`` for an anonymous caller. To refuse, ``raise
    self.fail('reason')``: it logs the one ERROR line and gives the 401 error
    (an HTTP 401, or a rejected WebSocket handshake). Set the class as an API's
    or a WebSocket's ``auth``, or name it in ``AUTHENTICATION`` /
    ``WS_AUTHENTICATION`` (a dotted path).

    Examples:
        ```python
        class APIKeyAuthentication(BaseAuthentication):
            async def __call__(self, request):
                key = request.headers.x_api_key
                if key is None:
                    return None
                user = await User.find_one(api_key=key)
                if user is None:
                    raise self.fail('Unknown API key')
                return user
        ```
    """

    async def __call__(self, request: Any) -> Any:
        raise NotImplementedError(f'{type(self).__qualname__} must implement "async def __call__(self, request)"')

    def check_config(self) -> None:
        """Raise ``ConfigError`` if the app's configuration cannot serve this class.

        panther calls it once at start-up for every configured authentication.
        """

    @classmethod
    def fail(cls, reason: str) -> AuthenticationAPIError:
        """Log ``<ClassName> Error: "<reason>"`` once at ERROR; return the error to raise.

        Args:
            reason: why the credential is refused; logged (with control
                characters escaped), never sent to the client, which gets
                ``{"detail": "Authentication Error"}``.

        Returns:
            An ``AuthenticationAPIError`` (401): ``raise self.fail('...')``.
        """
        logger.error('%s Error: "%s"', cls.__name__, printable(reason))
        error = AuthenticationAPIError()
        error.logged = True  # type: ignore[attr-defined]  # the handshake must not log it a second time
        return error


def jwt_settings() -> JWTConfig:
    """The app's ``JWT_CONFIG`` (with ``SECRET_KEY`` as the default key), for signing.

    Raises ``ConfigError('JWT_CONFIG', ...)`` when no signing key is configured.
    """
    settings = config.JWT_CONFIG
    if settings is None or not settings.key:
        raise ConfigError(
            'JWT_CONFIG', "JWT authentication needs a signing key: set SECRET_KEY or JWT_CONFIG = {'key': ...}"
        )
    return settings


_NO_KEY_WARNING = (
    "JWT_CONFIG: no signing key (set SECRET_KEY or JWT_CONFIG = {'key': ...}); requests and "
    'handshakes without a token go on with no user, and every token presented is refused'
)
# The keyless JWT_CONFIG of the build last warned about: one warning per app build, however many routes.
_warned_about: JWTConfig | None = None


def _warn_once_if_keyless() -> None:
    global _warned_about
    settings = config.JWT_CONFIG
    if settings is None:
        # This build uses JWT with no key: give it its own settings object, which marks it as warned.
        settings = config.JWT_CONFIG = JWTConfig(key=None)
    if settings.key is None and settings is not _warned_about:
        _warned_about = settings
        logger.warning(_NO_KEY_WARNING)


def _redis() -> Any:
    from panther.db.connections import redis  # redis-py is imported only by apps that use it

    return redis


async def _any_key_exists(*keys: str) -> bool:
    """The revocation lookup: whether Redis holds any of ``keys`` (one EXISTS round trip;
    on a Redis Cluster, one per slot the keys fall in).

    An unreachable Redis is not a bad token: it is logged and refused as an outage,
    ``ServiceUnavailableAPIError`` (503); so is a Redis Cluster in the middle of a failover.
    """
    from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        return bool(await _redis().exists(*keys))
    except (RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError, RedisClusterException) as exc:
        logger.error('Redis unavailable during authentication: %s', ' '.join(str(exc).split()) or type(exc).__name__)
        raise ServiceUnavailableAPIError() from None


@functools.cache
def _checks_are_builtin(cls: type) -> bool:
    # A subclass with its own decode_token or get_user has checks the cache cannot know about.
    return cls.decode_token.__func__ is JWTAuthentication.decode_token.__func__ and \
        cls.get_user.__func__ is JWTAuthentication.get_user.__func__  # type: ignore[attr-defined]


def answers_anonymous_itself(auth: Any) -> bool:
    """Whether ``auth`` returns ``None`` by itself for a caller without its credential.

    True for instances of the built-in JWT classes and of subclasses that keep their
    ``__call__`` and ``get_token``: there, the WebSocket endpoint need not scan the
    handshake for credentials before calling the default ``WS_AUTHENTICATION``.
    """
    cls = type(auth)
    if cls.__call__ is not JWTAuthentication.__call__:
        return False
    get_token = getattr(cls.get_token, '__func__', None)
    return get_token in _BUILTIN_TOKEN_LOOKUPS


def _revocation_key(payload: dict[str, Any], token: str) -> str:
    jti = payload.get('jti')
    if isinstance(jti, str) and jti:
        return REVOKED_PREFIX + jti
    # A token minted without a jti (by another issuer) is identified by its digest.
    return REVOKED_PREFIX + hashlib.sha256(token.encode()).hexdigest()


class JWTAuthentication(BaseAuthentication):
    """JSON Web Tokens from the ``Authorization: Bearer <token>`` header.

    The token is signed with ``JWT_CONFIG['key']`` (default ``SECRET_KEY``) and
    ``JWT_CONFIG['algorithm']`` (default HS256); only that algorithm is accepted.
    Its payload carries ``user_id``, ``token_type`` (``access`` or ``refresh``),
    ``iat``, ``exp`` and ``jti``. The user is loaded by id from ``USER_MODEL``.
    A verified token and its user are kept for ``AUTH_CACHE_TTL`` seconds
    (``panther.token_cache`` says why expiry, revocation and user changes still hold).
    """

    def check_config(self) -> None:
        """Without a signing key, warn once per app build (not an error: every token is then refused)."""
        _warn_once_if_keyless()

    @classmethod
    def get_token(cls, request: Any) -> str | None:
        """The raw token in ``request``, or ``None`` when it has none.

        Raises:
            AuthenticationAPIError: an ``Authorization`` header that is not
                ``Bearer <token>``.
        """
        header = request.headers.get('authorization')
        if header is None or not header.strip():
            return None
        scheme, _, token = header.strip().partition(' ')
        if scheme.lower() != 'bearer' or not token.strip():
            raise cls.fail('Authorization header must be "Bearer <token>"')
        return token.strip()

    async def __call__(self, request: Any) -> Any:
        token = self.get_token(request)
        if token is None:
            return None
        cacheable = verified_tokens.enabled() and _checks_are_builtin(type(self))
        if cacheable:
            cached = verified_tokens.get(token)
            if cached is not None:
                user, redis_keys = cached
                if config.REDIS is None or not await _any_key_exists(*redis_keys):
                    return user
                # Revoked, or the user changed: the full checks below say which.
                verified_tokens.discard(token)
        ticket = verified_tokens.ticket()
        payload = await self.decode_token(token, expected_type=ACCESS)
        user = await self.get_user(payload)
        if cacheable:
            verified_tokens.store(ticket, token, user, float(payload['exp']), _revocation_key(payload, token))
        return user

    # -- tokens -----------------------------------------------------------------

    @classmethod
    def encode_token(cls, user_id: Any, token_type: str = ACCESS) -> str:
        """Sign a new ``access`` or ``refresh`` token for ``user_id``.

        Args:
            user_id: the id the token names (``user.id``).
            token_type: ``'access'`` (lives ``JWT_CONFIG['life_time']``) or
                ``'refresh'`` (lives ``refresh_life_time``).

        Raises:
            ConfigError: no signing key is configured (names ``JWT_CONFIG``).
        """
        settings = jwt_settings()
        life = settings.life_time if token_type == ACCESS else settings.refresh_life_time
        assert life is not None
        now = datetime.now(UTC)
        payload = {
            'user_id': user_id,
            'token_type': token_type,
            'iat': now,
            'exp': now + life,
            # Makes every token unique (two logins in one second) and names it for revocation.
            'jti': secrets.token_hex(16),
        }
        return jwt.encode(payload, settings.key, algorithm=settings.algorithm)

    @classmethod
    async def decode_token(cls, token: str, expected_type: str = ACCESS) -> dict[str, Any]:
        """Verify ``token`` and return its payload; refuse it with ``cls.fail`` otherwise.

        Checks the signature with the configured key and algorithm only, expiry,
        ``token_type``, ``user_id`` and, with Redis configured, revocation.

        Args:
            token: the encoded JWT.
            expected_type: ``'access'`` or ``'refresh'``; a token of the other
                type is refused.

        Raises:
            AuthenticationAPIError: the token is refused (the reason is logged).
        """
        settings = config.JWT_CONFIG
        if settings is None or not settings.key:
            raise cls.fail("Token is invalid (no signing key: set SECRET_KEY or JWT_CONFIG['key'])")
        try:
            payload = jwt.decode(
                token, settings.key, algorithms=[settings.algorithm], options={'require': ['exp', 'iat']}
            )
        except jwt.ExpiredSignatureError:
            raise cls.fail('Token has expired') from None
        except jwt.InvalidSignatureError:
            raise cls.fail('Token signature is invalid') from None
        except jwt.InvalidAlgorithmError:
            raise cls.fail(f'Token is not signed with {settings.algorithm}') from None
        except jwt.MissingRequiredClaimError as exc:
            raise cls.fail(f'Token has no {exc.claim} claim') from None
        except jwt.DecodeError:
            raise cls.fail('Token is malformed') from None
        except jwt.InvalidTokenError as exc:
            raise cls.fail(f'Token is invalid ({type(exc).__name__})') from None
        token_type = payload.get('token_type', ACCESS)
        if token_type != expected_type:
            raise cls.fail(f'Expected a token of type {expected_type!r}, got {token_type!r}')
        if payload.get('user_id') is None:
            raise cls.fail('Payload does not have user_id')
        if config.REDIS is not None and await _any_key_exists(_revocation_key(payload, token)):
            raise cls.fail('Token has been revoked')
        return payload

    @classmethod
    async def get_user(cls, payload: dict[str, Any]) -> Any:
        """Load the user ``payload['user_id']`` names from ``USER_MODEL``; refuse if missing.

        Override it to load users from elsewhere (a subclass with its own
        ``get_user`` or ``decode_token`` is never served from the token cache).

        Raises:
            AuthenticationAPIError: no such user, or a ``user_id`` that is not an id.
        """
        from panther.db.models import get_user_model

        user_id = payload['user_id']
        if isinstance(user_id, bool) or not isinstance(user_id, int | str):
            raise cls.fail('Payload user_id is not an id')
        user = await get_user_model().find_one(id=user_id)
        if user is None:
            raise cls.fail('User not found')
        return user

    # -- sessions ---------------------------------------------------------------

    @classmethod
    async def login(cls, user: Any) -> dict[str, str]:
        """Record the login on ``user`` and return ``{'access_token', 'refresh_token'}``.

        Args:
            user: a stored user (with an ``id``); its ``last_login`` is updated
                when it has ``update_last_login`` (every ``BaseUser`` does).

        Raises:
            ValueError: ``user`` has no ``id`` (it was never stored).
            ConfigError: no signing key is configured (names ``JWT_CONFIG``).

        Examples:
            ```python
            user = await BaseUser.find_one(username='ada')
            if user and await asyncio.to_thread(user.check_password, password):
                return await JWTAuthentication.login(user)
            ```
        """
        if getattr(user, 'id', None) is None:
            raise ValueError('login() needs a stored user (one with an id)')
        tokens = cls._pair(user.id)
        update_last_login = getattr(user, 'update_last_login', None)
        if update_last_login is not None:  # a USER_MODEL that is not a BaseUser may not track it
            await update_last_login()
        return tokens

    @classmethod
    async def refresh(cls, refresh_token: str) -> dict[str, str]:
        """Trade a valid refresh token for a new access and refresh token pair.

        With Redis configured the refresh token used is revoked, so each works once.

        Raises:
            AuthenticationAPIError: the refresh token is refused (expired,
                revoked, an access token, its user gone).
        """
        payload = await cls.decode_token(refresh_token, expected_type=REFRESH)
        await cls.get_user(payload)
        if config.REDIS is not None:
            await cls._revoke(payload, refresh_token)
        return cls._pair(payload['user_id'])

    @classmethod
    async def logout(cls, token: str) -> None:
        """Revoke ``token`` (access or refresh) until it would have expired anyway.

        Every JWT class refuses it from then on, on every worker and machine.

        Args:
            token: the token, with or without a ``Bearer `` prefix. An expired
                one is already refused, and nothing is done.

        Raises:
            ConfigError: ``REDIS`` is not set: without it a JWT stays valid until
                it expires, so this refuses to pretend to log out.
            AuthenticationAPIError: the token is invalid (not one of ours).
        """
        if config.REDIS is None:
            raise ConfigError('REDIS', 'is not set; logout() needs Redis to revoke tokens '
                                       '(without it a token stays valid until it expires)')
        if token.lower().startswith('bearer '):
            token = token[7:].strip()
        settings = jwt_settings()
        try:
            payload = jwt.decode(token, settings.key, algorithms=[settings.algorithm])
        except jwt.ExpiredSignatureError:
            return  # already refused everywhere
        except jwt.InvalidTokenError:
            raise cls.fail('Cannot log out an invalid token') from None
        await cls._revoke(payload, token)
        verified_tokens.discard(token)

    @classmethod
    def _pair(cls, user_id: Any) -> dict[str, str]:
        return {'access_token': cls.encode_token(user_id, ACCESS), 'refresh_token': cls.encode_token(user_id, REFRESH)}

    @classmethod
    async def _revoke(cls, payload: dict[str, Any], token: str) -> None:
        remaining = int(payload.get('exp', 0) - datetime.now(UTC).timestamp()) + 1
        if remaining > 0:
            await _redis().set(_revocation_key(payload, token), b'1', ex=remaining)


class QueryParamJWTAuthentication(JWTAuthentication):
    """JWT from the ``?authorization=<token>`` query parameter, the usual choice for WebSockets
    (browsers cannot set headers on a WebSocket handshake)."""

    @classmethod
    def get_token(cls, request: Any) -> str | None:
        token = request.query_params.get('authorization')
        if token is None or not token.strip():
            return None
        token = token.strip()
        scheme, _, rest = token.partition(' ')
        return rest.strip() if scheme.lower() == 'bearer' and rest.strip() else token


class CookieJWTAuthentication(JWTAuthentication):
    """JWT from the ``access_token`` cookie."""

    @classmethod
    def get_token(cls, request: Any) -> str | None:
        token = request.cookies.get('access_token')
        if token is None or not token.strip():
            return None
        return token.strip()


# The token lookups answers_anonymous_itself() trusts: each returns None when its credential is absent.
_BUILTIN_TOKEN_LOOKUPS = frozenset(
    cls.get_token.__func__  # type: ignore[attr-defined]
    for cls in (JWTAuthentication, QueryParamJWTAuthentication, CookieJWTAuthentication)
)
