"""The message bus between workers: one interface, several backends.

The runtime serves everything local itself (a connection or group member living
in this worker never touches the bus); the bus only carries envelopes
(``panther.envelope``) to *other* workers and keeps group membership visible
across them. A backend does not decode envelopes: it calls ``deliver(raw)`` in the
receiving worker, in the order the sender sent them. The one exception: a group
envelope that reaches a worker after some of its connections joined the group may
get those connections added to its exclusions (``envelope.exclude_more``), as a
group message reaches only the connections that were members when it was sent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping

Deliver = Callable[[bytes], None]
#: This worker's live local memberships (group name -> connection ids), owned by the registry.
LocalGroups = Mapping[str, Collection[str]]


class BusError(RuntimeError):
    """A message could not be handed to the bus (for example, its outage buffer is full)."""


class Bus(ABC):
    #: Shown in the start-up banner: 'in-process', 'shared-local', 'redis'.
    kind: str = ''
    #: False while the backend cannot reach the service it needs (the Redis bus during an outage).
    connected: bool = True
    #: How many times the backend got its service back after losing it.
    reconnects: int = 0
    #: Whether sessions keep a copy of themselves in the backend's service, to outlive their worker
    #: (the Redis bus; ``panther.session_mirror`` says what it needs from such a backend).
    mirrors_sessions: bool = False

    @property
    def where(self) -> str:
        """The service the backend talks to, for messages (empty when it needs none)."""
        return ''

    def buffered(self) -> int:
        """Messages waiting in the backend's outage buffer (0 for a backend without one)."""
        return 0

    @abstractmethod
    async def start(self, worker_id: str, deliver: Deliver, groups: LocalGroups | None = None) -> None:
        """Begin receiving envelopes addressed to ``worker_id``.

        ``groups`` is the registry's live view of local memberships; a backend reads it
        (never writes it) to answer membership queries or to re-register after an outage.
        """

    @abstractmethod
    async def stop(self) -> None:
        """Stop receiving and release every resource; must not leave tasks pending."""

    @abstractmethod
    async def send(self, worker_id: str, message: bytes) -> None:
        """Deliver ``message`` to exactly one other worker, in order with earlier sends."""

    @abstractmethod
    async def group_add(self, name: str, connection_id: str) -> None:
        """Record that a connection of this worker joined ``name``."""

    @abstractmethod
    async def group_discard(self, name: str, connection_id: str) -> None:
        """Record that a connection of this worker left ``name``."""

    @abstractmethod
    async def group_send(self, name: str, message: bytes) -> None:
        """Deliver ``message`` once to every *other* worker that has members of ``name``.

        It must not reach members that joined after it was sent, even when it is
        delivered again after an outage of the backend.
        """

    @abstractmethod
    async def group_members(self, name: str) -> list[str]:
        """Connection ids of ``name`` living in *other* workers."""
