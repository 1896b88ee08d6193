"""What HTTP requests and WebSocket connections share: a view over the ASGI scope."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from panther.types import Scope

_SECRET_HEADERS = frozenset({'authorization', 'proxy-authorization', 'cookie'})


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers.

    ``headers['Authorization']``, ``headers.get('authorization')`` and
    ``headers.authorization`` are the same value; attribute names use ``_`` for ``-``
    (``headers.content_type``). A missing header is ``None`` in attribute style.
    ``repr`` shows ``***`` for ``Authorization``, ``Proxy-Authorization`` and ``Cookie``.
    """

    __slots__ = ('_data',)

    def __init__(self, raw: list[tuple[bytes, bytes]] | None = None) -> None:
        data: dict[str, str] = {}
        for key, value in raw or ():
            name = key.decode('latin-1').lower()
            text = value.decode('latin-1')
            if name in data:
                # Repeated headers combine into one (RFC 9110 5.3); cookies have their own separator.
                text = f'{data[name]}{"; " if name == "cookie" else ", "}{text}'
            data[name] = text
        self._data = data

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> str | None:
        if name.startswith('__'):
            raise AttributeError(name)
        return self._data.get(name.replace('_', '-').lower())

    def __repr__(self) -> str:
        # Credentials stay out of whatever prints or logs the headers.
        shown = {k: '***' if k in _SECRET_HEADERS else v for k, v in self._data.items()}
        return f'Headers({shown!r})'


def parse_query(query: bytes) -> dict[str, str]:
    """The query string as a dict, as ``parse_qsl(..., keep_blank_values=True)`` reads it (last value wins)."""
    raw = query.decode('latin-1')
    if '%' in raw or '+' in raw:
        return dict(parse_qsl(raw, keep_blank_values=True))
    # Nothing to decode (a token is base64url): split as parse_qsl does, without its per-pair unquoting.
    params: dict[str, str] = {}
    for pair in raw.split('&'):
        if pair:
            name, _, value = pair.partition('=')
            params[name] = value
    return params


class BaseRequest:
    """Attributes common to ``Request`` and ``GenericWebsocket``, parsed lazily from the scope."""

    __slots__ = ()

    scope: Scope
    user: Any
    path_variables: dict[str, Any]

    def _bind(self, scope: Scope) -> None:
        self.scope = scope
        self.user = None
        self.path_variables = {}
        self._headers: Headers | None = None
        self._query_params: dict[str, str] | None = None
        self._cookies: dict[str, str] | None = None

    @property
    def path(self) -> str:
        """The request path, percent-decoded (``/ws/chat/lobby/``), without the query string."""
        return self.scope['path']

    @property
    def headers(self) -> Headers:
        """The request headers, case-insensitive: ``headers['Authorization']`` or ``headers.authorization``."""
        if self._headers is None:
            self._headers = Headers(self.scope.get('headers'))
        return self._headers

    @property
    def query_params(self) -> dict[str, str]:
        """The query string as a dict of str (the last value of a repeated name wins)."""
        if self._query_params is None:
            self._query_params = parse_query(self.scope.get('query_string', b''))
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        """The ``Cookie`` header as a dict (empty when it is missing or cannot be parsed)."""
        if self._cookies is None:
            jar: SimpleCookie = SimpleCookie()
            header = self.headers.get('cookie')
            if header:
                try:
                    jar.load(header)
                except Exception:
                    jar = SimpleCookie()
            self._cookies = {k: m.value for k, m in jar.items()}
        return self._cookies

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's ``(host, port)`` as the server reports it, or ``None``."""
        client = self.scope.get('client')
        return tuple(client) if client else None  # type: ignore[return-value]

    def has_credentials(self) -> bool:
        """True when the handshake carries something an authenticator could read."""
        cookie = False
        for name, _ in self.scope.get('headers') or ():
            name = name.lower()
            if name == b'authorization':
                return True
            if name == b'cookie':
                cookie = True
        query = self.scope.get('query_string', b'')
        # '%': the name may be percent-encoded (``%61uthorization``), which the parsed query decodes.
        if (b'authorization=' in query or b'%' in query) and 'authorization' in self.query_params:
            return True
        return cookie and 'access_token' in self.cookies
