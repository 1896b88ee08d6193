"""What a worker counts for ``METRICS_PATH``: plain integers, nothing else on the hot path.

With ``METRICS_PATH`` unset no ``Metrics`` object exists: the outbox, the endpoint
and the runtime hold ``None`` and skip counting with one ``is not None`` check.
With it set, counting a message is two integer additions on a ``RouteMetrics``
(one per WebSocket route, created at start-up). Nothing here knows Prometheus:
:mod:`panther.metrics_export` turns a snapshot of these numbers into the
exposition format, aggregated over the workers of the machine.

Who counts what (one place each):

- the outbox (:mod:`panther.outbox`): messages and bytes sent (a group send
  hands every member the payload's size, computed once), the send queue's
  high-water mark, slow-consumer cut-offs, accepted handshakes, the live
  connections (up at accept, down when the connection ends);
- the endpoint (:mod:`panther.websocket_endpoint`): refused handshakes by reason,
  messages and bytes received, closes by code, the message-size limit;
- the inbound side and the idle sweeper: rate-limit and idle closes;
- the runtime (:mod:`panther.runtime`): envelopes to and from the bus and their
  delivery time.
"""

from __future__ import annotations

from bisect import bisect_left

#: Upper bounds (seconds) of the ``panther_bus_delivery_seconds`` buckets; +Inf is implied.
DELIVERY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

#: Close codes reported as themselves; any other is reported by its range ('3xxx', '4xxx', 'other'),
#: so a client choosing codes cannot grow the label set.
KNOWN_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                               1014, 1015})

#: The limits whose closes are counted (label ``limit`` of ``panther_websocket_limit_closes_total``).
LIMITS = ('send_queue', 'rate', 'message_size', 'idle')

#: Handshake results (label ``result`` of ``panther_websocket_handshakes_total``): ``accepted`` or why not.
HANDSHAKE_RESULTS = (
    'accepted', 'no_route', 'origin', 'max_connections', 'path_variable', 'authentication', 'unavailable',
    'cross_site', 'permission', 'not_accepted', 'connect_error', 'peer_left',
)


def close_label(code: int) -> str:
    """The ``code`` label of a close: the code itself when it is a known one, else its range."""
    if code in KNOWN_CLOSE_CODES:
        return str(code)
    if 3000 <= code <= 3999:
        return '3xxx'
    if 4000 <= code <= 4999:
        return '4xxx'
    return 'other'


def payload_size(payload: str | bytes) -> int:
    """Bytes of ``payload`` on the wire (UTF-8 for text), without encoding ASCII text."""
    if type(payload) is bytes or payload.isascii():  # type: ignore[union-attr]
        return len(payload)
    return len(payload.encode())  # type: ignore[union-attr]


class RouteMetrics:
    """The counters of the connections of one WebSocket route (labelled by its pattern, never a raw path)."""

    __slots__ = ('high_water', 'metrics', 'open', 'received', 'received_bytes', 'route', 'sent', 'sent_bytes')

    def __init__(self, route: str, metrics: Metrics) -> None:
        self.route = route
        self.metrics = metrics
        self.open = 0
        self.received = 0
        self.received_bytes = 0
        self.sent = 0
        self.sent_bytes = 0
        #: The most frames that waited in one connection's send queue at once.
        self.high_water = 0

    def handshake(self, result: str) -> None:
        """A handshake to this route ended with ``result`` (one of :data:`HANDSHAKE_RESULTS`)."""
        self.metrics.handshakes[result] += 1

    def closed(self, code: int) -> None:
        """An accepted connection of this route ended with ``code``."""
        self.metrics.closed(code)

    def limit_closed(self, limit: str) -> None:
        """A limit (one of :data:`LIMITS`) closed a connection of this route."""
        self.metrics.limit_closes[limit] += 1


class Metrics:
    """Everything one worker counts; read by :mod:`panther.metrics_export` to write its snapshot."""

    def __init__(self) -> None:
        self.routes: dict[str, RouteMetrics] = {}
        self.handshakes: dict[str, int] = dict.fromkeys(HANDSHAKE_RESULTS, 0)
        # The usual codes are there from the start, so a dashboard shows 0 rather than no data.
        self.closes: dict[str, int] = dict.fromkeys(('1000', '1001', '1006', '1011'), 0)
        self.limit_closes: dict[str, int] = dict.fromkeys(LIMITS, 0)
        self.bus_sent = 0
        self.bus_received = 0
        #: Per bucket of :data:`DELIVERY_BUCKETS` (and a last one for +Inf): deliveries that fell in it.
        self.delivery_counts = [0] * (len(DELIVERY_BUCKETS) + 1)
        self.delivery_sum = 0.0

    def route(self, pattern: str) -> RouteMetrics:
        """The counters of the route ``pattern`` (created on first use)."""
        found = self.routes.get(pattern)
        if found is None:
            found = self.routes[pattern] = RouteMetrics(pattern, self)
        return found

    def handshake(self, result: str) -> None:
        """A handshake ended with ``result`` (one of :data:`HANDSHAKE_RESULTS`)."""
        self.handshakes[result] += 1

    def closed(self, code: int) -> None:
        """An accepted connection ended with ``code`` (the code ``disconnect()`` hears)."""
        label = close_label(code)
        self.closes[label] = self.closes.get(label, 0) + 1

    def delivered(self, seconds: float) -> None:
        """A bus envelope reached its owning worker ``seconds`` after it was sent."""
        self.delivery_counts[bisect_left(DELIVERY_BUCKETS, seconds)] += 1
        self.delivery_sum += seconds
