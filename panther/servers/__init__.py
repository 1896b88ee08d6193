"""Server adapters: the only modules that may know a server's internals.

Each offers panther's optional speed-ups through ASGI scope extensions
(``panther.frames``); the rest of panther sees plain ASGI and works on any
server without them.
"""

from __future__ import annotations

import os

#: Set by whoever selected an adapter (``panther run``, ``panther.workers.UvicornWorker``) for the banner:
#: the adapter's name, or ``off: <why>``.
ADAPTER_ENV = 'PANTHER_SERVER_ADAPTER'


def write_path(direct_write: bool) -> str:
    """One line for the start-up banner: how frames reach the socket in this worker, and why."""
    if not direct_write:
        return 'ASGI sends (WS_DIRECT_WRITE is False)'
    adapter = os.environ.get(ADAPTER_ENV, '')
    if adapter == 'uvicorn':
        return ("direct frames through panther's uvicorn protocol (selected by panther; ASGI sends "
                "only while a client's buffer is full)")
    if adapter.startswith('off:'):
        return f'ASGI sends ({adapter[4:].strip()})'
    return ('ASGI sends (the server offers no panther.frames extension: start it with "panther run" or '
            'panther.workers.UvicornWorker for direct frames)')
