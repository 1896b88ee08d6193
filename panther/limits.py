"""Per-app WebSocket limits, read once from the config when the app is built.

Defaults (``panther.configs.Config``) and what each limit does:

``WS_ALLOWED_ORIGINS`` (None: any origin)
    Handshakes whose ``Origin`` is not listed are refused with HTTP 403 before
    any user code runs. Set it whenever browsers authenticate with cookies.
``WS_MAX_MESSAGE_SIZE`` (1 MiB)
    A bigger incoming message closes the connection with 1009. ``panther run``
    also hands it to uvicorn (``--ws-max-size``); the framework checks it
    again so any ASGI server is covered.
``WS_RATE_LIMIT`` (None: off) and ``WS_RATE_LIMIT_BURST`` (None: ``max(1, rate)``)
    Incoming messages per second per connection, as a token bucket holding
    ``burst`` tokens. A message without a token closes the connection with 1008.
``WS_SEND_QUEUE_SIZE`` (1024)
    Messages that may wait for a client that does not read; one more closes it
    with 1013 and drops what waited.
``WS_IDLE_TIMEOUT`` (None: off)
    A connection with no incoming message for this many seconds is closed
    with 1001 and reason ``'idle timeout'`` (1001 "going away", as load
    balancers do for idle connections: the client may reconnect at once).
``WS_PING_INTERVAL`` / ``WS_PING_TIMEOUT`` (20 s / 20 s)
    Passed to uvicorn by ``panther run``: a peer that does not answer a ping
    in time is dead and its connection is closed (1011).
``WS_MAX_CONNECTIONS`` (None: no cap)
    Live connections per worker; further handshakes are refused with HTTP 403.
``WS_SHUTDOWN_TIMEOUT`` (5 s)
    How long a shutdown waits for connections to close and their
    ``disconnect`` hooks to run.
``WS_CLOSE_TIMEOUT`` (5 s)
    How long a close frame may wait behind data the peer does not read;
    after that the TCP connection is aborted so its buffers are freed.
``WS_HANDSHAKE_TIMEOUT`` (10 s)
    A client that has not sent its whole request head (a WebSocket handshake
    included) this many seconds after connecting, or after starting a request,
    is disconnected; a head over 8 KiB or 128 header lines is answered 431.
    Applied by panther's uvicorn HTTP protocol (``panther run``, the gunicorn
    worker); other servers keep their own limits.
``WS_DIRECT_WRITE`` (True)
    Where the server adapter offers it (``panther run``, ``panther.workers.UvicornWorker``),
    a send that need not wait writes its ready frame straight to the transport
    (``panther.frames``, docs/deployment.md). False sends everything through ASGI.
``WS_RESUME_WINDOW`` (30 s; 0 turns sessions off) and ``WS_RESUME_BUFFER`` (1000)
    A ``panther.v1`` client that drops is kept this long, with at most this many
    messages waiting for it (``panther.sessions``, docs/sessions.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from panther.configs import Config


@dataclass(slots=True, frozen=True)
class Limits:
    allowed_origins: frozenset[str] | None
    max_message_size: int
    rate_limit: float | None
    rate_burst: int
    send_queue_size: int
    idle_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_connections: int | None
    shutdown_timeout: float
    close_timeout: float
    handshake_timeout: float | None = 10.0
    direct_write: bool = True
    resume_window: float = 30.0
    resume_buffer: int = 1000

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        origins = config.WS_ALLOWED_ORIGINS
        rate = config.WS_RATE_LIMIT
        burst = config.WS_RATE_LIMIT_BURST
        if burst is None:
            burst = max(1, int(rate)) if rate is not None else 1
        return cls(
            # Browsers send scheme and host in lower case; users may not write them so.
            allowed_origins=None if origins is None else frozenset(o.lower() for o in origins),
            max_message_size=config.WS_MAX_MESSAGE_SIZE,
            rate_limit=rate,
            rate_burst=burst,
            send_queue_size=config.WS_SEND_QUEUE_SIZE,
            idle_timeout=config.WS_IDLE_TIMEOUT,
            ping_interval=config.WS_PING_INTERVAL,
            ping_timeout=config.WS_PING_TIMEOUT,
            max_connections=config.WS_MAX_CONNECTIONS,
            shutdown_timeout=config.WS_SHUTDOWN_TIMEOUT,
            close_timeout=config.WS_CLOSE_TIMEOUT,
            handshake_timeout=config.WS_HANDSHAKE_TIMEOUT,
            direct_write=config.WS_DIRECT_WRITE,
            resume_window=config.WS_RESUME_WINDOW,
            resume_buffer=config.WS_RESUME_BUFFER,
        )

    @property
    def watches_inbound(self) -> bool:
        """Whether incoming messages need per-message bookkeeping (rate or idle limits)."""
        return self.rate_limit is not None or self.idle_timeout is not None
