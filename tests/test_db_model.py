import asyncio
from datetime import UTC, datetime
from enum import Enum

import pytest
from pydantic import Field, ValidationError

from panther.db import DatabaseError, DuplicateError, Model
from panther.db.connection import get_database


class Color(Enum):
    RED = 'red'
    BLUE = 'blue'


class Book(Model):
    __unique__ = ('isbn',)
    __indexes__ = ('title',)

    title: str
    isbn: str
    pages: int = 0
    color: Color = Color.RED
    published: datetime | None = None
    tags: list[str] = []


class Shelf(Model):
    __table__ = 'shelves'
    __unique__ = (('room', 'number'),)

    room: str
    number: int


class Counter(Model):
    a: int = 0
    b: int = 0
    c: int = 0


@pytest.fixture(autouse=True)
def _db(database):
    return database


def test_table_names():
    assert Book._table().name == 'book'
    assert Shelf._table().name == 'shelves'

    class Tall(Shelf):
        height: int = 0

    # ``__table__`` is not inherited: a subclass is its own table.
    assert Tall._table().name == 'tall'
    assert Tall._table().unique == (('room', 'number'),)


def test_bad_declarations_fail_at_class_creation():
    with pytest.raises(TypeError, match="names 'nope'"):

        class Bad(Model):
            __unique__ = ('nope',)
            name: str

    with pytest.raises(ValueError, match='table name'):

        class Worse(Model):
            __table__ = 'x y'


async def test_model_itself_has_no_table():
    with pytest.raises(TypeError, match='subclass it'):
        await Model.find()


async def test_crud_round_trip():
    book = await Book.insert_one(title='Dune', isbn='1', pages=412)
    assert book.id == 1
    other = await Book.insert_one({'title': 'Emma', 'isbn': '2'})
    assert other.id == 2

    assert await Book.find_one(id=1) == book
    assert await Book.find_one(isbn='2') == other
    assert await Book.find_one({'title': 'Dune'}, pages=412) == book
    assert await Book.find_one(isbn='404') is None
    assert await Book.find() == [book, other]
    assert await Book.find(pages=0) == [other]
    assert await Book.count() == 2
    assert await Book.count(title='Dune') == 1

    updated = await Book.update_one({'isbn': '2'}, pages=300)
    assert updated is not None and updated.pages == 300 and updated.id == 2
    assert (await Book.find_one(id=2)).pages == 300
    assert await Book.update_one({'isbn': '404'}, pages=1) is None
    assert (await Book.update_one({'id': 2}, {'title': 'Emma!'})).title == 'Emma!'

    assert await Book.delete_one(isbn='1') is True
    assert await Book.delete_one(isbn='1') is False
    assert await Book.count() == 1


async def test_instance_update_and_delete():
    book = await Book.insert_one(title='Dune', isbn='1')
    await book.update(pages=10, tags=['sf'])
    assert book.pages == 10 and book.tags == ['sf']
    assert await Book.find_one(id=book.id) == book
    assert await book.delete() is True
    assert await book.delete() is False
    with pytest.raises(DatabaseError, match='no longer exists'):
        await book.update(pages=1)
    with pytest.raises(DatabaseError, match='not stored yet'):
        await Book(title='x', isbn='y').update(pages=1)


async def test_delete_many():
    for i in range(5):
        await Book.insert_one(title='t' if i % 2 else 'u', isbn=str(i))
    assert await Book.delete_many(title='t') == 2
    assert await Book.count() == 3
    assert await Book.delete_many() == 3


async def test_filters_on_typed_fields():
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    await Book.insert_one(title='a', isbn='1', color=Color.BLUE, published=when, tags=['x'])
    await Book.insert_one(title='b', isbn='2')
    assert [b.title for b in await Book.find(color=Color.BLUE)] == ['a']
    assert [b.title for b in await Book.find(color='red')] == ['b']
    assert [b.title for b in await Book.find(published=when)] == ['a']
    assert [b.title for b in await Book.find(published=None)] == ['b']
    assert [b.title for b in await Book.find(tags=['x'])] == ['a']
    found = await Book.find_one(isbn='1')
    assert found.published == when and found.color is Color.BLUE


