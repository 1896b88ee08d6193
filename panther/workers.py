"""gunicorn worker classes for panther apps.

Example:

```bash
gunicorn -w 4 -k panther.workers.UvicornWorker main:app --preload
```

``--preload`` builds the app once in gunicorn's master, so the workers share
connections (the shared-local bus) without Redis. Needs the ``gunicorn`` extra:
``pip install 'panther[gunicorn]'`` (gunicorn and the ``uvicorn-worker`` package,
uvicorn's own ``uvicorn.workers`` module being deprecated upstream).

Each worker runs uvicorn with the settings ``panther run`` derives from the app's
limits: ``WS_MAX_MESSAGE_SIZE`` as uvicorn's ``ws_max_size``, ``WS_PING_INTERVAL``
and ``WS_PING_TIMEOUT`` as its ping settings, and ``WS_SHUTDOWN_TIMEOUT`` as its
graceful shutdown timeout (gunicorn's ``--graceful-timeout`` still bounds the
worker as a whole). Token query parameters are masked in the access log. The
WebSocket protocol is panther's own (``panther.servers.uvicorn``), so sends
write ready frames as under ``panther run``.
"""

from __future__ import annotations

import math
from typing import Any

from panther.log_masking import install as mask_tokens_in_server_logs
from panther.servers.uvicorn import HAS_HTTPTOOLS, HTTP_PROTOCOL, PROTOCOL, announce

try:
    from uvicorn_worker import UvicornWorker as _UvicornWorkerBase
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "panther.workers needs gunicorn and uvicorn-worker: pip install 'panther[gunicorn]'"
    ) from exc


def limit_settings(app: Any) -> dict[str, Any]:
    """uvicorn ``Config`` settings implied by a panther app's limits (``{}`` for another app)."""
    limits = getattr(app, 'limits', None)
    if limits is None:
        return {}
    settings: dict[str, Any] = {
        'ws_max_size': limits.max_message_size,
        # Without it uvicorn waits forever on a peer that never reads its close frame.
        'timeout_graceful_shutdown': max(1, math.ceil(limits.shutdown_timeout)),
    }
    if limits.ping_interval is not None:
        settings['ws_ping_interval'] = limits.ping_interval
    if limits.ping_timeout is not None:
        settings['ws_ping_timeout'] = limits.ping_timeout
    return settings


class UvicornWorker(_UvicornWorkerBase):
    """A gunicorn worker that serves a panther app through uvicorn (``-k panther.workers.UvicornWorker``).

    ``CONFIG_KWARGS`` is the one place that picks uvicorn's implementation (event
    loop, HTTP and WebSocket protocol classes): keyword arguments for
    ``uvicorn.Config``, as in ``uvicorn_worker.UvicornWorker``. A subclass may
    override any of them; a key set there also wins over the app-derived settings
    above.
    """

    # panther's own WebSocket protocol: uvicorn's sans-I/O one plus direct frames (panther.servers.uvicorn).
    CONFIG_KWARGS: dict[str, Any] = {
        'loop': 'auto',
        'http': HTTP_PROTOCOL if HAS_HTTPTOOLS else 'auto',
        'ws': PROTOCOL,
    }

    def load_wsgi(self) -> None:
        # gunicorn calls this in the worker, after fork, with the app the master preloaded
        # (or imports it now without --preload): the first moment its limits are known.
        super().load_wsgi()
        for key, value in limit_settings(self.wsgi).items():
            if key not in self.CONFIG_KWARGS:
                setattr(self.config, key, value)
        mask_tokens_in_server_logs()
        ws = self.CONFIG_KWARGS.get('ws')
        announce(self.wsgi, None if ws == PROTOCOL else f'the worker class chose ws={ws!r}')
