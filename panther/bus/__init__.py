"""Choosing the bus backend from configuration and environment, never from user code.

- ``REDIS`` configured: the Redis bus (any number of workers and machines);
- ``PANTHER_BUS_DIR`` set (``panther run --workers N``), or this worker was forked
  from the process that built the app (``gunicorn --preload``): the shared-local bus;
- otherwise the in-process bus, with a start-up warning if this process looks like
  one of several workers that cannot share (``panther.bus.detect``).
"""

from __future__ import annotations

import logging
import os

from panther.bus.base import Bus, BusError
from panther.bus.local import LocalBus
from panther.bus.shared import SharedBus
from panther.bus.shared_dir import ENV_DIR, preload_directory

__all__ = ['Bus', 'BusError', 'LocalBus', 'SharedBus', 'choose_bus']

logger = logging.getLogger('panther')


def choose_bus(settings: object, built_pid: int | None = None, share_token: str = '') -> Bus:
    """The backend for this worker. ``built_pid``/``share_token`` identify where the app was built."""
    if getattr(settings, 'REDIS', None):
        from panther.bus.redis import RedisBus  # redis-py is imported only when used

        return RedisBus.from_settings(settings)
    directory = os.environ.get(ENV_DIR)
    if directory:
        return SharedBus(directory)
    if built_pid is not None and built_pid != os.getpid():
        return SharedBus(preload_directory(built_pid, share_token), private_parent=True)
    from panther.bus.detect import unshared_workers_warning

    warning = unshared_workers_warning()
    if warning:
        logger.warning(warning)
    return LocalBus()
