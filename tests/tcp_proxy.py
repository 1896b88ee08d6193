"""A TCP proxy a test controls: forwards to an upstream port, and cuts every connection on demand.

``cut()`` aborts both sides at once (no close frame, no FIN handshake with the
peer), as a network drop does. ``upstreams`` may list several ports; each new
connection goes to the one ``choose()`` returns (round robin by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator


class TcpProxy:
    def __init__(self, upstreams: list[int], host: str = '127.0.0.1') -> None:
        self.upstreams = upstreams
        self.host = host
        self.port = 0
        self.connections = 0
        #: While True, new connections are dropped at once (the network is down).
        self.down = False
        self.choose: Callable[[int], int] = lambda n: upstreams[n % len(upstreams)]
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, path: str) -> str:
        return f'ws://{self.host}:{self.port}/{path.lstrip("/")}'

    def cut(self) -> int:
        """Abort every proxied connection now; returns how many were cut."""
        pairs = list(self._pairs)
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()
        self._pairs.clear()
        return len(pairs)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        port = self.choose(self.connections)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # the proxy is closing
        finally:
            self._pairs.discard(pair)
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class _ProxyThread:
    """A ``TcpProxy`` on an event loop of its own thread, for synchronous tests (Playwright's sync API)."""

    def __init__(self, upstream: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._proxy = TcpProxy([upstream])

    @property
    def port(self) -> int:
        return self._proxy.port

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> _ProxyThread:
        self._thread.start()
        self._run(self._proxy.__aenter__())
        return self

    def stop(self) -> None:
        self._run(self._proxy.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self) -> int:
        async def cut() -> int:
            return self._proxy.cut()
        return self._run(cut())

    def hold(self) -> None:
        """New connections are dropped at once until ``release()``: the network stays down."""
        self._proxy.down = True

    def release(self) -> None:
        self._proxy.down = False


@contextlib.contextmanager
def tcp_proxy(upstream: int) -> Iterator[_ProxyThread]:
    """``TcpProxy`` to ``upstream`` in a thread: ``port``, ``cut()``, ``hold()``, ``release()``."""
    proxy = _ProxyThread(upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()
