"""The ``Panther`` ASGI application.

Example (a single-file app)::

    from panther import Panther

    app = Panther(__name__, configs=__name__, urls={'ws/echo/': EchoWebsocket})
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from types import ModuleType
from typing import Any

from panther.app import HTTPEndpoint
from panther.browser_client import serve_client
from panther.config_loader import load_config
from panther.converters import PathVariableError
from panther.exceptions import APIError, ConfigError, NotFoundAPIError, UpgradeRequiredAPIError
from panther.guards import as_guard
from panther.health import readiness
from panther.hook_names import warn_misspelled_hooks
from panther.limits import Limits
from panther.log_safety import printable
from panther.metrics import Metrics
from panther.origins import hijacking_warning
from panther.outbox import refuse_handshake
from panther.request import Request
from panther.resources import close_resources, open_resources
from panther.response import PlainTextResponse, Response
from panther.route_auth import auth_summary, plural
from panther.routing import Router
from panther.runtime import Runtime
from panther.servers import write_path
from panther.types import Receive, Scope, Send
from panther.websocket import GenericWebsocket
from panther.websocket_endpoint import WebsocketEndpoint

logger = logging.getLogger('panther')


def _error(status_code: int, detail: Any, headers: dict[str, str] | None = None) -> tuple[Response, bytes]:
    response = Response({'detail': detail}, status_code, headers)
    try:
        return response, response.render()
    except TypeError:
        logger.exception('the detail of a %d error cannot be encoded as JSON', status_code)
        response = Response({'detail': 'Internal Server Error'}, 500)
        return response, response.render()


class _StderrHandler(logging.StreamHandler):
    """Prints panther's logs when nobody configured logging, stays quiet when someone did.

    uvicorn configures only its own loggers, so without this the banner and the
    tracebacks of failing handlers would vanish. When the root logger has handlers
    (``logging.basicConfig``, pytest's caplog) records reach them by propagation
    instead, so nothing is printed twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def _setup_logging() -> None:
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler(sys.stderr)
        handler.setFormatter(logging.Formatter('%(levelname)s:     [panther] %(message)s'))
        logger.addHandler(handler)
    level = os.environ.get('PANTHER_LOG_LEVEL')
    if level:
        logger.setLevel(level.upper())
    elif logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


class Panther:
    """An ASGI 3 application.

    Building an app re-reads its configs module and makes it the app that
    ``send_message_to_websocket`` and friends talk to in this process; everything
    is checked here, once, so a mistake stops start-up instead of a request.

    Args:
        name: the importing module's ``__name__``; also the configs module when
            ``configs`` is not given.
        configs: the dotted name of the module (or the module itself) whose
            UPPERCASE globals are the configuration; ``__name__`` for a
            single-file app.
        urls: the routing dict, or a dotted path to one; overrides the configs
            module's ``URLS``.

    Raises:
        ConfigError: a configuration value is wrong; the message names the key
            (``WS_MAX_MESSAGE_SIZE: expected a positive integer, got 'big'``),
            or an ``auth`` or permission is not async (it names the callable).
        RoutingError: the routing is invalid (duplicate or ambiguous patterns, a
            target that is neither an API nor a ``GenericWebsocket``, a handler
            that cannot take the route's variables); a ``ConfigError`` on ``URLS``.

    Examples:
        ```python
        from panther import Panther

        URLS = {'ws/book/': BookWebsocket}
        app = Panther(__name__, configs=__name__)   # serve with: panther run main:app
        ```
    """

    def __init__(
        self,
        name: str,
        configs: str | ModuleType | None = None,
        urls: dict[str, Any] | str | None = None,
    ) -> None:
        _setup_logging()
        self.name = name
        config = load_config(configs if configs is not None else name, urls)
        self.config = config
        self.limits = Limits.from_config(config)
        http_auth = as_guard(config.AUTHENTICATION, where='AUTHENTICATION') if config.AUTHENTICATION else None
        ws_auth = (
            as_guard(config.WS_AUTHENTICATION, where='WS_AUTHENTICATION') if config.WS_AUTHENTICATION else None
        )
        self.router = Router(config.URLS)
        self.client_path = config.WS_CLIENT_PATH
        metrics = Metrics() if config.METRICS_PATH else None
        for route in self.router.routes:
            target = route.target
            if isinstance(target, type) and issubclass(target, GenericWebsocket):
                # Labelled by the pattern (never the raw path), so the label set is the route table.
                route_metrics = metrics.route(f'/{route.pattern}') if metrics is not None else None
                route.endpoint = WebsocketEndpoint(target, route.variables, ws_auth, route_metrics)
            else:
                route.endpoint = HTTPEndpoint(target, route.variables, http_auth,
                                              max_body_size=config.HTTP_MAX_BODY_SIZE, pattern=route.pattern)
        warn_misspelled_hooks(route.target for route in self.router.routes)
        warning = hijacking_warning(
            (source for r in self.router.routes if isinstance(r.endpoint, WebsocketEndpoint)
             for source in r.endpoint.auth_sources()),
            self.limits.allowed_origins,
        )
        if warning:
            logger.warning(warning)
        self._operations = self._operation_paths(config)
        reporter = None
        if metrics is not None:
            from panther.metrics_export import Reporter, metrics_directory  # imports prometheus_client

            reporter = Reporter(metrics, metrics_directory())
        self.metrics_reporter = reporter
        self.runtime = Runtime(self.limits, config, metrics, reporter)
        self.runtime.make_current()
        self.built_pid = os.getpid()

    def _operation_paths(self, config: Any) -> dict[str, str]:
        """``{path: 'metrics' | 'health'}`` for METRICS_PATH and HEALTH_PATH (with and without a trailing slash)."""
        paths: dict[str, str] = {}
        for key, what in (('METRICS_PATH', 'metrics'), ('HEALTH_PATH', 'health')):
            path = getattr(config, key)
            if path is None:
                continue
            if path in paths:
                raise ConfigError(key, f'{path!r} is already METRICS_PATH')
            if self.router.match(path) is not None:
                raise ConfigError(key, f'{path!r} is also a route in URLS')
            paths[path] = paths[path + '/'] = what
        return paths

    async def _operate(self, what: str, scope: Scope, send: Send) -> None:
        if what == 'health':
            code, data = await readiness(self.runtime)
            response: Response = Response(data, code, {'Cache-Control': 'no-store'})
            body = response.render()
        else:
            if not self.runtime.started:
                await self.runtime.start()
            reporter = self.metrics_reporter
            body = reporter.render()  # type: ignore[union-attr]
            response = PlainTextResponse(body, 200, {'Content-Type': reporter.content_type})  # type: ignore[union-attr]
        await response.send(send, body=body, head=scope.get('method') == 'HEAD')

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope['type']
        if kind == 'websocket':
            # Routed here, not in a helper coroutine: a connection's task passes through every
            # coroutine of this chain again each time a message wakes it.
            matched = self.router.match(scope['path'])
            if matched is not None and isinstance(matched[0].endpoint, WebsocketEndpoint):
                runtime = self.runtime
                if not runtime.started:
                    await runtime.start()
                await matched[0].endpoint(scope, receive, send, matched[1], runtime)
            else:
                await self._no_websocket_route(scope, receive, send, matched is not None)
        elif kind == 'http':
            await self._http(scope, receive, send)
        elif kind == 'lifespan':
            await self._lifespan(receive, send)

    async def _no_websocket_route(self, scope: Scope, receive: Receive, send: Send, routed: bool) -> None:
        message = await receive()
        if message['type'] == 'websocket.connect':
            if self.runtime.metrics is not None:
                self.runtime.metrics.handshake('no_route')
            logger.info('WebSocket %s rejected: %s', printable(scope['path']),
                        'not a WebSocket route' if routed else 'no such route')
            await refuse_handshake(send, scope, 404, 'Not Found')

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['path'] == self.client_path:
            await serve_client(scope, send)
            return
        if self._operations:
            what = self._operations.get(scope['path'])
            if what is not None:
                await self._operate(what, scope, send)
                return
        request = Request(scope, receive)
        try:
            matched = self.router.match(scope['path'])
            if matched is None:
                raise NotFoundAPIError()
            route, raw = matched
            if isinstance(route.endpoint, WebsocketEndpoint):
                raise UpgradeRequiredAPIError(headers={'Upgrade': 'websocket', 'Connection': 'Upgrade'})
            response = await route.endpoint(request, raw)
            # Rendered here so that data which cannot be encoded is a logged 500, not a crash mid-response.
            body = response.render()
        except APIError as exc:
            response, body = _error(exc.status_code, exc.detail, exc.headers)
        except PathVariableError as exc:
            response, body = _error(400, str(exc))
        except Exception:
            logger.exception('%s %s raised', printable(scope.get('method')), printable(scope['path']))
            response, body = _error(500, 'Internal Server Error')
        await response.send(send, body=body, head=scope.get('method') == 'HEAD')

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                try:
                    await open_resources(self.config)
                    await self.runtime.start()
                except Exception as exc:
                    # The server prints the failure message itself; logging it too would say it twice.
                    logger.debug('start-up failed: %s', exc, exc_info=True)
                    await send({'type': 'lifespan.startup.failed', 'message': str(exc)})
                    return
                logger.info(self.banner())
                # Everything imported and built so far lives as long as the worker: moving it
                # out of the collector's reach keeps each full collection as cheap as a bare app's.
                gc.freeze()
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                try:
                    await self.runtime.stop()
                except Exception:
                    logger.exception('shutdown did not complete cleanly')
                await close_resources(self.config)
                await send({'type': 'lifespan.shutdown.complete'})
                return

    def _operating_line(self) -> str:
        reporter = self.metrics_reporter
        metrics = f'{self.config.METRICS_PATH} (workers meet in {reporter.directory})' if reporter else 'off'
        return f'  operating: metrics {metrics}, health {self.config.HEALTH_PATH or "off"}'

    def banner(self) -> str:
        """Three short lines saying what this worker runs with (logged once per worker at start-up)."""
        limits = self.limits
        ws_endpoints = [r.endpoint for r in self.router.routes if isinstance(r.endpoint, WebsocketEndpoint)]
        http_endpoints = [r.endpoint for r in self.router.routes if not isinstance(r.endpoint, WebsocketEndpoint)]
        bus = self.runtime.bus.kind if self.runtime.bus else 'not started'

        def size(n: int) -> str:
            for unit, scale in (('MiB', 1 << 20), ('KiB', 1 << 10)):
                if n >= scale and n % scale == 0:
                    return f'{n // scale} {unit}'
            return f'{n} B'

        def off(value: Any, unit: str = '') -> str:
            return 'off' if value is None else f'{value:g}{unit}'

        origins = ('any (cookie-authenticated: same origin)' if limits.allowed_origins is None
                   else ' '.join(sorted(limits.allowed_origins)) or 'none')
        return '\n'.join([
            f'panther {self.name!r} ready (pid {os.getpid()}, worker {self.runtime.worker_id}): '
            f'{plural(len(self.router.routes), "route")}, {len(ws_endpoints)} WebSocket; websocket backend: {bus}',
            f'  auth: http {auth_summary(http_endpoints, "AUTHENTICATION")}; '
            f'websocket {auth_summary(ws_endpoints, "WS_AUTHENTICATION")}',
            f'  writes: {write_path(limits.direct_write)}',
            f'  limits: message {size(limits.max_message_size)}, rate {off(limits.rate_limit, "/s")},'
            f' send queue {limits.send_queue_size}, idle {off(limits.idle_timeout, "s")},'
            f' ping {off(limits.ping_interval, "s")}, connections {off(limits.max_connections)}, origins {origins}',
            *([self._operating_line()] if self._operations else []),
        ])
