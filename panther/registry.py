"""The live connections of this worker and their local group memberships.

Only connections that were accepted are here, by connection id, as their
outboxes (:mod:`panther.outbox`): everything that reaches a connection from
outside goes through its outbox. A connection leaves the moment it ends,
however it ends, taking its memberships with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from panther.outbox import Outbox


class Registry:
    __slots__ = ('connections', 'groups', 'memberships')

    def __init__(self) -> None:
        self.connections: dict[str, Outbox] = {}
        #: group name -> ids of its local members, in the order they joined (a dict used as an
        #: ordered set: a group send then writes to sockets in a stable order, not hash order)
        self.groups: dict[str, dict[str, None]] = {}
        #: connection id -> the groups it is in (only ids in at least one group)
        self.memberships: dict[str, set[str]] = {}

    def add(self, connection_id: str, outbox: Outbox) -> None:
        self.connections[connection_id] = outbox

    def get(self, connection_id: str) -> Outbox | None:
        return self.connections.get(connection_id)

    def remove(self, connection_id: str) -> list[str]:
        """Forget a connection; returns the groups it was still in."""
        self.connections.pop(connection_id, None)
        names = self.memberships.pop(connection_id, None)
        if not names:
            return []
        for name in names:
            self._drop_member(name, connection_id)
        return list(names)

    def join(self, name: str, connection_id: str) -> bool:
        """Add to a group; True if the connection was not a member yet."""
        names = self.memberships.get(connection_id)
        if names is None:
            names = self.memberships[connection_id] = set()
        elif name in names:
            return False
        names.add(name)
        members = self.groups.get(name)
        if members is None:
            self.groups[name] = {connection_id: None}
        else:
            members[connection_id] = None
        return True

    def discard(self, name: str, connection_id: str) -> bool:
        """Remove from a group; True if the connection was a member."""
        names = self.memberships.get(connection_id)
        if not names or name not in names:
            return False
        names.discard(name)
        if not names:
            del self.memberships[connection_id]
        self._drop_member(name, connection_id)
        return True

    def groups_of(self, connection_id: str) -> frozenset[str]:
        return frozenset(self.memberships.get(connection_id, ()))

    def members(self, name: str) -> list[str]:
        return list(self.groups.get(name, ()))

    def _drop_member(self, name: str, connection_id: str) -> None:
        members = self.groups.get(name)
        if members is not None:
            members.pop(connection_id, None)
            if not members:
                del self.groups[name]

    def __len__(self) -> int:
        return len(self.connections)