async def test_unknown_fields_are_rejected():
    with pytest.raises(ValueError, match="Book has no field 'titel'"):
        await Book.find(titel='Dune')
    with pytest.raises(ValueError, match="no field 'titel' to update"):
        await Book.update_one({'isbn': '1'}, titel='x')
    with pytest.raises(ValueError, match='cannot be changed'):
        await Book.update_one({'isbn': '1'}, id=5)


async def test_validation_errors_store_nothing():
    with pytest.raises(ValidationError):
        await Book.insert_one(title='Dune', isbn='1', pages='many')
    assert await Book.count() == 0
    book = await Book.insert_one(title='Dune', isbn='1')
    with pytest.raises(ValidationError):
        await Book.update_one({'id': book.id}, pages='many')
    with pytest.raises(ValidationError):
        await book.update(pages='many')
    assert await Book.find_one(id=book.id) == book


async def test_unique_constraints():
    await Book.insert_one(title='Dune', isbn='1')
    with pytest.raises(DuplicateError) as info:
        await Book.insert_one(title='Copy', isbn='1')
    assert info.value.fields == ('isbn',)
    emma = await Book.insert_one(title='Emma', isbn='2')
    with pytest.raises(DuplicateError):
        await emma.update(isbn='1')
    assert (await Book.find_one(id=emma.id)).isbn == '2'

    await Shelf.insert_one(room='a', number=1)
    await Shelf.insert_one(room='a', number=2)
    await Shelf.insert_one(room='b', number=1)
    with pytest.raises(DuplicateError) as info:
        await Shelf.insert_one(room='a', number=1)
    assert info.value.fields == ('room', 'number')


async def test_explicit_id():
    book = await Book.insert_one(id=40, title='Dune', isbn='1')
    assert book.id == 40
    assert (await Book.insert_one(title='Emma', isbn='2')).id == 41


async def test_index_is_used_for_filters():
    await Book.insert_one(title='Dune', isbn='1')
    plan = await get_database().run(
        lambda conn: conn.execute(
            'EXPLAIN QUERY PLAN SELECT id FROM book '
            "WHERE json_extract(data, '$.isbn') = ?", ('1',)
        ).fetchall()
    )
    assert 'book__unique__isbn' in str(plan)


async def test_100_concurrent_coroutines_insert_and_read():
    async def worker(i: int) -> tuple[int, int]:
        book = await Book.insert_one(title=f'title-{i % 10}', isbn=f'isbn-{i}', pages=i)
        found = await Book.find_one(isbn=f'isbn-{i}')
        assert found == book
        assert await Book.count(isbn=f'isbn-{i}') == 1
        await book.update(pages=i * 2)
        return book.id, i

    results = await asyncio.gather(*(worker(i) for i in range(100)))
    ids = [row_id for row_id, _ in results]
    assert sorted(ids) == list(range(1, 101))
    assert await Book.count() == 100
    for n in range(10):
        assert await Book.count(title=f'title-{n}') == 10
    books = await Book.find()
    assert {b.isbn: b.pages for b in books} == {f'isbn-{i}': i * 2 for i in range(100)}


async def test_concurrent_updates_of_different_fields_are_not_lost():
    counter = await Counter.insert_one()

    async def bump(field: str) -> None:
        for _ in range(20):
            await Counter.update_one({'id': counter.id}, {field: 1})

    await asyncio.gather(bump('a'), bump('b'), bump('c'))
    stored = await Counter.find_one(id=counter.id)
    assert (stored.a, stored.b, stored.c) == (1, 1, 1)


async def test_concurrent_duplicate_inserts_keep_one():
    outcomes = await asyncio.gather(
        *(Book.insert_one(title='race', isbn='same') for _ in range(50)), return_exceptions=True
    )
    assert sum(isinstance(o, Book) for o in outcomes) == 1
    assert sum(isinstance(o, DuplicateError) for o in outcomes) == 49
    assert await Book.count(isbn='same') == 1


async def test_excluded_fields_are_stored_but_not_dumped():
    class Secret(Model):
        name: str
        token: str = Field(exclude=True)

    secret = await Secret.insert_one(name='a', token='t0k')
    assert secret.model_dump() == {'id': secret.id, 'name': 'a'}
    assert (await Secret.find_one(token='t0k')).token == 't0k'
    await secret.update(name='b')
    assert (await Secret.find_one(id=secret.id)).token == 't0k'
