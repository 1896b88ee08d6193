"""The live configuration of the app built last.

``Panther(...)`` fills ``config`` from the UPPERCASE globals of its configs module;
``config.refresh()`` puts every key back to its default so tests can build several
apps in one process with nothing leaking from one to the next::

    from panther.configs import config

    config.WS_MAX_MESSAGE_SIZE  # 1048576 unless the configs module says otherwise
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any


@dataclass
class JWTConfig:
    # None: no signing key was configured; JWT classes then refuse every token (and cannot sign).
    key: str | None
    algorithm: str = 'HS256'
    life_time: timedelta = timedelta(days=1)
    refresh_life_time: timedelta | None = None

    def __post_init__(self) -> None:
        if self.refresh_life_time is None:
            self.refresh_life_time = self.life_time * 2


@dataclass
class Config:
    # Resolved objects, not dotted paths: the loader imports them once at start-up.
    URLS: dict[str, Any] = field(default_factory=dict)
    SECRET_KEY: str | None = None
    AUTHENTICATION: Any = None
    WS_AUTHENTICATION: Any = None
    JWT_CONFIG: JWTConfig | None = None
    USER_MODEL: Any = None
    DATABASE: dict[str, Any] = field(default_factory=dict)
    REDIS: dict[str, Any] | None = None

    # Bigger HTTP request bodies are answered with 413; None means "no limit".
    HTTP_MAX_BODY_SIZE: int | None = 10 * 1024 * 1024

    # WebSocket limits (SPEC section 4); None means "no limit".
    WS_ALLOWED_ORIGINS: list[str] | None = None
    WS_MAX_MESSAGE_SIZE: int = 1024 * 1024
    WS_RATE_LIMIT: float | None = None
    WS_RATE_LIMIT_BURST: int | None = None  # None: max(1, WS_RATE_LIMIT) messages at once
    WS_SEND_QUEUE_SIZE: int = 1024
    WS_IDLE_TIMEOUT: float | None = None
    WS_PING_INTERVAL: float | None = 20.0
    WS_PING_TIMEOUT: float | None = 20.0
    WS_MAX_CONNECTIONS: int | None = None
    WS_SHUTDOWN_TIMEOUT: float = 5.0
    # How long a close frame may wait behind data the peer does not read before the TCP connection is aborted.
    WS_CLOSE_TIMEOUT: float = 5.0
    # Seconds a client may take to send its request head (handshake included); None: no limit.
    WS_HANDSHAKE_TIMEOUT: float | None = 10.0
    # Write ready frames through the server adapter's frame sink when it offers one (panther.frames).
    WS_DIRECT_WRITE: bool = True
    # Resumable sessions (docs/sessions.md): seconds a session whose client dropped is kept (0: sessions off),
    # and the most messages kept for it.
    WS_RESUME_WINDOW: float = 30.0
    WS_RESUME_BUFFER: int = 1000
    # Where every app serves the browser client (panther/static/panther.js); None: not served.
    WS_CLIENT_PATH: str | None = '/_panther/panther.js'

    # Verified access tokens and their users are kept this many seconds (never past the token's exp);
    # None turns the cache off. See panther.token_cache for why revocation and user changes still hold.
    AUTH_CACHE_TTL: float | None = 5.0
    AUTH_CACHE_SIZE: int = 10_000  # at most this many tokens; the oldest go first

    # How many messages the Redis bus keeps while Redis is unreachable.
    BUS_BUFFER_SIZE: int = 10_000

    # Operating (panther.metrics_export, panther.health): None turns each off.
    METRICS_PATH: str | None = None
    HEALTH_PATH: str | None = None

    # Anything else UPPERCASE in the configs module lands in ``extra``.
    extra: dict[str, Any] = field(default_factory=dict)

    def refresh(self) -> None:
        """Reset every key to its default."""
        for f in fields(self):
            default = f.default_factory() if callable(f.default_factory) else f.default
            setattr(self, f.name, default)

    def _assign(self, other: Config) -> None:
        """Take every key of ``other`` (the app just built becomes the live one)."""
        for f in fields(self):
            value = getattr(other, f.name)
            setattr(self, f.name, dict(value) if f.name == 'extra' else value)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields: user-defined settings.
        try:
            return self.__dict__['extra'][name]
        except KeyError:
            raise AttributeError(f'config has no key {name!r}') from None


config = Config()
