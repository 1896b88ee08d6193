"""What the Redis bus's writer ships: one record per operation, in send order.

``send``, ``group_send``, ``group_add`` and ``group_discard`` each queue one
record; the writer turns a batch of them into pipelined commands (``RedisBus._ship``).
After a Redis restart, messages Redis had acknowledged are queued again wrapped
in ``Resend`` (no caller waits for those).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Send:
    """A message for one worker's stream; ``data`` is a record of ``redis_wire``."""

    worker: str
    data: bytes


@dataclass(slots=True, frozen=True)
class GroupSend:
    """A message for every other worker with members of ``group``."""

    group: str
    data: bytes


@dataclass(slots=True, frozen=True)
class Join:
    """A connection of this worker joined ``group``."""

    group: str
    connection_id: str


@dataclass(slots=True, frozen=True)
class Leave:
    """A connection of this worker left ``group``; ``last`` if no local member is left."""

    group: str
    connection_id: str
    last: bool


@dataclass(slots=True, frozen=True)
class Resend:
    """An acknowledged message sent again because Redis restarted (and may have lost it)."""

    message: Send | GroupSend


Operation = Send | GroupSend | Join | Leave | Resend
Message = Send | GroupSend
