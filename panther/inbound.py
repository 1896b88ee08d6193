"""The incoming side of one connection under a rate or idle limit.

When neither ``WS_RATE_LIMIT`` nor ``WS_IDLE_TIMEOUT`` is set, the receive loop
talks to the server's ``receive`` directly and none of this runs. Otherwise
``Inbound`` stands in for ``receive`` and, per incoming message, stamps the
time (read by the idle sweeper, ``panther.idle``) and takes a token from the
bucket. No timer exists per message or per connection.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING

from panther import status
from panther.types import Message, Receive
from panther.websocket_state import WebsocketState

if TYPE_CHECKING:
    from panther.limits import Limits
    from panther.outbox import Outbox

logger = logging.getLogger('panther')


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    __slots__ = ('burst', 'rate', 'stamp', 'tokens')

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class Inbound:
    """A ``receive`` callable that applies the rate limit and records activity."""

    __slots__ = ('bucket', 'last_seen', 'outbox', 'receive')

    def __init__(self, outbox: Outbox, receive: Receive, limits: Limits) -> None:
        now = monotonic()
        self.outbox = outbox
        self.receive = receive
        self.last_seen = now
        rate = limits.rate_limit
        self.bucket = TokenBucket(rate, limits.rate_burst, now) if rate is not None else None

    async def __call__(self) -> Message:
        message = await self.receive()
        if message['type'] == 'websocket.receive':
            now = self.last_seen = monotonic()
            bucket = self.bucket
            if bucket is not None and not bucket.take(now):
                await self._over_rate()
        return message

    async def _over_rate(self) -> None:
        outbox = self.outbox
        if outbox.state is WebsocketState.OPEN:
            logger.info('closing %s with 1008: over WS_RATE_LIMIT', outbox.connection_id)
            if outbox.metrics is not None:
                outbox.metrics.limit_closed('rate')
            # The receive loop skips messages once the state is no longer OPEN,
            # so this message and any that follow never reach the handler.
            await outbox.close(status.WS_1008_POLICY_VIOLATION, 'rate limit exceeded')
