"""Driving one WebSocket connection through its documented flow.

handshake -> origin -> path variables -> auth -> origin of cookie auth -> permissions -> connect()
-> receive() per message -> disconnect() -> cleanup

Everything that can be decided once per class (guards, argument conversion, the
typed-message decoder) is prepared at start-up, so a message only pays for the
size check and the user's ``receive``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from panther import status
from panther.connection_ids import owner_of
from panther.converters import ArgumentPlan, PathVariableError, build_plan
from panther.exceptions import APIError, AuthenticationAPIError, ConfigError
from panther.guards import Guard, as_guard, as_guards, guard_name, static_attr
from panther.idle import IdleSweeper
from panther.inbound import Inbound
from panther.log_safety import printable
from panther.metrics import RouteMetrics, payload_size
from panther.origins import cross_site_refusal, origin_allowed, origin_of, uses_cookies
from panther.outbox import Outbox, refuse_handshake
from panther.resume_credentials import read as read_credential
from panther.runtime import Runtime
from panther.session_handover import Relay
from panther.session_outbox import SessionOutbox, SessionReceive
from panther.sessions import (
    DELIBERATE_CLOSES,
    EXPIRED,
    INVALID,
    PROTOCOL,
    RESUME_PARAMETER,
    SEQ_PARAMETER,
    UNAVAILABLE,
    Session,
    SessionStore,
    identity,
)
from panther.types import Receive, Scope, Send
from panther.websocket import GenericWebsocket, open_connection, rebind_connection, remember_groups
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

    def __init__(self, cls: type[GenericWebsocket], variables: tuple[str, ...], ws_authentication: Guard | None,
                 metrics: RouteMetrics | None = None):
        """``metrics``: the counters of this route when ``METRICS_PATH`` is set (None: nothing is counted)."""
        name = cls.__qualname__
        self.metrics = metrics
        self.cls = cls
        auth = static_attr(cls, 'auth')
        self.auth: Guard | None = as_guard(auth, where=f'{name}.auth') if auth is not None else None
        self.default_auth = ws_authentication
        # A user returned by this auth came from a cookie: such handshakes get the same-origin check.
        self.cookie_auth = uses_cookies(self.auth if self.auth is not None else ws_authentication)
        self.permissions = as_guards(static_attr(cls, 'permissions'), where=f'{name}.permissions')
        self.plan: ArgumentPlan = build_plan(cls.connect, variables, owner=f'{name}.connect()', skip=('self',))
        self.model = _typed_model(cls)
        self.authenticates = self.auth is not None or ws_authentication is not None
        # The default auth runs only for handshakes with credentials; a built-in JWT class says so
        # itself (None without its token), so the handshake need not be scanned for them first.
        jwt_module = sys.modules.get('panther.authentications')  # not imported: no built-in class in use
        self.scans_for_credentials = not (jwt_module is not None and ws_authentication is not None
                                          and jwt_module.answers_anonymous_itself(ws_authentication))
        # GenericWebsocket.disconnect does nothing: a class that keeps it is not called at the end.
        self.calls_disconnect = cls.disconnect is not GenericWebsocket.disconnect
        for hook in ('connect', 'receive', 'disconnect', 'resumed'):
            if hasattr(cls, hook) and not inspect.iscoroutinefunction(getattr(cls, hook)):
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
            self._refused('origin')
            await refuse_handshake(send, scope, 403, 'Origin not allowed')
            return
        # Counted from here rather than from accept(), so a burst of concurrent
        # handshakes cannot all pass the check while their auth is still running.
        if limits.max_connections is not None and runtime.admitted >= limits.max_connections:
            logger.warning('WebSocket %s rejected: WS_MAX_CONNECTIONS (%d) reached',
                           printable(scope['path']), limits.max_connections)
            self._refused('max_connections')
            await refuse_handshake(send, scope, 503, 'Too many connections')
            return
        runtime.admitted += 1
        try:
            # The steps before connect() run in _open; connect(), the receive loop and the end run
            # here, so a connection's task wakes through as few coroutines as possible per message.
            opened = await self._open(scope, receive, send, raw, runtime)
            if opened is None:
                return
            connection, outbox, kwargs = opened
            # What disconnect() hears if the task is cancelled: servers do that when their
            # shutdown timeout runs out (uvicorn's --timeout-graceful-shutdown), so "going away".
            code = status.WS_1001_GOING_AWAY
            crashed = False  # connect() raised before accepting
            try:
                try:
                    await connection.connect(**kwargs)
                except Exception:
                    logger.exception('%s.connect() raised; connection closed with 1011', self.cls.__qualname__)
                    if outbox.state is WebsocketState.CONNECTING:
                        self._refused('connect_error')
                        crashed = True
                    await self._crash(outbox)
                if outbox.state is WebsocketState.CONNECTING:
                    self._refused('not_accepted')
                    logger.info('WebSocket %s rejected: %s.connect() did not accept', printable(scope['path']),
                                self.cls.__qualname__)
                    await outbox.refuse(403, 'Forbidden')
                    return
                if connection.connection_id is None:
                    if not crashed:
                        self._refused('not_accepted')  # closed (rejected) inside connect() before accepting
                    return
                # Even when connect() already closed, wait for the peer's side of the closing
                # handshake, so every accepted connection ends through the same path.
                code = await self._serve(connection, outbox, receive, runtime)
            finally:
                # Also when the task is cancelled: disconnect() runs and the registry forgets it.
                await self._finish(connection, outbox, code, runtime)
        finally:
            runtime.admitted -= 1

    async def _open(
        self, scope: Scope, receive: Receive, send: Send, raw: dict[str, str], runtime: Runtime
    ) -> tuple[GenericWebsocket, Outbox, dict[str, Any]] | None:
        """Everything before connect(); None when the handshake was refused (or a session resumed and ended)."""
        limits = runtime.limits
        outbox: Outbox
        # Also with sessions off (WS_RESUME_WINDOW = 0): a browser fails a handshake that offered a
        # subprotocol the server did not select, so panther.v1 clients always get their framing, and
        # with a window of 0 nothing is kept after a drop.
        if PROTOCOL in (scope.get('subprotocols') or ()):
            outbox = SessionOutbox(send, scope, limits.send_queue_size, limits.close_timeout, limits.direct_write,
                                   runtime.sessions, self.metrics)
        else:
            outbox = Outbox(send, scope, limits.send_queue_size, limits.close_timeout, limits.direct_write,
                            self.metrics)
        connection = open_connection(self.cls, scope, outbox, runtime)
        try:
            kwargs = self.plan.convert(raw)
        except PathVariableError as exc:
            logger.info('WebSocket %s rejected: %s', printable(scope['path']), printable(exc))
            self._refused('path_variable')
            await outbox.refuse(400, str(exc))
            return None
        connection.path_variables = kwargs

        # Each step is awaited only when configured: an app without auth or permissions pays nothing here.
        refusal = await self._authenticate(connection) if self.authenticates else None
        if refusal is not None:
            self._refused('authentication' if refusal[0] == 401 else 'unavailable')
        elif self.cookie_auth and connection.user is not None:
            reason = cross_site_refusal(scope, runtime.limits.allowed_origins)
            if reason is not None:
                logger.info('WebSocket %s rejected: %s', printable(scope['path']), reason)
                refusal = 403, 'Cross-site request refused'
                self._refused('cross_site')
        if refusal is None and self.permissions:
            refusal = await self._authorize(connection)
            if refusal is not None:
                self._refused('permission')
        if refusal is not None:
            await outbox.refuse(*refusal)
            return None
        if isinstance(outbox, SessionOutbox):
            if RESUME_PARAMETER in connection.query_params and await self._resume(
                    connection, outbox, receive, runtime):
                return None
            outbox.pending = scope['path'], identity(connection.user), connection, self
        return connection, outbox, kwargs

    async def _resume(
        self, connection: GenericWebsocket, outbox: SessionOutbox, receive: Receive, runtime: Runtime
    ) -> bool:
        """Resume the session this handshake names; False (with ``outbox.lost`` set) to open a new one instead."""
        store: SessionStore = outbox.store
        if not runtime.started:
            await runtime.start()  # no lifespan: the bus is needed to reach the session's worker
        params = connection.query_params
        found = read_credential(store.key, params[RESUME_PARAMETER])
        if found is None:
            outbox.lost = INVALID
            return False
        connection_id, nonce = found
        try:
            seq = int(params.get(SEQ_PARAMETER) or 0)
        except ValueError:
            seq = -1
        session = store.sessions.get(connection_id)
        if session is None:
            elsewhere = await self._resume_elsewhere(connection, outbox, receive, runtime, connection_id, nonce,
                                                     seq)
            if isinstance(elsewhere, bool):
                return elsewhere
            session = elsewhere
        reason = store.check(session, nonce, seq, connection.path, identity(connection.user))
        if reason is not None:
            logger.info('resume of session %s refused: %s', connection_id, reason)
            outbox.lost = reason
            return False
        store.renew(session, nonce)
        old = session.outbox
        if old is not None:
            # The old connection is still open (a half-open TCP connection, here or on another
            # worker): this resume takes over.
            session.outbox = None
            old.supersede()
        session.stop_clock()
        handler = session.handler
        rebind_connection(handler, connection.scope, outbox, connection.user)
        if not await outbox.accept_resumed(session, seq):
            session.detach(session.drop_code)
            return True
        if connection_id not in store.adoptions.sessions:
            # An adopted session is not listed: what is sent to it goes through its dead worker's
            # stream, in one order with its group messages (panther.session_adoption).
            runtime.registry.add(connection_id, session)
        code = status.WS_1001_GOING_AWAY
        try:
            await self._resumed(handler, outbox)
            code = await self._serve(handler, outbox, receive, runtime)
        finally:
            await self._finish(handler, outbox, code, runtime)
        return True

    async def _resume_elsewhere(
        self, connection: GenericWebsocket, outbox: SessionOutbox, receive: Receive, runtime: Runtime,
        connection_id: str, nonce: str, seq: int,
    ) -> Session | bool:
        """Resume a session this worker does not hold: carried here for its home, or adopted from a dead home.

        Returns the adopted session (to serve as a local one), True when served as a relay,
        False (with ``outbox.lost`` set) when refused.
        """
        store: SessionStore = outbox.store
        home = owner_of(connection_id)
        if home is None or home == runtime.worker_id:
            outbox.lost = store.ending(connection_id) or EXPIRED
            return False
        mirror = store.use_mirror()
        adoptions = store.adoptions
        user_key = identity(connection.user)
        gone = None
        if mirror is not None:  # with Redis: the session may have moved, and survives a dead home
            current = await mirror.home_of(connection_id)
            if current is not None and current != runtime.worker_id:
                home = current
                if await adoptions.gone(home):
                    return await self._adopt(connection, outbox, connection_id, home, nonce, seq, user_key)

                async def gone() -> bool:
                    return await adoptions.gone(home)  # type: ignore[arg-type]
        relay = await store.handover.request(home, connection_id, nonce, seq, connection.path, connection.user,
                                             gone)
        if relay == UNAVAILABLE and gone is not None and await gone():
            return await self._adopt(connection, outbox, connection_id, home, nonce, seq, user_key)
        if isinstance(relay, str):
            logger.info('resume of session %s refused by its worker: %s', connection_id, relay)
            outbox.lost = relay
            return False
        await self._carry(connection, outbox, relay, receive, runtime)
        return True

    async def _adopt(self, connection: GenericWebsocket, outbox: SessionOutbox, connection_id: str, home: str,
                     nonce: str, seq: int, user_key: str) -> Session | bool:
        found = await outbox.store.adoptions.adopt(connection_id, home, connection, self, nonce, seq,
                                                   connection.path, user_key)
        if isinstance(found, str):
            logger.info('resume of session %s (adopted from %s) refused: %s', connection_id, home, found)
            outbox.lost = found
            return False
        connection.connection_id = connection_id
        return found

    async def _carry(
        self, connection: GenericWebsocket, outbox: SessionOutbox, relay: Relay, receive: Receive, runtime: Runtime
    ) -> None:
        """Serve a connection that resumed a session of another worker (panther.session_handover).

        ``connection`` only ran auth and permissions: the session's handler lives at home, which
        runs ``resumed()`` and every ``receive()`` on it; this worker relays the client's messages.
        """
        connection.connection_id = relay.connection_id
        if not await outbox.accept_relayed(relay):
            await relay.connection_ended(outbox, status.WS_1006_ABNORMAL_CLOSURE, False)
            return
        code = status.WS_1001_GOING_AWAY
        try:
            code = await self._serve(connection, outbox, receive, runtime, relay.forward)
        finally:
            await self._finish(connection, outbox, code, runtime)

    # -- SessionServer: the hooks of a session whose connection another worker carries ----------

    async def run_resumed(self, session: Session) -> None:
        """Call ``resumed()`` on the session's handler; if it raises, the connection closes with 1011."""
        if not await self._call_resumed(session.handler):
            session.close_soon(status.WS_1011_INTERNAL_ERROR, 'Internal Server Error')

    async def run_relayed(self, session: Session, data: str | bytes) -> None:
        """Give ``data`` to the handler's ``receive`` (decoded if typed); if it raises, close with 1011.

        The carrying worker checked the size and counted the message.
        """
        connection = session.handler
        try:
            if self.model is None:
                await connection.receive(data)
            else:
                await self._receive_typed(connection, self.model, data)
        except Exception:
            logger.exception('%s.receive() raised; connection %s closed with 1011',
                             self.cls.__qualname__, session.connection_id)
            session.close_soon(status.WS_1011_INTERNAL_ERROR, 'Internal Server Error')

    async def _resumed(self, connection: GenericWebsocket, outbox: Outbox) -> None:
        if not await self._call_resumed(connection):
            await self._crash(outbox)

    async def _call_resumed(self, connection: GenericWebsocket) -> bool:
        """Run the optional ``resumed()`` hook; False (logged) when it raised."""
        hook = getattr(connection, 'resumed', None)
        if hook is None:
            return True
        try:
            await hook()
        except Exception:
            logger.exception('%s.resumed() raised; connection closed with 1011', self.cls.__qualname__)
            return False
        return True

    async def _serve(self, connection: GenericWebsocket, outbox: Outbox, receive: Receive, runtime: Runtime,
                     forward: Callable[[str | bytes], None] | None = None) -> int:
        """Run the receive loop until the connection ends; returns the close code.

        ``forward``: where the client's messages go instead of ``connection.receive`` (a relayed session).

        The choice between the bare loop and the one under rate/idle limits is made
        here, once per connection, so an unlimited app pays nothing per message.
        """
        limits = runtime.limits
        sweeper = None
        if limits.watches_inbound:
            receive = inbound = Inbound(outbox, receive, limits)
            if limits.idle_timeout is not None:
                sweeper = runtime.idle
                if sweeper is None:
                    sweeper = runtime.idle = IdleSweeper(limits.idle_timeout)
                sweeper.watch(inbound)
        if outbox.session is not None:
            receive = SessionReceive(receive, outbox)  # type: ignore[arg-type]
        handler = connection.receive
        model = self.model
        metrics = self.metrics
        max_size = limits.max_message_size
        text_safe = max_size // 4  # a str of this many characters cannot exceed max_size bytes in UTF-8
        open_ = WebsocketState.OPEN
        try:
            # The per-message loop, in this coroutine rather than a helper: one coroutine less
            # for the task to pass through each time a message wakes it.
            while True:
                message = await receive()
                kind = message['type']
                if kind == 'websocket.receive':
                    if outbox.state is not open_:
                        continue  # closing: late messages from the peer are ignored
                    data = message.get('text')
                    if data is None:
                        data = message.get('bytes') or b''
                        too_big = len(data) > max_size
                    else:
                        too_big = len(data) > text_safe and (len(data) > max_size or len(data.encode()) > max_size)
                    if too_big:
                        logger.info('closing %s with 1009: message over WS_MAX_MESSAGE_SIZE',
                                    connection.connection_id)
                        if metrics is not None:
                            metrics.limit_closed('message_size')
                        await outbox.close(status.WS_1009_MESSAGE_TOO_BIG, 'message too big')
                        continue
                    if metrics is not None:
                        metrics.received += 1
                        metrics.received_bytes += payload_size(data)
                    if forward is not None:
                        forward(data)
                        continue
                    try:
                        if model is None:
                            await handler(data)
                        else:
                            await self._receive_typed(connection, model, data)
                    except Exception:
                        logger.exception('%s.receive() raised; connection %s closed with 1011',
                                         self.cls.__qualname__, connection.connection_id)
                        await self._crash(outbox)
                elif kind == 'websocket.disconnect':
                    return outbox.ended(message.get('code', status.WS_1005_NO_STATUS_RCVD))
        except asyncio.CancelledError:
            if not outbox.abandoned:
                # The server is shutting down and cancels its connections (hypercorn at once, uvicorn
                # after --timeout-graceful-shutdown): still tell the client it is "going away".
                await _going_away(outbox)
                raise
            # The outbox gave up on a peer that would not finish closing (no way to abort it
            # on this server): end as if the disconnect had come; the server closes the transport.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return outbox.ended(status.WS_1006_ABNORMAL_CLOSURE)
        finally:
            if sweeper is not None:
                sweeper.forget(inbound)

    async def _receive_typed(self, connection: GenericWebsocket, model: type[BaseModel], data: Any) -> None:
        try:
            value = model.model_validate_json(data)
        except ValidationError as exc:
            await connection.send({'detail': _validation_detail(exc)})
            return
        await connection.receive(value)  # type: ignore[arg-type]

    async def _authenticate(self, connection: GenericWebsocket) -> tuple[int, str] | None:
        """None when the handshake may go on, else the refusal's ``(status, detail)``."""
        auth = self.auth
        if auth is None:
            auth = self.default_auth
            if auth is None or (self.scans_for_credentials and not connection.has_credentials()):
                return None
        try:
            connection.user = await auth(connection)
        except AuthenticationAPIError as exc:
            if not getattr(exc, 'logged', False):  # BaseAuthentication.fail() logged it already
                logger.error('%s Error: "%s"', guard_name(auth), printable(_detail(exc, 'Authentication Error')))
            return 401, _detail(exc, 'Authentication Error')
        except APIError as exc:
            # Not the client's fault (e.g. 503: a service the check needs is down): say so, with its status.
            logger.error('WebSocket %s refused with %d: %s', printable(connection.path), exc.status_code,
                         _detail(exc, 'Service Unavailable'))
            return exc.status_code, _detail(exc, 'Service Unavailable')
        except Exception as exc:
            logger.error('%s Error: "%s"', guard_name(auth), printable(exc) or type(exc).__name__)
            return 401, 'Authentication Error'
        return None

    async def _authorize(self, connection: GenericWebsocket) -> tuple[int, str] | None:
        """None when every permission allows the handshake, else the refusal's ``(status, detail)``."""
        for permission in self.permissions:
            try:
                allowed = await permission(connection)
            except Exception:
                logger.exception('permission %r raised; handshake rejected', permission)
                return 403, 'Permission Denied'
            if not allowed:
                logger.info('WebSocket %s rejected by permission %s', printable(connection.path),
                            getattr(permission, '__qualname__', type(permission).__qualname__))
                return 403, 'Permission Denied'
        return None

    def _refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.handshake(reason)

    async def _crash(self, outbox: Outbox) -> None:
        """Close with 1011 (before accept: reject), after whatever was already queued."""
        try:
            await outbox.close(status.WS_1011_INTERNAL_ERROR, 'Internal Server Error')
        except Exception:
            logger.debug('could not close crashed connection %s', outbox.connection_id, exc_info=True)

    async def _finish(self, connection: GenericWebsocket, outbox: Outbox, code: int, runtime: Runtime) -> None:
        """Forget the connection and run ``disconnect`` once, however it ended."""
        outbox.finish()
        session = outbox.session
        if session is not None:
            if outbox.superseded or session.ended:  # type: ignore[attr-defined]
                return  # a resume on another connection carries the session on
            deliberate = outbox.close_code is not None or code in DELIBERATE_CLOSES
            await session.connection_ended(outbox, code, deliberate)  # type: ignore[arg-type]
            return
        connection_id = connection.connection_id
        if connection_id is None:
            return
        if self.metrics is not None and outbox.accepted:
            self.metrics.closed(code)
        # Gone from its groups before disconnect() runs, so a presence list built there no longer shows it.
        remember_groups(connection, await runtime.forget(connection_id))
        if not self.calls_disconnect and 'disconnect' not in connection.__dict__:
            return
        try:
            await connection.disconnect(code)
        except Exception:
            logger.exception('%s.disconnect() raised', self.cls.__qualname__)


async def _going_away(outbox: Outbox) -> None:
    if outbox.state is not WebsocketState.OPEN:
        return
    try:
        async with asyncio.timeout(1.0):
            await outbox.close(status.WS_1001_GOING_AWAY, 'server shutting down')
    except (Exception, asyncio.CancelledError):
        logger.debug('could not say going away to %s', outbox.connection_id, exc_info=True)


def _detail(exc: APIError, default: str) -> str:
    detail = getattr(exc, 'detail', None)
    return detail if isinstance(detail, str) and detail else default
