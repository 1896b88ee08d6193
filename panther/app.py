"""HTTP APIs: class-based (``GenericAPI``) or function-based (``@API``).

Example:

```python
from panther.app import API, GenericAPI

class UserAPI(GenericAPI):
    async def get(self, user_id: int):
        return {'id': user_id}

@API(methods=['POST'])
async def notify(request):
    await send_message_to_websocket(request.data['connection_id'], request.data['text'])
    return {'sent': True}
```
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from panther.converters import ArgumentPlan, build_plan
from panther.exceptions import (
    APIError,
    AuthenticationAPIError,
    AuthorizationAPIError,
    ConfigError,
    MethodNotAllowedAPIError,
    RoutingError,
)
from panther.guards import Guard, as_guard, as_guards, guard_name, static_attr
from panther.log_safety import printable
from panther.request import Request
from panther.response import Response

logger = logging.getLogger('panther')

HTTP_METHODS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')


class GenericAPI:
    """Base class of a class-based API; define ``get``/``post``/``put``/``patch``/``delete``.

    Each method may be sync (run in a thread) or async and may take ``request``
    plus the route's path variables as keyword arguments, converted by their
    annotations. What it returns is the answer: a ``dict``, ``list``, ``str`` or
    pydantic model becomes JSON with status 200, a ``Response`` is sent as it is.
    A method the class does not define is answered with 405; ``HEAD`` is served
    by ``get``. Raise an ``APIError`` to answer with its status.

    Attributes:
        auth: an async function or a class with ``async __call__``, called with
            the request; what it returns is ``request.user``. ``None``: the
            configured ``AUTHENTICATION``, and only for requests with credentials.
        permissions: one or a list of async callables called with the request;
            the first that returns ``False`` answers 403.

    Examples:
        ```python
        class BookAPI(GenericAPI):
            permissions = [IsAuthenticated]

            async def get(self, book_id: int):
                return {'id': book_id}

            async def post(self, request: Request, book_id: int):
                return Response(request.data, status_code=201)
        ```
    """

    auth: Any = None
    permissions: Any = None


class API:
    """Decorator turning a function into an API.

    The function may be sync or async and takes ``request`` and the route's path
    variables as keyword arguments, like a ``GenericAPI`` method.

    Args:
        methods: the HTTP methods it answers (default ``['GET']``); any other is
            answered with 405.
        auth: as ``GenericAPI.auth``.
        permissions: as ``GenericAPI.permissions``.

    Raises:
        ConfigError: ``@API`` written without parentheses, or an unknown method.

    Examples:
        ```python
        @API(methods=['GET', 'POST'], auth=JWTAuthentication, permissions=[IsAuthenticated])
        async def inbox(request: Request):
            return {'user': request.user.username}
        ```
    """

    def __init__(
        self,
        methods: Iterable[str] | None = None,
        auth: Any = None,
        permissions: Any = None,
    ) -> None:
        if callable(methods):
            raise ConfigError('API', f'write @API() with parentheses above {getattr(methods, "__qualname__", methods)}')
        if isinstance(methods, str):
            methods = [methods]
        self.methods = tuple(m.upper() for m in (methods or ('GET',)))
        unknown = set(self.methods) - set(HTTP_METHODS)
        if unknown:
            raise ConfigError('API.methods', f'unknown HTTP methods {sorted(unknown)}')
        self.auth = auth
        self.permissions = permissions

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        func.__panther_api__ = self  # type: ignore[attr-defined]
        return func


class _Method:
    __slots__ = ('func', 'is_async', 'plan')

    def __init__(self, func: Callable[..., Any], plan: ArgumentPlan) -> None:
        self.func = func
        self.plan = plan
        self.is_async = inspect.iscoroutinefunction(func)


class HTTPEndpoint:
    """One routed API, prepared once at start-up."""

    def __init__(
        self,
        target: Any,
        variables: tuple[str, ...],
        authentication: Guard | None,
        *,
        max_body_size: int | None = None,
        pattern: str = '',
    ) -> None:
        self.default_auth = authentication
        self.max_body_size = max_body_size
        self.is_class = inspect.isclass(target) and issubclass(target, GenericAPI)
        if inspect.isclass(target) and not self.is_class:
            raise RoutingError(
                f'route {pattern or "/"!r} points to the class {target.__qualname__}, which is neither a '
                'GenericAPI nor a GenericWebsocket subclass'
            )
        self.target = target
        self.methods: dict[str, _Method] = {}
        if self.is_class:
            name = target.__qualname__
            auth, permissions = static_attr(target, 'auth'), static_attr(target, 'permissions')
            for method in HTTP_METHODS:
                func = getattr(target, method.lower(), None)
                if func is not None:
                    plan = build_plan(func, variables, owner=f'{name}.{method.lower()}()', skip=('self',))
                    self.methods[method] = _Method(func, plan)
        else:
            name = getattr(target, '__qualname__', repr(target))
            api: API = getattr(target, '__panther_api__', None) or API()
            auth, permissions = api.auth, api.permissions
            plan = build_plan(target, variables, owner=f'{name}()')
            for method in api.methods:
                self.methods[method] = _Method(target, plan)
        self.auth = as_guard(auth, where=f'{name}.auth') if auth is not None else None
        self.permissions = as_guards(permissions, where=f'{name}.permissions')
        allowed = list(self.methods)
        if 'GET' in allowed:
            allowed.insert(allowed.index('GET') + 1, 'HEAD')
        self.allow = ', '.join(allowed)

    async def __call__(self, request: Request, raw: dict[str, str]) -> Response:
        method = self.methods.get(request.method)
        if method is None:
            if request.method == 'HEAD' and 'GET' in self.methods:
                method = self.methods['GET']
            else:
                raise MethodNotAllowedAPIError(headers={'Allow': self.allow})
        kwargs = method.plan.convert(raw)
        request.path_variables = kwargs
        await self._authenticate(request)
        for permission in self.permissions:
            if not await permission(request):
                raise AuthorizationAPIError()
        if request.method in ('POST', 'PUT', 'PATCH', 'DELETE'):
            await request.read_body(self.max_body_size)
        if method.plan.takes_request:
            kwargs = {**kwargs, 'request': request}
        if self.is_class:
            instance = self.target()
            if method.is_async:
                result = await method.func(instance, **kwargs)
            else:
                result = await asyncio.to_thread(method.func, instance, **kwargs)
        elif method.is_async:
            result = await method.func(**kwargs)
        else:
            result = await asyncio.to_thread(method.func, **kwargs)
        return result if isinstance(result, Response) else Response(data=result)

    async def _authenticate(self, request: Request) -> None:
        auth = self.auth
        if auth is None:
            auth = self.default_auth
            if auth is None or not request.has_credentials():
                return
        try:
            request.user = await auth(request)
        except AuthenticationAPIError:
            # The authentication logged its own one-line reason.
            logger.debug('%s %s: authentication refused', printable(request.method), printable(request.path))
            raise
        except APIError:
            raise
        except Exception as exc:
            logger.error('%s Error: "%s"', guard_name(auth), printable(exc) or type(exc).__name__)
            raise AuthenticationAPIError() from None
