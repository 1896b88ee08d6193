"""Driving one WebSocket connection through its documented flow.

handshake -> origin -> path variables -> auth -> origin of cookie auth -> permissions -> connect()
-> receive() per message -> disconnect() -> cleanup

Everything that can be decided once per class (guards, argument conversion, the
typed-message decoder) is prepared at start-up, so a message only pays for the
size check and the user's ``receive``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from pydantic import BaseModel, ValidationError

from panther import status
from panther.converters import ArgumentPlan, PathVariableError, build_plan
from panther.exceptions import AuthenticationAPIError, ConfigError
from panther.guards import Guard, as_guard, as_guards, guard_name, static_attr
from panther.idle import IdleSweeper
from panther.inbound import Inbound
from panther.log_safety import printable
from panther.origins import cross_site_refusal, origin_allowed, origin_of, uses_cookies
from panther.runtime import Runtime
from panther.types import Receive, Scope, Send
from panther.websocket import GenericWebsocket
from panther.websocket_state import WebsocketState

logger = logging.getLogger('panther')


def _typed_model(cls: type[GenericWebsocket]) -> type[BaseModel] | None:
    """The pydantic model ``receive`` is annotated with, if any."""
    receive = cls.receive
    if receive is GenericWebsocket.receive:
        return None
    try:
        import typing

        hints = typing.get_type_hints(receive)
    except Exception:
        return None
    params = [p for p in inspect.signature(receive).parameters if p != 'self']
    if not params:
        return None
    annotation = hints.get(params[0])
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _validation_detail(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {'loc': list(e['loc']), 'msg': e['msg'], 'type': e['type']}
        for e in error.errors(include_url=False, include_context=False, include_input=False)
    ]


class WebsocketEndpoint:
    """One routed ``GenericWebsocket`` subclass, prepared at start-up."""

    def __init__(self, cls: type[GenericWebsocket], variables: tuple[str, ...], ws_authentication: Guard | None):
        name = cls.__qualname__
        self.cls = cls
        auth = static_attr(cls, 'auth')
        self.auth: Guard | None = as_guard(auth, where=f'{name}.auth') if auth is not None else None
        self.default_auth = ws_authentication
        # A user returned by this auth came from a cookie: such handshakes get the same-origin check.
        self.cookie_auth = uses_cookies(self.auth if self.auth is not None else ws_authentication)
        self.permissions = as_guards(static_attr(cls, 'permissions'), where=f'{name}.permissions')
        self.plan: ArgumentPlan = build_plan(cls.connect, variables, owner=f'{name}.connect()', skip=('self',))
        self.model = _typed_model(cls)
        for hook in ('connect', 'receive', 'disconnect'):
            if not inspect.iscoroutinefunction(getattr(cls, hook)):
                raise ConfigError('URLS', f'{name}.{hook}() must be "async def"')

    def auth_sources(self) -> list[tuple[str, Guard]]:
        """``(where it was configured, auth)`` for the authentication this endpoint uses."""
        if self.auth is not None:
            return [(f'{self.cls.__qualname__}.auth', self.auth)]
        return [('WS_AUTHENTICATION', self.default_auth)] if self.default_auth is not None else []

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, raw: dict[str, str], runtime: Runtime
    ) -> None:
        message = await receive()
        if message['type'] != 'websocket.connect':
            return
        limits = runtime.limits
        # Both checks come before anything the user wrote (auth, permissions, connect).
        if not origin_allowed(scope, limits.allowed_origins):
            logger.info('WebSocket %s rejected: origin %r not in WS_ALLOWED_ORIGINS',
                        printable(scope['path']), origin_of(scope))
            await reject_handshake(send)
            return
        # Counted from here rather than from accept(), so a burst of concurrent
        # handshakes cannot all pass the check while their auth is still running.
        if limits.max_connections is not None and runtime.admitted >= limits.max_connections:
            logger.warning('WebSocket %s rejected: WS_MAX_CONNECTIONS (%d) reached',
                           printable(scope['path']), limits.max_connections)
            await reject_handshake(send)
            return
        runtime.admitted += 1
        try:
            await self._handle(scope, receive, send, raw, runtime)
        finally:
            runtime.admitted -= 1

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, raw: dict[str, str], runtime: Runtime
    ) -> None:
        connection = self.cls()
        connection._setup(scope, send, runtime)
        try:
            kwargs = self.plan.convert(raw)
        except PathVariableError as exc:
            logger.info('WebSocket %s rejected: %s', printable(scope['path']), printable(exc))
            await reject_handshake(send)
            return
        connection.path_variables = kwargs

        if not await self._authenticate(connection):
            await reject_handshake(send)
            return
        if self.cookie_auth and connection.user is not None:
            refusal = cross_site_refusal(scope, runtime.limits.allowed_origins)
            if refusal is not None:
                logger.info('WebSocket %s rejected: %s', printable(scope['path']), refusal)
                await reject_handshake(send)
                return
        if not await self._authorize(connection):
            await reject_handshake(send)
            return

        # What disconnect() hears if the task is cancelled: servers do that when their
        # shutdown timeout runs out (uvicorn's --timeout-graceful-shutdown), so "going away".
        code = status.WS_1001_GOING_AWAY
        try:
            try:
                await connection.connect(**kwargs)
            except Exception:
                logger.exception('%s.connect() raised; connection closed with 1011', self.cls.__qualname__)
                await self._crash(connection)
            if connection._state is WebsocketState.CONNECTING:
                logger.debug('%s.connect() did not accept; handshake rejected', self.cls.__qualname__)
                await reject_handshake(send)
                return
            if connection.connection_id is None:
                return  # closed (rejected) inside connect() before accepting
            # Even when connect() already closed, wait for the peer's side of the closing
            # handshake, so every accepted connection ends through the same path.
            code = await self._serve(connection, receive)
        finally:
            # Also when the task is cancelled: disconnect() runs and the registry forgets it.
            await self._finish(connection, code)

    async def _serve(self, connection: GenericWebsocket, receive: Receive) -> int:
        """Run the receive loop until the connection ends; returns the close code.

        The choice between the bare loop and the one under rate/idle limits is made
        here, once per connection, so an unlimited app pays nothing per message.
        """
        limits = connection._limits
        sweeper = None
        if limits.watches_inbound:
            receive = inbound = Inbound(connection, receive, limits)
            if limits.idle_timeout is not None:
                runtime = connection._runtime
                sweeper = runtime.idle
                if sweeper is None:
                    sweeper = runtime.idle = IdleSweeper(limits.idle_timeout)
                sweeper.watch(inbound)
        try:
            return await self._receive_loop(connection, receive)
        finally:
            if sweeper is not None:
                sweeper.forget(inbound)
            watchdog = connection._close_watchdog
            if watchdog is not None:
                watchdog.cancel()  # it ended in time: nothing to abort

    async def _receive_loop(self, connection: GenericWebsocket, receive: Receive) -> int:
        """The per-message loop; returns the close code."""
        handler = connection.receive
        model = self.model
        max_size = connection._limits.max_message_size
        text_safe = max_size // 4  # a str of this many characters cannot exceed max_size bytes in UTF-8
        while True:
            message = await receive()
            kind = message['type']
            if kind == 'websocket.receive':
                if connection._state is not WebsocketState.CONNECTED:
                    continue  # closing: late messages from the peer are ignored
                data = message.get('text')
                if data is None:
                    data = message.get('bytes') or b''
                    too_big = len(data) > max_size
                else:
                    too_big = len(data) > text_safe and (len(data) > max_size or len(data.encode()) > max_size)
                if too_big:
                    logger.info('closing %s with 1009: message over WS_MAX_MESSAGE_SIZE', connection.connection_id)
                    await connection._send_close(status.WS_1009_MESSAGE_TOO_BIG, 'message too big')
                    continue
                try:
                    if model is None:
                        await handler(data)
                    else:
                        await self._receive_typed(connection, model, data)
                except Exception:
                    logger.exception('%s.receive() raised; connection %s closed with 1011',
                                     self.cls.__qualname__, connection.connection_id)
                    await self._crash(connection)
            elif kind == 'websocket.disconnect':
                code = connection._close_code if connection._closed_by_app else None
                return code or message.get('code', status.WS_1005_NO_STATUS_RCVD)

    async def _receive_typed(self, connection: GenericWebsocket, model: type[BaseModel], data: Any) -> None:
        try:
            value = model.model_validate_json(data)
        except ValidationError as exc:
            await connection.send({'detail': _validation_detail(exc)})
            return
        await connection.receive(value)  # type: ignore[arg-type]

    async def _authenticate(self, connection: GenericWebsocket) -> bool:
        auth = self.auth
        if auth is None:
            auth = self.default_auth
            if auth is None or not connection.has_credentials():
                return True
        try:
            connection.user = await auth(connection)
        except AuthenticationAPIError:
            # The authentication logged its own one-line reason.
            logger.debug('WebSocket %s rejected by authentication', printable(connection.path))
            return False
        except Exception as exc:
            logger.error('%s Error: "%s"', guard_name(auth), printable(exc) or type(exc).__name__)
            return False
        return True

    async def _authorize(self, connection: GenericWebsocket) -> bool:
        for permission in self.permissions:
            try:
                allowed = await permission(connection)
            except Exception:
                logger.exception('permission %r raised; handshake rejected', permission)
                return False
            if not allowed:
                logger.info('WebSocket %s rejected by permission %s', printable(connection.path),
                            getattr(permission, '__qualname__', type(permission).__qualname__))
                return False
        return True

    async def _crash(self, connection: GenericWebsocket) -> None:
        """Close with 1011 (before accept: reject), after whatever was already queued."""
        try:
            await connection._send_close(status.WS_1011_INTERNAL_ERROR, 'Internal Server Error')
        except Exception:
            logger.debug('could not close crashed connection %s', connection.connection_id, exc_info=True)

    async def _finish(self, connection: GenericWebsocket, code: int) -> None:
        """Run ``disconnect`` once and forget the connection, however it ended."""
        connection_id = connection.connection_id
        if connection_id is None:
            return
        if connection._state is WebsocketState.CONNECTED:
            connection._state = WebsocketState.CLOSED
        runtime = connection._runtime
        try:
            await connection.disconnect(code)
        except Exception:
            logger.exception('%s.disconnect() raised', self.cls.__qualname__)
        finally:
            for name in runtime.registry.remove(connection_id):
                try:
                    await runtime._bus().group_discard(name, connection_id)
                except Exception:
                    logger.exception('could not leave group %r for %s', name, connection_id)
            writer = connection._writer
            if writer is not None and not writer.done():
                writer.cancel()


async def reject_handshake(send: Send) -> None:
    """Refuse a handshake; uvicorn answers a close-before-accept with HTTP 403.

    The ``websocket.http.response`` extension could carry the real status, but
    uvicorn's default (sans-I/O) protocol logs a spurious ERROR for every such
    rejection, which would flood logs under a handshake flood.
    """
    await send({'type': 'websocket.close', 'code': status.WS_1008_POLICY_VIOLATION})
