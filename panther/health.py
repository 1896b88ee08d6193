"""``HEALTH_PATH``: whether this worker is ready to serve, for load balancers and orchestrators.

Ready means the app has started (its bus is running) and the bus reaches the
service it needs (Redis, for the Redis bus): ``200 {"status": "ok", "bus": ...}``.
Otherwise ``503 {"status": "unavailable", "detail": <why>}``, e.g. while Redis is
unreachable; the same worker answers 200 again once the bus is back.
"""

from __future__ import annotations

from typing import Any

from panther.runtime import Runtime


async def readiness(runtime: Runtime) -> tuple[int, dict[str, Any]]:
    """``(status code, body)`` of a readiness check; starts the runtime if no lifespan did."""
    if not runtime.started:
        try:
            await runtime.start()
        except Exception as exc:
            return 503, {'status': 'unavailable', 'detail': f'the app could not start: {exc}'}
    bus = runtime.bus
    if bus is None:
        return 503, {'status': 'unavailable', 'detail': 'the app is not running (shutting down?)'}
    if not bus.connected:
        where = f' at {bus.where}' if bus.where else ''
        return 503, {'status': 'unavailable', 'detail': f'the {bus.kind} bus cannot reach its service{where}'}
    return 200, {'status': 'ok', 'bus': bus.kind}
