"""The in-process bus: one worker, nothing to carry, no external service."""

from __future__ import annotations

import logging

from panther.bus.base import Bus, Deliver, LocalGroups

logger = logging.getLogger('panther')


class LocalBus(Bus):
    kind = 'in-process'

    async def start(self, worker_id: str, deliver: Deliver, groups: LocalGroups | None = None) -> None:
        self.worker_id = worker_id

    async def stop(self) -> None:
        return None

    async def send(self, worker_id: str, message: bytes) -> None:
        # Only this worker exists, so an id owned by another worker is stale.
        logger.debug('dropped a message for worker %s: no such worker in this process', worker_id)

    async def group_add(self, name: str, connection_id: str) -> None:
        return None

    async def group_discard(self, name: str, connection_id: str) -> None:
        return None

    async def group_send(self, name: str, message: bytes) -> None:
        return None

    async def group_members(self, name: str) -> list[str]:
        return []
