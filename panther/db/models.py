"""``BaseUser``, the user model authentication loads, and ``get_user_model()``.

```python
from panther.db.models import BaseUser

user = await BaseUser.create_user('ali', 'a long passphrase')
user.check_password('a long passphrase')   # True
await user.update_last_login()
```

To add fields, subclass it and name the subclass in ``USER_MODEL``:

```python
class User(BaseUser):
    email: str | None = None

USER_MODEL = 'app.models.User'
```

Passwords are stored as ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64 salt and hash).
A raw password given to the model (``insert_one(password=...)``,
``update(password=...)``) is hashed on validation, so a plain password never
reaches the database; ``create_user`` and ``set_password`` hash off the event loop.
The hash is stored but left out of ``model_dump()``, so returning a user from an
API never sends it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import Field, field_validator

import panther.token_cache  # noqa: F401  (registers the listener: any process writing users tells every cache)
from panther.config_loader import import_string
from panther.configs import config
from panther.db.model import Model
from panther.exceptions import ConfigError

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_B64 = r'[A-Za-z0-9+/]+={0,2}'
_HASHED = re.compile(rf'scrypt\$(\d+)\$(\d+)\$(\d+)\$({_B64})\$({_B64})')


def _scrypt(raw: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    maxmem = 256 * 1024 * 1024
    return hashlib.scrypt(raw.encode(), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=32)


def hash_password(raw: str) -> str:
    """Return a salted scrypt hash of ``raw``: ``scrypt$n$r$p$salt$hash``.

    ```python
    hashed = hash_password('secret')
    verify_password('secret', hashed)  # True
    ```
    """
    salt = secrets.token_bytes(16)
    digest = _scrypt(raw, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    b64 = base64.b64encode
    return f'scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}'


def is_password_hash(value: str) -> bool:
    """Whether ``value`` has the shape of a hash made by ``hash_password``."""
    return _HASHED.fullmatch(value) is not None


def verify_password(raw: str, hashed: str) -> bool:
    """Whether ``raw`` matches ``hashed``; the comparison is constant-time."""
    match = _HASHED.fullmatch(hashed or '')
    if match is None or not isinstance(raw, str):
        return False
    n, r, p = (int(x) for x in match.group(1, 2, 3))
    try:
        salt, expected = (base64.b64decode(x, validate=True) for x in match.group(4, 5))
        digest = _scrypt(raw, salt, n, r, p)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


class BaseUser(Model):
    """A user: unique ``username``, hashed ``password``, creation and last-login times.

    ```python
    user = await BaseUser.create_user('ali', 'secret')
    same = await BaseUser.find_one(username='ali')
    same.check_password('secret')  # True
    ```
    """

    __unique__ = ('username',)

    username: str
    password: str = Field(repr=False, exclude=True)
    date_created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    last_login: datetime | None = None

    @field_validator('password')
    @classmethod
    def _hash_raw_password(cls, value: str) -> str:
        return value if is_password_hash(value) else hash_password(value)

    @classmethod
    async def create_user(cls, username: str, password: str, **fields: Any) -> Self:
        """Store a new user with ``password`` hashed (raises ``DuplicateError`` if taken).

        ```python
        user = await BaseUser.create_user('ali', 'secret')
        ```
        """
        hashed = await asyncio.to_thread(hash_password, password)
        return await cls.insert_one(username=username, password=hashed, **fields)

    def check_password(self, raw: str) -> bool:
        """Whether ``raw`` is this user's password (constant-time; ~50 ms of CPU).

        ```python
        if not user.check_password(given):
            raise AuthenticationAPIError('Wrong username or password')
        ```
        """
        return verify_password(raw, self.password)

    async def set_password(self, raw: str) -> None:
        """Hash ``raw`` off the event loop and store it as the new password.

        ```python
        await user.set_password('new secret')
        ```
        """
        await self.update(password=await asyncio.to_thread(hash_password, raw))

    async def update_last_login(self) -> None:
        """Set ``last_login`` to now (UTC), in the database and on this object.

        ```python
        await user.update_last_login()
        ```
        """
        await self.update(last_login=datetime.now(UTC))


def get_user_model() -> type[BaseUser]:
    """Return the ``USER_MODEL`` class of the current config, or ``BaseUser``.

    ```python
    User = get_user_model()
    user = await User.find_one(id=payload['user_id'])
    ```
    """
    model = config.USER_MODEL
    if model is None:
        return BaseUser
    if isinstance(model, str):
        model = import_string(model, 'USER_MODEL')
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise ConfigError(
            'USER_MODEL', f'{model!r} is not a model class; subclass panther.db.models.BaseUser'
        )
    return model  # type: ignore[return-value]
