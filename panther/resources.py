"""The app's outside resources, opened at lifespan start-up and closed at shutdown.

Redis (when ``REDIS`` is set) is reached once at start-up, so an unreachable
server stops the app with one line naming ``REDIS`` instead of failing the first
request. The database opens lazily on first use and is closed at shutdown.
"""

from __future__ import annotations

import logging

from panther.configs import Config

logger = logging.getLogger('panther')


async def open_resources(settings: Config) -> None:
    """Connect to Redis if configured; raises ``ConfigError('REDIS', ...)`` when unreachable."""
    if settings.REDIS is not None:
        from panther.db.connections import redis  # redis-py is imported only by apps that use it

        await redis.connect()


async def close_resources(settings: Config) -> None:
    """Close the Redis client and the database engine; errors are logged, never raised."""
    if settings.REDIS is not None:
        from panther.db.connections import redis

        try:
            await redis.close()
        except Exception:
            logger.exception('closing the redis client failed')
    from panther.db.connection import close_database

    try:
        await close_database()
    except Exception:
        logger.exception('closing the database failed')
