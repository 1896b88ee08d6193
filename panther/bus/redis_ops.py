"""What the Redis bus's writer ships: one record per operation, in send order.

``send``, ``group_send``, ``group_add`` and ``group_discard`` each queue one
record; the writer turns a batch of them into pipelined commands (``RedisBus._ship``).
After a Redis restart (or a cluster failover), what Redis had acknowledged in the
last second is queued again wrapped in ``Resend`` (no caller waits for those): a
targeted message as it was, a group message as one ``GroupCopy`` per worker it
reached, so it goes to those workers only, with the membership epoch each had
then, and membership changes as they were, in order, so a join or leave the lost
data held is made again.
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
class GroupCopy:
    """One worker's copy of a group message; ``epoch`` is that worker's join epoch for the
    group when the message was first sent (it delivers only to members that joined by then)."""

    worker: str
    data: bytes
    epoch: int


@dataclass(slots=True, frozen=True)
class Join:
    """A connection of this worker joined ``group``; ``epoch`` is this worker's join count then."""

    group: str
    connection_id: str
    epoch: int


@dataclass(slots=True, frozen=True)
class Leave:
    """A connection of this worker left ``group``; ``last`` if no local member is left."""

    group: str
    connection_id: str
    last: bool


@dataclass(slots=True, frozen=True)
class Resend:
    """An acknowledged operation sent again because Redis restarted (and may have lost it)."""

    message: Sent


Operation = Send | GroupSend | Join | Leave | Resend
#: What the writer keeps, for a while, of what Redis acknowledged.
Sent = Send | GroupCopy | Join | Leave
