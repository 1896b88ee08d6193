"""Helpers for the auth tests: configs modules, crafted tokens, credentials, log capture."""

from __future__ import annotations

import base64
import json
import logging
import time
import types
from collections.abc import Callable
from typing import Any

import jwt

from tests.auth_app import SECRET

_counter = 0


def configs_module(**settings: Any) -> types.ModuleType:
    """A throwaway configs module whose UPPERCASE globals are ``settings``."""
    global _counter
    _counter += 1
    module = types.ModuleType(f'_auth_test_configs_{_counter}')
    for key, value in settings.items():
        setattr(module, key, value)
    return module


def sign(payload: dict[str, Any], key: str = SECRET, algorithm: str = 'HS256') -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def claims(user_id: Any = 1, token_type: str = 'access', life: int = 3600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {'user_id': user_id, 'token_type': token_type, 'iat': now, 'exp': now + life}
    payload.update(extra)
    return {k: v for k, v in payload.items() if v is not None}


def tampered(token: str, **changes: Any) -> str:
    """``token`` with its payload changed and the original signature kept."""
    header, payload, signature = token.split('.')
    data = json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))
    data.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b'=').decode()
    return f'{header}.{forged}.{signature}'


def rejection_cases(user_id: int) -> dict[str, tuple[Callable[[], str], str]]:
    """name -> (make the token, the reason the JWT class logs)."""
    good = sign(claims(user_id))
    return {
        'expired': (lambda: sign(claims(user_id, life=-30)), 'Token has expired'),
        'tampered': (lambda: tampered(good, user_id=user_id + 1), 'Token signature is invalid'),
        'wrong_key': (lambda: sign(claims(user_id), key='another-key-that-is-also-32-bytes-long'),
                      'Token signature is invalid'),
        'alg_none': (lambda: jwt.encode(claims(user_id), None, algorithm='none'), 'Token is not signed with HS256'),
        'other_alg': (lambda: sign(claims(user_id), algorithm='HS512'), 'Token is not signed with HS256'),
        'refresh_as_access': (lambda: sign(claims(user_id, token_type='refresh')),
                              "Expected a token of type 'access', got 'refresh'"),
        'no_user_id': (lambda: sign(claims(None)), 'Payload does not have user_id'),
        'unknown_user': (lambda: sign(claims(user_id + 1000)), 'User not found'),
        'malformed': (lambda: 'not-a-jwt', 'Token is malformed'),
    }


def credentials(kind: str, token: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query_params) carrying ``token`` the way ``kind`` reads it."""
    if kind == 'header':
        return {'Authorization': f'Bearer {token}'}, {}
    if kind == 'query':
        return {}, {'authorization': token}
    return {'Cookie': f'access_token={token}'}, {}


class Records(logging.Handler):
    """Collects the ``panther`` logger's records."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.ERROR]

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == logging.WARNING]

    def text(self) -> str:
        return '\n'.join(r.getMessage() for r in self.records)

    def clear(self) -> None:
        self.records.clear()
