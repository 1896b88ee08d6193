"""Errors users raise from handlers, and errors panther raises at start-up.

Raising an ``APIError`` from an API gives its status code and ``{"detail": ...}``:

```python
from panther.exceptions import NotFoundAPIError

raise NotFoundAPIError('No such book')
```
"""

from typing import Any

from panther import status


class PantherError(Exception):
    """Base class of every error panther raises itself."""


class ConfigError(PantherError):
    """A configuration value is wrong; the message names the key and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f'{key}: {problem}')


class RoutingError(ConfigError):
    """The URL routing is invalid (raised at start-up)."""

    def __init__(self, problem: str) -> None:
        super().__init__('URLS', problem)


class APIError(Exception):
    """Raise from a handler to answer with ``status_code`` and ``{"detail": detail}``.

    Args:
        detail: anything JSON can encode; the class's default when ``None``.
        status_code: the HTTP status; the class's default (500 here) when ``None``.
        headers: extra response headers.

    Examples:
        ```python
        raise APIError({'field': 'title', 'problem': 'too long'}, status_code=422)
        ```
    """

    detail: Any = 'Internal Server Error'
    status_code: int = status.HTTP_500_INTERNAL_SERVER_ERROR

    def __init__(
        self,
        detail: Any = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if detail is not None:
            self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers
        super().__init__(self.detail)


class BadRequestAPIError(APIError):
    """The request is wrong: 400 ``{"detail": "Bad Request"}`` unless a detail is given."""

    detail = 'Bad Request'
    status_code = status.HTTP_400_BAD_REQUEST


class AuthenticationAPIError(APIError):
    """Who is asking could not be established: 401 ``{"detail": "Authentication Error"}``."""

    detail = 'Authentication Error'
    status_code = status.HTTP_401_UNAUTHORIZED


class AuthorizationAPIError(APIError):
    """The caller is known but not allowed: 403 ``{"detail": "Permission Denied"}``."""

    detail = 'Permission Denied'
    status_code = status.HTTP_403_FORBIDDEN


class NotFoundAPIError(APIError):
    """No such thing: 404 ``{"detail": "Not Found"}`` unless a detail is given."""

    detail = 'Not Found'
    status_code = status.HTTP_404_NOT_FOUND


class MethodNotAllowedAPIError(APIError):
    """The API does not answer this method: 405."""

    detail = 'Method Not Allowed'
    status_code = status.HTTP_405_METHOD_NOT_ALLOWED


class ServiceUnavailableAPIError(APIError):
    """A service the request needs (such as Redis, for token revocation) is unreachable: 503."""

    detail = 'service unavailable'
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class UpgradeRequiredAPIError(APIError):
    """Plain HTTP to a WebSocket route: 426."""

    detail = 'Upgrade Required'
    status_code = status.HTTP_426_UPGRADE_REQUIRED
