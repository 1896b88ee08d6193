"""The HTTP request handed to APIs.

Example:

```python
async def post(self, request: Request):
    return {'you_sent': request.data, 'from': request.client}
```
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from panther.base_request import BaseRequest
from panther.exceptions import BadRequestAPIError
from panther.serialization import loads
from panther.types import Receive, Scope


class Request(BaseRequest):
    """``method``, ``path``, ``headers``, ``query_params``, ``data``, ``user``, ``client``."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._bind(scope)
        self._receive = receive
        self._body: bytes | None = None
        self._data: Any = None

    @property
    def method(self) -> str:
        """The HTTP method, upper case (``'GET'``)."""
        return self.scope['method']

    @property
    def body(self) -> bytes:
        """The raw request body (``b''`` when empty)."""
        return self._body or b''

    @property
    def data(self) -> Any:
        """The parsed body: JSON, or a dict for a form (``None`` for an empty body).

        A body that is not valid JSON has already been answered with 400.
        """
        return self._data

    async def read_body(self, limit: int | None = None) -> None:
        """Receive the whole body and parse it into ``data``; over ``limit`` bytes -> 413."""
        if limit is not None:
            declared = self.headers.get('content-length')
            if declared and declared.isdigit() and int(declared) > limit:
                raise BadRequestAPIError('Request body too large', status_code=413)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await self._receive()
            if message['type'] == 'http.disconnect':
                break
            chunk = message.get('body', b'')
            size += len(chunk)
            if limit is not None and size > limit:
                raise BadRequestAPIError('Request body too large', status_code=413)
            chunks.append(chunk)
            more = message.get('more_body', False)
        self._body = b''.join(chunks)
        self._data = self._parse()

    def _parse(self) -> Any:
        body = self._body
        if not body:
            return None
        content_type = (self.headers.get('content-type') or '').split(';')[0].strip().lower()
        if content_type == 'application/x-www-form-urlencoded':
            try:
                return dict(parse_qsl(body.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                raise BadRequestAPIError('Invalid form body (not UTF-8)') from None
        if content_type in ('', 'application/json') or content_type.endswith('+json'):
            try:
                return loads(body)
            except ValueError:
                if content_type:
                    raise BadRequestAPIError('Invalid JSON body') from None
                return body.decode(errors='replace')
        return body
