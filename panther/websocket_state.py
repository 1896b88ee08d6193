"""The explicit state machine of one WebSocket connection, as the application sees it.

CONNECTING --accept()--> CONNECTED --close()/peer closes--> CLOSED
CONNECTING --close()/reject--> CLOSED

Every public step checks its transition here first, so an illegal sequence fails
loudly in the developer's code instead of reaching the server as an out-of-order
ASGI message.
"""

from __future__ import annotations

import enum


class WebsocketState(enum.Enum):
    CONNECTING = 'CONNECTING'
    CONNECTED = 'CONNECTED'
    CLOSED = 'CLOSED'


class WebsocketStateError(RuntimeError):
    """A step that the connection's current state does not allow."""

    def __init__(self, step: str, state: WebsocketState, hint: str = '') -> None:
        message = f'cannot {step}: the connection is {state.value}'
        super().__init__(f'{message} ({hint})' if hint else message)


_HINTS = {
    ('accept()', WebsocketState.CONNECTED): 'accept() was already called',
    ('accept()', WebsocketState.CLOSED): 'the connection was already closed or rejected',
    ('send()', WebsocketState.CONNECTING): 'call accept() first',
    ('send()', WebsocketState.CLOSED): 'the connection was already closed',
    ('close()', WebsocketState.CLOSED): 'close() was already called or the peer has gone',
}


def check(step: str, state: WebsocketState, allowed: tuple[WebsocketState, ...]) -> None:
    if state not in allowed:
        raise WebsocketStateError(step, state, _HINTS.get((step, state), ''))
