"""Errors the database layer raises.

::

    from panther.db import DuplicateError

    try:
        await BaseUser.create_user('ali', 'secret')
    except DuplicateError as exc:
        print(exc.fields)  # ('username',)
"""

from __future__ import annotations

from panther.exceptions import PantherError


class DatabaseError(PantherError):
    """A database operation failed (closed engine, missing row, SQLite error)."""


class DuplicateError(DatabaseError):
    """An insert or update would break a unique constraint of ``table`` on ``fields``."""

    def __init__(self, table: str, fields: tuple[str, ...]) -> None:
        self.table = table
        self.fields = fields
        super().__init__(f'{table}: a row with the same {", ".join(fields)} already exists')
