"""Read a configs module into ``panther.configs.config``, checking every known key.

Each check raises ``ConfigError(key, problem)``: one line that names the key and says
what is wrong, which the CLI prints without a traceback.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import Any

from panther.configs import Config, JWTConfig, config
from panther.exceptions import ConfigError

logger = logging.getLogger('panther')


def import_string(dotted: str, key: str) -> Any:
    """Import ``package.module.Name`` or ``package.module``; errors name ``key``."""
    if not isinstance(dotted, str) or not dotted:
        raise ConfigError(key, f'expected a dotted path string, got {dotted!r}')
    try:
        return importlib.import_module(dotted)
    except ImportError:
        pass
    module_name, _, attr = dotted.rpartition('.')
    if not module_name:
        raise ConfigError(key, f'cannot import {dotted!r}')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(key, f'cannot import {dotted!r} ({exc})') from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(key, f'module {module_name!r} has no attribute {attr!r}') from None


def _module(configs: str | ModuleType) -> ModuleType:
    if isinstance(configs, ModuleType):
        return configs
    if configs in sys.modules:
        return sys.modules[configs]
    try:
        return importlib.import_module(configs)
    except ImportError as exc:
        raise ConfigError('configs', f'cannot import configs module {configs!r} ({exc})') from None


def _number(key: str, value: Any, *, allow_none: bool, integer: bool = False) -> Any:
    if value is None and allow_none:
        return None
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        what = 'a positive integer' if integer else 'a positive number'
        none = ' or None' if allow_none else ''
        raise ConfigError(key, f'expected {what}{none}, got {value!r}')
    return value


def _duration(key: str, value: Any) -> timedelta:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(key, f'expected seconds or a timedelta, got {value!r}')
    if seconds <= 0:
        raise ConfigError(key, f'must be positive, got {value!r}')
    return timedelta(seconds=seconds)


def _urls(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = import_string(value, 'URLS')
    if not isinstance(value, dict):
        raise ConfigError('URLS', f'expected a dict or a dotted path to one, got {type(value).__name__}')
    return value


def _jwt(value: Any, secret_key: str | None) -> JWTConfig | None:
    if value is None:
        return JWTConfig(key=secret_key) if secret_key else None
    if not isinstance(value, dict):
        raise ConfigError('JWT_CONFIG', f'expected a dict, got {type(value).__name__}')
    unknown = set(value) - {'key', 'algorithm', 'life_time', 'refresh_life_time'}
    if unknown:
        raise ConfigError('JWT_CONFIG', f'unknown keys {sorted(unknown)}')
    key = value.get('key', secret_key)
    # No key at all is allowed (the JWT classes warn at start-up and refuse tokens); a bad one is not.
    if key is not None and (not key or not isinstance(key, str)):
        raise ConfigError('JWT_CONFIG', f"'key' must be a non-empty string, got {key!r}")
    algorithm = value.get('algorithm', 'HS256')
    if not isinstance(algorithm, str) or algorithm.lower() == 'none':
        raise ConfigError('JWT_CONFIG', f'algorithm must name a signing algorithm, got {algorithm!r}')
    life = _duration('JWT_CONFIG.life_time', value.get('life_time', timedelta(days=1)))
    refresh = value.get('refresh_life_time')
    return JWTConfig(
        key=key,
        algorithm=algorithm,
        life_time=life,
        refresh_life_time=None if refresh is None else _duration('JWT_CONFIG.refresh_life_time', refresh),
    )


def _dict(key: str, value: Any, *, allow_none: bool) -> dict[str, Any] | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, dict):
        raise ConfigError(key, f'expected a dict, got {type(value).__name__}')
    return value


def _origins(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple | set):
        raise ConfigError('WS_ALLOWED_ORIGINS', f'expected a list of origins, got {value!r}')
    for origin in value:
        if not isinstance(origin, str):
            raise ConfigError('WS_ALLOWED_ORIGINS', f'every origin must be a string, got {origin!r}')
    return [o.rstrip('/') for o in value]


def _url_path(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith('/') or any(c in value for c in '?# \t\r\n'):
        raise ConfigError(key, f"expected a URL path starting with '/' (or None), got {value!r}")
    return value


def _callable_path(key: str, value: Any) -> Any:
    if value is None:
        return None
    target = import_string(value, key) if isinstance(value, str) else value
    if not callable(target):
        raise ConfigError(key, f'{value!r} is not callable')
    return target


def _http_path(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith('/') or len(value) < 2 or any(
            c.isspace() or c in '?#<>' for c in value):
        raise ConfigError(key, f"expected None or a path like '/metrics', got {value!r}")
    return value.rstrip('/') or value


def _database(value: Any) -> dict[str, Any]:
    # Imported here: the db package reads config, so a top-level import would be circular.
    from panther.db.connection import parse_database_config

    parse_database_config(value)
    return value


_CHECKS: dict[str, Callable[[Any], Any]] = {
    'SECRET_KEY': lambda v: v if v is None or (isinstance(v, str) and v) else _fail(
        'SECRET_KEY', f'expected a non-empty string, got {v!r}'),
    'AUTHENTICATION': lambda v: _callable_path('AUTHENTICATION', v),
    'WS_AUTHENTICATION': lambda v: _callable_path('WS_AUTHENTICATION', v),
    'USER_MODEL': lambda v: _callable_path('USER_MODEL', v),
    'DATABASE': lambda v: _database(v),
    'REDIS': lambda v: _dict('REDIS', v, allow_none=True),
    'HTTP_MAX_BODY_SIZE': lambda v: _number('HTTP_MAX_BODY_SIZE', v, allow_none=True, integer=True),
    'WS_ALLOWED_ORIGINS': _origins,
    'WS_MAX_MESSAGE_SIZE': lambda v: _number('WS_MAX_MESSAGE_SIZE', v, allow_none=False, integer=True),
    'WS_RATE_LIMIT': lambda v: _number('WS_RATE_LIMIT', v, allow_none=True),
    'WS_RATE_LIMIT_BURST': lambda v: _number('WS_RATE_LIMIT_BURST', v, allow_none=True, integer=True),
    'WS_SEND_QUEUE_SIZE': lambda v: _number('WS_SEND_QUEUE_SIZE', v, allow_none=False, integer=True),
    'WS_IDLE_TIMEOUT': lambda v: _number('WS_IDLE_TIMEOUT', v, allow_none=True),
    'WS_PING_INTERVAL': lambda v: _number('WS_PING_INTERVAL', v, allow_none=True),
    'WS_PING_TIMEOUT': lambda v: _number('WS_PING_TIMEOUT', v, allow_none=True),
    'WS_MAX_CONNECTIONS': lambda v: _number('WS_MAX_CONNECTIONS', v, allow_none=True, integer=True),
    'WS_SHUTDOWN_TIMEOUT': lambda v: _number('WS_SHUTDOWN_TIMEOUT', v, allow_none=False),
    'WS_CLOSE_TIMEOUT': lambda v: _number('WS_CLOSE_TIMEOUT', v, allow_none=False),
    'WS_HANDSHAKE_TIMEOUT': lambda v: _number('WS_HANDSHAKE_TIMEOUT', v, allow_none=True),
    'WS_DIRECT_WRITE': lambda v: v if isinstance(v, bool) else _fail(
        'WS_DIRECT_WRITE', f'expected True or False, got {v!r}'),
    'WS_RESUME_WINDOW': lambda v: 0 if v == 0 and not isinstance(v, bool) else _number(
        'WS_RESUME_WINDOW', v, allow_none=False),
    'WS_RESUME_BUFFER': lambda v: _number('WS_RESUME_BUFFER', v, allow_none=False, integer=True),
    'WS_CLIENT_PATH': lambda v: _url_path('WS_CLIENT_PATH', v),
    'BUS_BUFFER_SIZE': lambda v: _number('BUS_BUFFER_SIZE', v, allow_none=False, integer=True),
    'AUTH_CACHE_TTL': lambda v: _number('AUTH_CACHE_TTL', v, allow_none=True),
    'AUTH_CACHE_SIZE': lambda v: _number('AUTH_CACHE_SIZE', v, allow_none=False, integer=True),
    'METRICS_PATH': lambda v: _http_path('METRICS_PATH', v),
    'HEALTH_PATH': lambda v: _http_path('HEALTH_PATH', v),
}


def _fail(key: str, problem: str) -> Any:
    raise ConfigError(key, problem)


def load_config(configs: str | ModuleType, urls: dict[str, Any] | str | None = None) -> Config:
    """Read the UPPERCASE globals of ``configs`` into a new ``Config`` and make it the live ``config``.

    The returned object belongs to the app being built; the module-level ``config``
    is overwritten with its values, so a later app never inherits anything from an
    earlier one (keys it does not set are back at their defaults).
    """
    module = _module(configs)
    settings = {k: v for k, v in vars(module).items() if k.isupper() and not k.startswith('_')}
    loaded = Config()
    known = [*_CHECKS, 'URLS', 'JWT_CONFIG']

    for key, value in settings.items():
        if key in _CHECKS:
            setattr(loaded, key, _CHECKS[key](value))
        elif key in ('URLS', 'JWT_CONFIG'):
            continue
        else:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
            if close:
                # Most likely a typo that would otherwise silently leave the default in place.
                logger.warning('config key %s is not a panther setting; did you mean %s?', key, close[0])
            loaded.extra[key] = value

    if urls is None:
        if 'URLS' not in settings:
            raise ConfigError('URLS', 'no urls= given to Panther() and no URLS in the configs module')
        urls = settings['URLS']
    loaded.URLS = _urls(urls)
    loaded.JWT_CONFIG = _jwt(settings.get('JWT_CONFIG'), loaded.SECRET_KEY)
    config._assign(loaded)
    return loaded
