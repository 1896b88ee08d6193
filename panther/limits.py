"""Per-app WebSocket limits, read once from the config when the app is built."""

from __future__ import annotations

from dataclasses import dataclass

from panther.configs import Config


@dataclass(slots=True, frozen=True)
class Limits:
    allowed_origins: frozenset[str] | None
    max_message_size: int
    rate_limit: float | None
    send_queue_size: int
    idle_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_connections: int | None
    shutdown_timeout: float

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        origins = config.WS_ALLOWED_ORIGINS
        return cls(
            allowed_origins=None if origins is None else frozenset(origins),
            max_message_size=config.WS_MAX_MESSAGE_SIZE,
            rate_limit=config.WS_RATE_LIMIT,
            send_queue_size=config.WS_SEND_QUEUE_SIZE,
            idle_timeout=config.WS_IDLE_TIMEOUT,
            ping_interval=config.WS_PING_INTERVAL,
            ping_timeout=config.WS_PING_TIMEOUT,
            max_connections=config.WS_MAX_CONNECTIONS,
            shutdown_timeout=config.WS_SHUTDOWN_TIMEOUT,
        )
