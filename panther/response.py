"""HTTP responses: JSON by default, HTML and plain text when asked.

Example::

    from panther.response import Response

    return Response(data={'id': 1}, status_code=201)
"""

from __future__ import annotations

from typing import Any

from panther.serialization import dumps
from panther.types import Send


class Response:
    """A JSON response; ``data`` is encoded with orjson (pydantic models included)."""

    content_type = 'application/json'

    def __init__(self, data: Any = None, status_code: int = 200, headers: dict[str, str] | None = None):
        self.data = data
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})

    def render(self) -> bytes:
        return dumps(self.data)

    async def send(self, send: Send) -> None:
        body = self.render()
        headers = [(k.lower().encode('latin-1'), str(v).encode('latin-1')) for k, v in self.headers.items()]
        if not any(k == b'content-type' for k, _ in headers):
            headers.append((b'content-type', self.content_type.encode()))
        headers.append((b'content-length', str(len(body)).encode()))
        await send({'type': 'http.response.start', 'status': self.status_code, 'headers': headers})
        await send({'type': 'http.response.body', 'body': body})

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.status_code}>'


class HTMLResponse(Response):
    content_type = 'text/html; charset=utf-8'

    def render(self) -> bytes:
        return self.data.encode() if isinstance(self.data, str) else bytes(self.data or b'')


class PlainTextResponse(Response):
    content_type = 'text/plain; charset=utf-8'

    def render(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        return ('' if self.data is None else str(self.data)).encode()
