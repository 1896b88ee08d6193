"""The live connections of this worker and their local group memberships.

Only connections that were accepted are here; a connection leaves the moment it
ends, however it ends, taking its memberships with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from panther.websocket import GenericWebsocket


class Registry:
    __slots__ = ('connections', 'groups')

    def __init__(self) -> None:
        self.connections: dict[str, GenericWebsocket] = {}
        self.groups: dict[str, set[str]] = {}

    def add(self, connection: GenericWebsocket) -> None:
        self.connections[connection.connection_id] = connection

    def remove(self, connection_id: str) -> list[str]:
        """Forget a connection; returns the groups it was still in."""
        connection = self.connections.pop(connection_id, None)
        if connection is None or not connection._groups:
            return []
        left = list(connection._groups)
        for name in left:
            self.discard(name, connection_id)
        return left

    def join(self, name: str, connection_id: str) -> bool:
        """Add to a group; True if this is the group's first local member."""
        members = self.groups.get(name)
        if members is None:
            self.groups[name] = {connection_id}
            return True
        members.add(connection_id)
        return False

    def discard(self, name: str, connection_id: str) -> bool:
        """Remove from a group; True if the group has no local member left."""
        members = self.groups.get(name)
        if members is None:
            return False
        members.discard(connection_id)
        if not members:
            del self.groups[name]
            return True
        return False

    def __len__(self) -> int:
        return len(self.connections)
