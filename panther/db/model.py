"""``Model``: a pydantic model whose subclasses are database tables.

```python
from panther.db import Model

class Book(Model):
    __unique__ = ('isbn',)      # optional: unique fields (or tuples of fields)
    title: str
    isbn: str
    pages: int = 0

book = await Book.insert_one(title='Dune', isbn='978-0441013593')
book.id                                   # assigned by the database
await Book.find_one(isbn='978-0441013593')
await Book.find(pages=0)                  # list, oldest first
await Book.count()
await Book.update_one({'id': book.id}, pages=412)
await book.update(title='Dune (1965)')
await Book.delete_one(id=book.id)         # True if a row was deleted
```

The table is the class name in lower case (``book``) unless the class sets
``__table__ = 'books'``. Filters are field equalities joined with AND; values are
compared in their JSON form (datetimes as ISO strings, enums by value). Every write
is validated by the model first, so a bad value raises pydantic's
``ValidationError`` and nothing is stored. Breaking a unique constraint raises
``panther.db.DuplicateError``. A field declared with ``Field(exclude=True)`` is
stored but left out of ``model_dump()`` and so out of JSON responses. Updates and
deletes are reported to ``panther.db.changes`` listeners before they return (the
verified-token cache forgets a changed user that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from panther.db.changes import rows_changed
from panther.db.connection import get_database
from panther.db.errors import DatabaseError
from panther.db.sqlite import Table, check_identifier


def _ids(where: Mapping[str, Any]) -> tuple[int, ...] | None:
    # A filter on an integer id names the only row it can touch; any other filter (SQLite also
    # matches id='5' to row 5) may touch any row.
    row_id = where.get('id')
    return (row_id,) if isinstance(row_id, int) and not isinstance(row_id, bool) else None


def _groups(cls: type, attribute: str) -> tuple[tuple[str, ...], ...]:
    value = getattr(cls, attribute, ())
    if isinstance(value, str):
        value = (value,)
    groups = tuple((item,) if isinstance(item, str) else tuple(item) for item in value)
    for fields in groups:
        for name in fields:
            if name == 'id':
                raise TypeError(f'{cls.__name__}.{attribute}: id is the primary key already')
            if name not in cls.model_fields:  # type: ignore[attr-defined]
                raise TypeError(f'{cls.__name__}.{attribute} names {name!r}, which is not a field')
    return groups


class Model(BaseModel):
    """Base class of database models; see the module docstring for an example."""

    __table__: ClassVar[str | None] = None
    __unique__: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    __indexes__: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    _panther_table: ClassVar[Table | None] = None

    id: int | None = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get('__table__') or cls.__name__.lower()
        check_identifier(name, f'the table name of {cls.__name__}')
        cls._panther_table = Table(
            name=name, unique=_groups(cls, '__unique__'), indexes=_groups(cls, '__indexes__')
        )

    # -- helpers --------------------------------------------------------------------

    @classmethod
    def _table(cls) -> Table:
        if cls._panther_table is None:
            raise TypeError('Model itself has no table; subclass it: class Book(Model): ...')
        return cls._panther_table

    @classmethod
    def _filters(cls, positional: Mapping[str, Any] | None, keywords: Mapping[str, Any]) -> dict:
        filters = {**(positional or {}), **keywords}
        for name in filters:
            if name not in cls.model_fields:
                raise ValueError(f'{cls.__name__} has no field {name!r} to filter on')
        return {name: to_jsonable_python(value) for name, value in filters.items()}

    def _document(self) -> dict[str, Any]:
        document = self.model_dump(mode='json', exclude={'id'})
        # ``Field(exclude=True)`` hides a field from responses, not from the database.
        for name, field in type(self).model_fields.items():
            if field.exclude and name != 'id':
                document[name] = to_jsonable_python(getattr(self, name))
        return document

    @classmethod
    def _from_row(cls, row_id: int, document: Mapping[str, Any]) -> Self:
        return cls.model_validate({**document, 'id': row_id})

    # -- queries --------------------------------------------------------------------

    @classmethod
    async def insert_one(cls, document: Mapping[str, Any] | None = None, /, **fields: Any) -> Self:
        """Validate and store a new row; return it with its ``id`` set.

        ```python
        book = await Book.insert_one(title='Dune', isbn='1')
        book = await Book.insert_one({'title': 'Dune', 'isbn': '1'})
        ```
        """
        obj = cls.model_validate({**(document or {}), **fields})
        obj.id = await get_database().insert(cls._table(), obj._document(), id=obj.id)
        return obj

    @classmethod
    async def find_one(
        cls, filters: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Self | None:
        """Return the oldest row matching every filter, or ``None``.

        ```python
        await Book.find_one(id=1)
        await Book.find_one(title='Dune', pages=412)
        ```
        """
        rows = await get_database().select(cls._table(), cls._filters(filters, kwargs), limit=1)
        return cls._from_row(*rows[0]) if rows else None

    @classmethod
    async def find(cls, filters: Mapping[str, Any] | None = None, /, **kwargs: Any) -> list[Self]:
        """Return every row matching the filters (all rows without filters), oldest first.

        ```python
        short_books = await Book.find(pages=0)
        ```
        """
        rows = await get_database().select(cls._table(), cls._filters(filters, kwargs))
        return [cls._from_row(row_id, document) for row_id, document in rows]

    @classmethod
    async def count(cls, filters: Mapping[str, Any] | None = None, /, **kwargs: Any) -> int:
        """Return how many rows match the filters.

        ```python
        await Book.count(pages=0)
        ```
        """
        return await get_database().count(cls._table(), cls._filters(filters, kwargs))

    @classmethod
    async def update_one(
        cls, filters: Mapping[str, Any], changes: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Self | None:
        """Change fields of the oldest row matching ``filters``; return it updated, or ``None``.

        The row is read, validated with the changes and written back in one
        transaction, so concurrent updates of different fields do not lose each other.

        ```python
        await Book.update_one({'isbn': '1'}, pages=412)
        await Book.update_one({'isbn': '1'}, {'pages': 412})
        ```
        """
        updates = {**(changes or {}), **kwargs}
        if 'id' in updates:
            raise ValueError(f'{cls.__name__}: the id of a row cannot be changed')
        for name in updates:
            if name not in cls.model_fields:
                raise ValueError(f'{cls.__name__} has no field {name!r} to update')
        updated: list[Self] = []

        def change(row_id: int, document: dict[str, Any]) -> dict[str, Any]:
            obj = cls.model_validate({**document, **updates, 'id': row_id})
            updated.append(obj)
            return obj._document()

        found = await get_database().update(cls._table(), cls._filters(filters, {}), change)
        if not found:
            return None
        await rows_changed(cls, (updated[0].id,))
        return updated[0]

    @classmethod
    async def delete_one(cls, filters: Mapping[str, Any] | None = None, /, **kwargs: Any) -> bool:
        """Delete the oldest row matching the filters; return whether one was deleted.

        ```python
        await Book.delete_one(id=1)
        ```
        """
        table, where = cls._table(), cls._filters(filters, kwargs)
        deleted = await get_database().delete(table, where, limit=1)
        if deleted:
            await rows_changed(cls, _ids(where))
        return deleted > 0

    @classmethod
    async def delete_many(cls, filters: Mapping[str, Any] | None = None, /, **kwargs: Any) -> int:
        """Delete every row matching the filters (all rows without filters); return how many.

        ```python
        await Book.delete_many(pages=0)
        ```
        """
        table, where = cls._table(), cls._filters(filters, kwargs)
        deleted = await get_database().delete(table, where, limit=None)
        if deleted:
            await rows_changed(cls, _ids(where))
        return deleted

    # -- one row --------------------------------------------------------------------

    def _require_id(self) -> int:
        if self.id is None:
            raise DatabaseError(f'this {type(self).__name__} is not stored yet (its id is None)')
        return self.id

    async def update(self, **fields: Any) -> None:
        """Change fields of this row in the database and on this object.

        ```python
        await book.update(pages=500)
        ```
        """
        updated = await type(self).update_one({'id': self._require_id()}, **fields)
        if updated is None:
            raise DatabaseError(f'{type(self).__name__} id={self.id} no longer exists')
        for name in type(self).model_fields:
            setattr(self, name, getattr(updated, name))

    async def delete(self) -> bool:
        """Delete this row; return whether it still existed.

        ```python
        await book.delete()
        ```
        """
        return await type(self).delete_one(id=self._require_id())
