"""The explicit state machine of one WebSocket connection, as the application sees it.

CONNECTING --accept()--> OPEN --close() / close from outside / a limit--> CLOSING --peer's disconnect--> CLOSED
CONNECTING --refused / close()--> CLOSED
OPEN --peer left / write failed--> CLOSED

Every public step checks its transition here first, so an illegal sequence fails
loudly in the developer's code instead of reaching the server as an out-of-order
ASGI message.
"""

from __future__ import annotations

import enum


class WebsocketState(enum.Enum):
    """Where a connection is: ``self.state`` on a ``GenericWebsocket``."""

    CONNECTING = 'CONNECTING'
    OPEN = 'OPEN'
    CLOSING = 'CLOSING'
    CLOSED = 'CLOSED'
    #: Earlier name of OPEN, kept for code written against it.
    CONNECTED = 'OPEN'


class WebsocketStateError(RuntimeError):
    """A step that the connection's current state does not allow."""

    def __init__(self, step: str, state: WebsocketState, hint: str = '') -> None:
        message = f'cannot {step}: the connection is {state.value}'
        super().__init__(f'{message} ({hint})' if hint else message)


_HINTS = {
    ('accept()', WebsocketState.OPEN): 'accept() was already called',
    ('accept()', WebsocketState.CLOSING): 'the connection was already closed',
    ('accept()', WebsocketState.CLOSED): 'the connection was already closed or rejected',
    ('send()', WebsocketState.CONNECTING): 'call accept() first',
    ('send()', WebsocketState.CLOSING): 'close() was already called',
    ('send()', WebsocketState.CLOSED): 'the connection was already closed',
    ('close()', WebsocketState.CLOSING): 'close() was already called',
    ('close()', WebsocketState.CLOSED): 'close() was already called or the peer has gone',
}


def check(step: str, state: WebsocketState, allowed: tuple[WebsocketState, ...]) -> None:
    """Raise :class:`WebsocketStateError` unless ``state`` is one of ``allowed``."""
    if state not in allowed:
        raise WebsocketStateError(step, state, _HINTS.get((step, state), ''))
