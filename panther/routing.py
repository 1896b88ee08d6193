"""URL routing: a nested dict of patterns compiled once into a segment tree.

Keys are paths with optional leading/trailing slashes and ``<name>`` variables;
values are handlers or nested dicts::

    urls = {
        '': MainPage,
        'ws/book/': BookWebsocket,
        'api/': {'users/<user_id>/': UserAPI},
    }

Matching walks one tree node per path segment. A literal segment beats a
variable at the same depth (``users/me`` wins over ``users/<id>``); two patterns
that would match exactly the same paths are an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from panther.exceptions import RoutingError

_LITERAL = re.compile(r'^[A-Za-z0-9._~\-]+$')
_VARIABLE = re.compile(r'^<([A-Za-z_][A-Za-z0-9_]*)>$')


@dataclass(slots=True)
class Route:
    pattern: str
    target: Any
    variables: tuple[str, ...]
    endpoint: Any = None


@dataclass(slots=True)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    variable: _Node | None = None
    variable_name: str = ''
    route: Route | None = None


def _segments(path: str) -> list[str]:
    return [s for s in path.split('/') if s]


def flatten(urls: Mapping[str, Any], prefix: str = '') -> list[tuple[str, Any]]:
    """Turn a nested urls dict into ``[(pattern, target), ...]`` with normalised patterns."""
    if not isinstance(urls, Mapping):
        raise RoutingError(f'expected a dict of routes, got {type(urls).__name__}')
    flat: list[tuple[str, Any]] = []
    for key, target in urls.items():
        if not isinstance(key, str):
            raise RoutingError(f'route key {key!r} is not a string')
        pattern = '/'.join(_segments(prefix) + _segments(key))
        if isinstance(target, Mapping):
            flat.extend(flatten(target, pattern))
        else:
            flat.append((pattern, target))
    return flat


class Router:
    """Compiled routes; ``match(path)`` returns ``(route, raw_variables)`` or ``None``."""

    def __init__(self, urls: Mapping[str, Any]) -> None:
        self._root = _Node()
        self.routes: list[Route] = []
        for pattern, target in flatten(urls):
            self._add(pattern, target)
        # Routes without variables, by the two paths a client usually sends ('/a/b' and '/a/b/'):
        # one dict lookup instead of a walk. The walk would find the same route, since a
        # literal beats a variable at every depth; any other spelling still takes the walk.
        self._static: dict[str, Route] = {}
        for route in self.routes:
            if not route.variables:
                path = '/' + route.pattern
                self._static[path] = route
                self._static[path.rstrip('/') + '/'] = route

    def _add(self, pattern: str, target: Any) -> None:
        if not callable(target):
            raise RoutingError(f'route {pattern or "/"!r} points to {target!r}, which is not callable')
        node = self._root
        variables: list[str] = []
        for segment in _segments(pattern):
            var = _VARIABLE.match(segment)
            if var:
                name = var.group(1)
                if name in variables:
                    raise RoutingError(f'route {pattern!r} uses the variable <{name}> twice')
                variables.append(name)
                if node.variable is None:
                    node.variable = _Node()
                    node.variable_name = name
                node = node.variable
            elif _LITERAL.match(segment):
                node = node.literals.setdefault(segment, _Node())
            else:
                raise RoutingError(
                    f'route {pattern!r} has an invalid segment {segment!r} '
                    '(use letters, digits, . _ ~ - or a <variable>)'
                )
        if node.route is not None:
            other = node.route.pattern
            kind = 'duplicate' if other == pattern else 'ambiguous'
            raise RoutingError(f'{kind} routes {other or "/"!r} and {pattern or "/"!r} match the same paths')
        node.route = Route(pattern=pattern, target=target, variables=tuple(variables))
        self.routes.append(node.route)

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        static = self._static.get(path)
        if static is not None:
            return static, {}
        segments = [s for s in path.split('/') if s]
        values: list[str] = []
        route = self._walk(self._root, segments, 0, values)
        if route is None:
            return None
        return route, dict(zip(route.variables, values, strict=True))

    def _walk(self, node: _Node, segments: list[str], i: int, values: list[str]) -> Route | None:
        if i == len(segments):
            return node.route
        child = node.literals.get(segments[i])
        if child is not None:
            found = self._walk(child, segments, i + 1, values)
            if found is not None:
                return found
        if node.variable is not None:
            values.append(segments[i])
            found = self._walk(node.variable, segments, i + 1, values)
            if found is not None:
                return found
            values.pop()
        return None
