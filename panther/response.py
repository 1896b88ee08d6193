"""HTTP responses: JSON by default, HTML and plain text when asked.

Example:

```python
from panther.response import Response

return Response(data={'id': 1}, status_code=201, headers={'Location': '/books/1/'})
```

A subclass picks its own ``content_type`` and ``render()``; ``set_cookie`` adds a
``Set-Cookie`` header (one per cookie, which a plain headers dict cannot hold).
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any, Literal

from panther.serialization import dumps
from panther.types import Send

_NO_BODY = frozenset({204, 205, 304})


def _encode(text: Any, what: str) -> bytes:
    value = str(text)
    if '\r' in value or '\n' in value:
        # A newline would let a header value start a new header (response splitting).
        raise ValueError(f'response header {what} contains a line break: {value!r}')
    return value.encode('latin-1')


class Response:
    """A JSON response; ``data`` is encoded with orjson (pydantic models included).

    Return it from an API when the status or headers matter; a plain return value
    is the same as ``Response(value)``.

    Args:
        data: what the body holds: anything orjson encodes (``None`` is ``null``).
        status_code: the HTTP status (``status.HTTP_201_CREATED``, ...).
        headers: extra response headers; ``content-type`` is the class's unless
            given here, and ``content-length`` is always computed.

    Examples:
        ```python
        return Response({'id': 1}, status_code=status.HTTP_201_CREATED, headers={'Location': '/books/1/'})
        ```
    """

    content_type = 'application/json'

    def __init__(self, data: Any = None, status_code: int = 200, headers: Mapping[str, str] | None = None):
        self.data = data
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        self.cookies: list[str] = []

    def render(self) -> bytes:
        """The body bytes (called once per response, before anything is sent)."""
        return dumps(self.data)

    def set_cookie(
        self,
        key: str,
        value: str = '',
        *,
        max_age: int | None = None,
        path: str = '/',
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: Literal['lax', 'strict', 'none'] | None = 'lax',
    ) -> None:
        """Add a ``Set-Cookie`` header; ``max_age=0`` deletes the cookie in the browser.

        Args:
            key: the cookie's name.
            value: its value.
            max_age: seconds it lives; ``None``: until the browser closes.
            path: the paths it is sent to.
            domain: the domain it is sent to; ``None``: this host only.
            secure: sent over HTTPS only.
            httponly: hidden from JavaScript (the default).
            samesite: ``'lax'`` (the default), ``'strict'``, ``'none'`` or ``None``
                (no attribute).
        """
        jar: SimpleCookie = SimpleCookie()
        jar[key] = value
        morsel = jar[key]
        morsel['path'] = path
        if max_age is not None:
            morsel['max-age'] = max_age
        if domain:
            morsel['domain'] = domain
        if secure:
            morsel['secure'] = True
        if httponly:
            morsel['httponly'] = True
        if samesite:
            morsel['samesite'] = samesite.capitalize()
        self.cookies.append(morsel.OutputString())

    def raw_headers(self, body_length: int | None) -> list[tuple[bytes, bytes]]:
        """ASGI header pairs; ``content-length`` is always computed, never taken from ``headers``."""
        headers = [
            (_encode(k, k).lower(), _encode(v, k)) for k, v in self.headers.items() if k.lower() != 'content-length'
        ]
        headers += [(b'set-cookie', _encode(c, 'Set-Cookie')) for c in self.cookies]
        if body_length is not None:
            if not any(k == b'content-type' for k, _ in headers):
                headers.append((b'content-type', self.content_type.encode('latin-1')))
            headers.append((b'content-length', str(body_length).encode()))
        return headers

    async def send(self, send: Send, *, body: bytes | None = None, head: bool = False) -> None:
        """Send this response; ``head=True`` sends the headers of the full response but no body."""
        if self.status_code in _NO_BODY or self.status_code < 200:
            body, length = b'', None
        else:
            body = self.render() if body is None else body
            length = len(body)
        await send({'type': 'http.response.start', 'status': self.status_code, 'headers': self.raw_headers(length)})
        await send({'type': 'http.response.body', 'body': b'' if head else body})

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.status_code}>'


class HTMLResponse(Response):
    """``data`` is the page, as ``str`` (sent as UTF-8) or ``bytes``."""

    content_type = 'text/html; charset=utf-8'

    def render(self) -> bytes:
        return self.data.encode() if isinstance(self.data, str) else bytes(self.data or b'')


class PlainTextResponse(Response):
    """``data`` is sent as text: ``str(data)`` in UTF-8, or ``bytes`` as they are."""

    content_type = 'text/plain; charset=utf-8'

    def render(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        return ('' if self.data is None else str(self.data)).encode()
