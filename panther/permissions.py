"""Permission classes: may this (already authenticated) caller go on?

A permission is awaited with the ``Request`` or the WebSocket connection and
returns ``True`` to allow. A refused API answers 403; a refused WebSocket
handshake is rejected:

```python
from panther.permissions import BasePermission, IsAuthenticated

class IsAdmin(BasePermission):
    async def __call__(self, request) -> bool:
        return request.user is not None and request.user.username == 'admin'

class AdminWebsocket(GenericWebsocket):
    auth = QueryParamJWTAuthentication
    permissions = [IsAuthenticated, IsAdmin]
```
"""

from __future__ import annotations

from typing import Any

__all__ = ['BasePermission', 'IsAuthenticated']


class BasePermission:
    """Base class of permission classes; implement ``async def __call__(self, request) -> bool``."""

    async def __call__(self, request: Any) -> bool:
        raise NotImplementedError(f'{type(self).__qualname__} must implement "async def __call__(self, request)"')


class IsAuthenticated(BasePermission):
    """Allows only callers an authentication recognised (``request.user`` is not ``None``)."""

    async def __call__(self, request: Any) -> bool:
        return request.user is not None
