"""At a session's home: the user code a relayed connection asks for, run one job at a time, in order.

When a resume lands on another worker, the client's messages still reach the
handler instance that ran ``connect()``: the carrying worker relays them home
(``panther.session_handover``), and home runs ``resumed()``, each ``receive()``
and finally ``disconnect()`` here, in the order they arrived, never two at once,
as the receive loop of a local connection would.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

logger = logging.getLogger('panther')

Job = Callable[[], Awaitable[None]]


class SessionInbox:
    """Jobs for one session's handler, run in the order given."""

    __slots__ = ('_jobs', '_task')

    def __init__(self) -> None:
        self._jobs: deque[Job] = deque()
        self._task: asyncio.Task[None] | None = None

    def put(self, job: Job) -> None:
        """Run ``job`` after every job given before it (never waits the caller)."""
        self._jobs.append(job)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def __len__(self) -> int:
        return len(self._jobs)

    async def _run(self) -> None:
        try:
            while self._jobs:
                job = self._jobs.popleft()
                try:
                    await job()
                except Exception:
                    # The jobs report the user's exceptions themselves; this is a bug of ours.
                    logger.exception('session job failed')
        finally:
            self._task = None
