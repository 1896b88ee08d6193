"""The app's database engine, created lazily from ``config.DATABASE``.

``DATABASE`` is a dict; every key is optional::

    DATABASE = {
        'engine': 'sqlite',          # the only engine there is
        'path': 'panther.sqlite3',   # file path (relative to the working directory) or ':memory:'
        'timeout': 5.0,              # seconds a write waits for another process's lock
    }

``DATABASE = {}`` (the default) means a ``panther.sqlite3`` file in the working
directory. The first query opens the engine; when ``config.DATABASE`` changes (a new
app was built), the next query opens a new engine and the old one is closed once its
queued jobs are done. A process forked after the engine was opened (``gunicorn
--preload``) opens its own: threads and SQLite handles do not survive ``fork``.
Call ``await close_database()`` on shutdown, or between apps in a test suite::

    from panther.db.connection import close_database

    await close_database()
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from panther.configs import config
from panther.db.sqlite import SQLiteDatabase
from panther.exceptions import ConfigError

DEFAULT_PATH = 'panther.sqlite3'
_KEYS = ('engine', 'path', 'timeout')


@dataclass(frozen=True)
class DatabaseSettings:
    path: str = DEFAULT_PATH
    timeout: float = 5.0


def parse_database_config(value: Any) -> DatabaseSettings:
    """Check a ``DATABASE`` setting; raise ``ConfigError('DATABASE', ...)`` if it is wrong."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError('DATABASE', f'expected a dict like {{"path": "{DEFAULT_PATH}"}}, '
                                      f'got {type(value).__name__}')
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise ConfigError('DATABASE', f'unknown keys {unknown}; allowed keys are {list(_KEYS)}')

    engine = value.get('engine', 'sqlite')
    if not isinstance(engine, str) or engine.lower() not in ('sqlite', 'sqlite3'):
        raise ConfigError(
            'DATABASE', f"engine must be 'sqlite' (the embedded database), got {engine!r}"
        )

    path = value.get('path', DEFAULT_PATH)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.strip():
        raise ConfigError('DATABASE', f"path must be a file path or ':memory:', got {path!r}")

    timeout = value.get('timeout', 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ConfigError('DATABASE', f'timeout must be a number of seconds >= 0, got {timeout!r}')

    return DatabaseSettings(path=path, timeout=float(timeout))


_lock = threading.Lock()
_engine: SQLiteDatabase | None = None
_engine_source: dict[str, Any] | None = None
_engine_pid: int | None = None


def get_database() -> SQLiteDatabase:
    """Return the engine for the current ``config.DATABASE``, opening it if needed.

    ::

        db = get_database()
        await db.ping()
    """
    global _engine, _engine_source, _engine_pid
    raw = config.DATABASE
    with _lock:
        forked = _engine_pid != os.getpid()
        if _engine is not None and not _engine.closed and raw == _engine_source and not forked:
            return _engine
        settings = parse_database_config(raw)
        if _engine is not None and not forked:
            _engine.close_nowait()
        _engine = SQLiteDatabase(settings.path, timeout=settings.timeout)
        _engine_source = dict(raw) if isinstance(raw, dict) else raw
        _engine_pid = os.getpid()
        return _engine


async def open_database() -> SQLiteDatabase:
    """Open the engine now and check it answers; for start-up, to fail early.

    Raises ``ConfigError('DATABASE', ...)`` when the setting is wrong or the file
    cannot be opened.
    """
    db = get_database()
    await db.ping()
    return db


def _take() -> SQLiteDatabase | None:
    global _engine, _engine_source, _engine_pid
    with _lock:
        engine, _engine, _engine_source = _engine, None, None
        forked, _engine_pid = _engine_pid != os.getpid(), None
    return None if forked else engine


async def close_database() -> None:
    """Close the current engine (after its queued jobs); the next query opens a new one."""
    engine = _take()
    if engine is not None:
        await engine.close()


def close_database_sync() -> None:
    """``close_database()`` for code without a running event loop."""
    engine = _take()
    if engine is not None:
        engine.close_sync()
