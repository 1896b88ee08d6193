"""Closing connections that have been silent for ``WS_IDLE_TIMEOUT`` seconds.

One sweeper task per worker looks at the last-activity stamp of every watched
connection a few times per timeout, instead of a timer per connection or per
message. A silent connection is closed with 1001 and reason ``'idle timeout'``,
so it is closed between ``timeout`` and ``1.25 * timeout`` after its last message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from time import monotonic

from panther import status
from panther.inbound import Inbound

logger = logging.getLogger('panther')

IDLE_REASON = 'idle timeout'


class IdleSweeper:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # A quarter of the timeout bounds the lateness; the clamp keeps tiny and huge timeouts sane.
        self.period = min(max(timeout / 4, 0.05), 5.0)
        self.watched: set[Inbound] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, inbound: Inbound) -> None:
        self.watched.add(inbound)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name='panther idle sweeper')

    def forget(self, inbound: Inbound) -> None:
        self.watched.discard(inbound)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.watched.clear()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                self.sweep(monotonic())
            except Exception:  # the sweeper must outlive any one bad connection
                logger.exception('idle sweep failed')

    def sweep(self, now: float) -> int:
        """Close every connection silent for longer than the timeout; returns how many."""
        oldest = now - self.timeout
        idle = [inbound for inbound in self.watched if inbound.last_seen < oldest]
        for inbound in idle:
            self.watched.discard(inbound)
            outbox = inbound.outbox
            logger.info('closing %s with 1001: no message for %s s (WS_IDLE_TIMEOUT)',
                        outbox.connection_id, self.timeout)
            if outbox.metrics is not None:
                outbox.metrics.limit_closed('idle')
            outbox.close_soon(status.WS_1001_GOING_AWAY, IDLE_REASON)
        return len(idle)
