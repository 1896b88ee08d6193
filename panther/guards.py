"""Auth and permission callables, checked and normalised once at start-up.

A guard is an async function, or a class whose ``__call__`` is async (it is
instantiated once, without arguments), or an instance of such a class. Each is
called with the request or connection alone. A sync callable is a start-up
error naming it, because calling it would block the event loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from panther.exceptions import ConfigError

Guard = Callable[[Any], Awaitable[Any]]


def guard_name(obj: Any) -> str:
    """The name a user wrote for ``obj``: its function or class name."""
    return getattr(obj, '__qualname__', None) or type(obj).__qualname__


_name = guard_name


def _checked(guard: Any) -> Any:
    # Guards that depend on settings (JWT needs a key) say so once, at start-up.
    check = getattr(guard, 'check_config', None)
    if callable(check):
        check()
    return guard


def as_guard(obj: Any, *, where: str) -> Guard:
    """Return an awaitable-returning callable for ``obj`` or raise ``ConfigError``."""
    if inspect.isclass(obj):
        call = getattr(obj, '__call__', None)  # noqa: B004
        if call is None or not inspect.iscoroutinefunction(call):
            raise ConfigError(where, f'{_name(obj)} must define "async def __call__(self, ...)"')
        try:
            instance = obj()
        except TypeError as exc:
            raise ConfigError(where, f'{_name(obj)} cannot be instantiated without arguments ({exc})') from None
        return _checked(instance)
    if inspect.iscoroutinefunction(obj):
        return obj
    call = getattr(type(obj), '__call__', None)  # noqa: B004
    if call is not None and not inspect.isfunction(obj) and inspect.iscoroutinefunction(call):
        return _checked(obj)
    if callable(obj):
        raise ConfigError(where, f'{_name(obj)} must be async (async def), not a plain function')
    raise ConfigError(where, f'{obj!r} is not callable')


def as_guards(obj: Any, *, where: str) -> tuple[Guard, ...]:
    """Permissions: ``None``, one guard or a list of guards -> a tuple of guards."""
    if obj is None:
        return ()
    items = obj if isinstance(obj, list | tuple) else [obj]
    return tuple(as_guard(item, where=where) for item in items)


def static_attr(cls: type, name: str) -> Any:
    """Read a class attribute without binding it, so ``auth = my_func`` stays a plain function."""
    value = inspect.getattr_static(cls, name, None)
    return value.__func__ if isinstance(value, staticmethod | classmethod) else value
