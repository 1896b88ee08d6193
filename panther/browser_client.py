"""The browser client, ``panther.js``, served by every app at ``WS_CLIENT_PATH``.

The file ships inside the package (``panther/static/panther.js``) and is read once,
on first request. It is answered for ``GET`` and ``HEAD`` with an ``ETag``, so a
browser revalidates it cheaply (``304``) and picks up a new version right after an
upgrade; ``WS_CLIENT_PATH = None`` turns it off (the path is then routed as usual).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from panther.response import Response
from panther.types import Scope, Send

SOURCE = Path(__file__).parent / 'static' / 'panther.js'
DEFAULT_PATH = '/_panther/panther.js'


class JavaScriptResponse(Response):
    content_type = 'text/javascript; charset=utf-8'

    def render(self) -> bytes:
        return self.data


@cache
def client_source() -> tuple[bytes, str]:
    """The script's bytes and its quoted ETag."""
    body = SOURCE.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _if_none_match(scope: Scope) -> bytes | None:
    for name, value in scope.get('headers', ()):
        if name == b'if-none-match':
            return value
    return None


async def serve_client(scope: Scope, send: Send) -> None:
    """Answer one HTTP request for the client script (405 for methods other than GET and HEAD)."""
    method = scope.get('method', 'GET')
    if method not in ('GET', 'HEAD'):
        response = Response({'detail': 'Method Not Allowed'}, 405, headers={'Allow': 'GET, HEAD'})
        await response.send(send)
        return
    body, etag = client_source()
    headers = {'ETag': etag, 'Cache-Control': 'no-cache'}
    candidates = _if_none_match(scope)
    if candidates is not None and (candidates.strip() == b'*' or etag.encode() in candidates):
        await JavaScriptResponse(b'', 304, headers=headers).send(send)
        return
    await JavaScriptResponse(body, 200, headers=headers).send(send, head=method == 'HEAD')
