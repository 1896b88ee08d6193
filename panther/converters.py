"""Path variables as keyword arguments, converted by the handler's annotations.

``connect(self, user_id: int, room: str)`` gets ``user_id`` as an ``int``; an
unannotated parameter (or ``**kwargs``) gets the raw string. The conversion plan
is built once per handler at start-up, so a request only runs the converters.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

from panther.exceptions import RoutingError

_TRUE = frozenset({'true', '1'})
_FALSE = frozenset({'false', '0'})


class PathVariableError(ValueError):
    """A path variable does not convert to its annotated type."""

    def __init__(self, name: str, value: str, kind: str) -> None:
        self.name = name
        super().__init__(f'path variable {name!r} must be {kind}, got {value!r}')


def _to_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(value)


_INTEGER = re.compile(r'[+-]?[0-9]+')
_NUMBER = re.compile(r'[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')


# Python's int()/float() also accept spaces, underscores, non-ASCII digits, 'nan' and
# 'inf'; a URL should only match the plain spellings, so those are checked first.
def _to_int(value: str) -> int:
    if not _INTEGER.fullmatch(value):
        raise ValueError(value)
    return int(value)


def _to_float(value: str) -> float:
    if not _NUMBER.fullmatch(value):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


_CONVERTERS: dict[Any, tuple[Callable[[str], Any], str]] = {
    str: (str, 'a string'),
    int: (_to_int, 'an integer'),
    float: (_to_float, 'a number'),
    bool: (_to_bool, 'true/false/1/0'),
    uuid.UUID: (uuid.UUID, 'a UUID'),
}


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


_UNRESOLVED = object()


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Evaluated annotations; one that cannot be resolved maps to ``_UNRESOLVED``.

    ``get_type_hints`` fails as a whole when any annotation (say, of ``request``)
    names something it cannot see, so fall back to resolving them one by one.
    """
    try:
        return typing.get_type_hints(func)
    except Exception:
        pass
    annotations = dict(getattr(func, '__annotations__', {}))
    namespace = getattr(inspect.unwrap(func), '__globals__', {})
    hints: dict[str, Any] = {}
    for name, value in annotations.items():
        if isinstance(value, str):
            try:
                value = eval(value, namespace)  # what get_type_hints does, one name at a time
            except Exception:
                value = _UNRESOLVED
        hints[name] = value
    return hints


class ArgumentPlan:
    """How one handler receives the path variables of one route."""

    __slots__ = ('converters', 'takes_request')

    def __init__(self, converters: dict[str, tuple[Callable[[str], Any], str]], takes_request: bool):
        self.converters = converters
        self.takes_request = takes_request

    def convert(self, raw: dict[str, str]) -> dict[str, Any]:
        if not raw:
            return raw
        out: dict[str, Any] = {}
        for name, value in raw.items():
            converter = self.converters.get(name)
            if converter is None:
                out[name] = value
                continue
            func, kind = converter
            try:
                out[name] = func(value)
            except (ValueError, TypeError):
                raise PathVariableError(name, value, kind) from None
        return out


def build_plan(
    func: Callable[..., Any], variables: tuple[str, ...], *, owner: str, skip: tuple[str, ...] = ()
) -> ArgumentPlan:
    """Check that ``func`` accepts ``variables`` and prepare their converters.

    ``skip`` names leading parameters that are not path variables (``self``);
    a parameter called ``request`` receives the request and is not a variable.
    """
    signature = inspect.signature(func)
    params = {n: p for n, p in signature.parameters.items() if n not in skip}
    takes_request = 'request' in params and 'request' not in variables
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    hints = _hints(func)
    converters: dict[str, tuple[Callable[[str], Any], str]] = {}
    for name in variables:
        param = params.get(name)
        if param is None:
            if has_var_kw:
                continue
            raise RoutingError(f'{owner} does not accept the path variable <{name}>')
        annotation = _unwrap_optional(hints.get(name, inspect.Parameter.empty))
        if annotation is _UNRESOLVED:
            raise RoutingError(
                f'{owner}: cannot resolve the annotation {param.annotation!r} of path variable <{name}>'
            )
        if annotation is inspect.Parameter.empty or annotation is Any:
            continue
        if annotation not in _CONVERTERS:
            raise RoutingError(
                f'{owner}: path variable <{name}> is annotated {annotation!r}; '
                'use str, int, float, bool or uuid.UUID'
            )
        if annotation is not str:
            converters[name] = _CONVERTERS[annotation]
    for name, param in params.items():
        required = param.default is inspect.Parameter.empty and param.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        if required and name not in variables and not (name == 'request' and takes_request):
            raise RoutingError(f'{owner} needs the argument {name!r}, which the route does not provide')
    return ArgumentPlan(converters, takes_request)
