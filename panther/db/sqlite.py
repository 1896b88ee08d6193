"""The embedded SQLite engine: one worker thread, one connection, a queue of jobs.

Every table is ``(id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT)`` with the row's
fields as a JSON object in ``data``; filters compare ``json_extract(data, '$.field')``
and unique constraints are unique expression indexes on the same expression.

All SQL runs on the engine's own thread, so the event loop never blocks on disk and
the jobs of one process are serialised (no "database is locked" between coroutines).
Writes open ``BEGIN IMMEDIATE`` transactions, so read-modify-write jobs stay atomic
even when several worker processes share the file (WAL mode, busy timeout).

::

    db = SQLiteDatabase(':memory:')
    table = Table('book', unique=(('title',),))
    row_id = await db.insert(table, {'title': 'Dune'})
    await db.select(table, {'title': 'Dune'})  # [(1, {'title': 'Dune'})]
    await db.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from panther.db.errors import DatabaseError, DuplicateError
from panther.exceptions import ConfigError

T = TypeVar('T')

_IDENTIFIER = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_STOP = object()


def check_identifier(name: str, what: str) -> str:
    """Return ``name`` if it is a plain identifier (safe to put in SQL), else raise."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f'{what} must be a plain identifier (letters, digits, _), got {name!r}')
    return name


@dataclass(frozen=True)
class Table:
    """What the engine needs to know about a table: its name and its indexes.

    ``unique`` and ``indexes`` hold tuples of field names, one tuple per index.
    """

    name: str
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        check_identifier(self.name, 'a table name')
        for group in (*self.unique, *self.indexes):
            for field in group:
                check_identifier(field, 'an indexed field name')

    def index_name(self, fields: tuple[str, ...], unique: bool) -> str:
        return f'{self.name}__{"unique" if unique else "index"}__{"__".join(fields)}'


def _field(name: str) -> str:
    return f"json_extract(data, '$.{check_identifier(name, 'a field name')}')"


def _where(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Build ``WHERE ...`` from field-equality filters whose values are JSON-ready."""
    clauses: list[str] = []
    params: list[Any] = []
    for name, value in filters.items():
        column = 'id' if name == 'id' else _field(name)
        if value is None:
            clauses.append(f'{column} IS NULL')
        elif isinstance(value, dict | list):
            clauses.append(f'{column} = json(?)')
            params.append(_dumps(value))
        else:
            clauses.append(f'{column} = ?')
            params.append(value)
    return (' WHERE ' + ' AND '.join(clauses)) if clauses else '', params


def _dumps(document: Any) -> str:
    return json.dumps(document, separators=(',', ':'), ensure_ascii=False)


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute('BEGIN IMMEDIATE')
    try:
        yield
    except BaseException:
        conn.execute('ROLLBACK')
        raise
    conn.execute('COMMIT')


class SQLiteDatabase:
    """An SQLite database at ``path`` (a file, or ``':memory:'``) served by one thread.

    ``timeout`` is how long a write waits for another process's lock, in seconds.
    """

    def __init__(self, path: str, *, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._prepared: set[Table] = set()  # touched only by the worker thread
        self._thread = threading.Thread(
            target=self._work, name=f'panther-sqlite:{path}', daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        state = 'closed' if self._closed else 'open'
        return f'<SQLiteDatabase {self.path!r} {state}>'

    @property
    def closed(self) -> bool:
        return self._closed

    # -- running jobs ---------------------------------------------------------------

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(connection)`` on the database thread and return its result.

        A job cancelled before it starts never runs; once started it runs to the end.
        """
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise DatabaseError(f'the database {self.path!r} is closed')
            self._jobs.put((job, future))
        return await asyncio.wrap_future(future)

    def _work(self) -> None:
        conn: sqlite3.Connection | None = None
        while (item := self._jobs.get()) is not _STOP:
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            if conn is None:
                # Opened by the first job (and retried by the next one if it failed).
                try:
                    conn = self._connect()
                except (sqlite3.Error, OSError) as exc:
                    problem = f'cannot open SQLite database {self.path!r} ({exc})'
                    future.set_exception(ConfigError('DATABASE', problem))
                    continue
            try:
                result = job(conn)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
        if conn is not None:
            conn.close()
        self._stopped.set_result(None)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if self.path != ':memory:':
                self._use_wal(conn)
                conn.execute('PRAGMA synchronous=NORMAL')
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL takes an exclusive lock that the busy timeout
        # does not cover; processes opening the file together retry until ``timeout``.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if conn.execute('PRAGMA journal_mode').fetchone()[0] != 'wal':
                    conn.execute('PRAGMA journal_mode=WAL')
                return
            except sqlite3.OperationalError as exc:
                if 'locked' not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    # -- closing --------------------------------------------------------------------

    def _stop(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            self._jobs.put(_STOP)
            return True

    def close_nowait(self) -> None:
        """Refuse new jobs; the thread finishes the queued ones, then closes the file."""
        self._stop()

    async def close(self) -> None:
        """Refuse new jobs, wait for the queued ones, and close the connection."""
        self._stop()
        await asyncio.wrap_future(self._stopped)

    def close_sync(self, timeout: float | None = 10.0) -> None:
        """``close()`` for code without an event loop (blocks up to ``timeout``)."""
        self._stop()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- tables and rows ------------------------------------------------------------

    def _prepare(self, conn: sqlite3.Connection, table: Table) -> None:
        if table in self._prepared:
            return
        with _write(conn):
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{table.name}" '
                '(id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL)'
            )
            for unique, groups in ((True, table.unique), (False, table.indexes)):
                for fields in groups:
                    columns = ', '.join(_field(f) for f in fields)
                    kind = 'UNIQUE INDEX' if unique else 'INDEX'
                    try:
                        conn.execute(
                            f'CREATE {kind} IF NOT EXISTS "{table.index_name(fields, unique)}" '
                            f'ON "{table.name}" ({columns})'
                        )
                    except sqlite3.IntegrityError:
                        raise DatabaseError(
                            f'{table.name}: cannot make {", ".join(fields)} unique, '
                            'the table already holds duplicates'
                        ) from None
        self._prepared.add(table)

    @staticmethod
    def _duplicate(table: Table, exc: sqlite3.IntegrityError) -> DatabaseError:
        message = str(exc)
        for fields in table.unique:
            if table.index_name(fields, unique=True) in message:
                return DuplicateError(table.name, fields)
        if f'{table.name}.id' in message:
            return DuplicateError(table.name, ('id',))
        return DatabaseError(f'{table.name}: {message}')

    async def ping(self) -> None:
        """Check the database answers (raises ``ConfigError('DATABASE', ...)`` if not)."""
        await self.run(lambda conn: conn.execute('SELECT 1').fetchone())

    async def insert(self, table: Table, document: Mapping[str, Any], id: int | None = None) -> int:
        """Store ``document`` (JSON-ready, without ``id``) and return the new row id."""
        data = _dumps(dict(document))

        def job(conn: sqlite3.Connection) -> int:
            self._prepare(conn, table)
            try:
                with _write(conn):
                    cursor = conn.execute(
                        f'INSERT INTO "{table.name}" (id, data) VALUES (?, ?)', (id, data)
                    )
            except sqlite3.IntegrityError as exc:
                raise self._duplicate(table, exc) from None
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        return await self.run(job)

    async def select(
        self, table: Table, filters: Mapping[str, Any], limit: int | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        """Return ``(id, document)`` of the matching rows, oldest first."""
        where, params = _where(filters)
        sql = f'SELECT id, data FROM "{table.name}"{where} ORDER BY id'
        if limit is not None:
            sql += f' LIMIT {int(limit)}'

        def job(conn: sqlite3.Connection) -> list[tuple[int, dict[str, Any]]]:
            self._prepare(conn, table)
            return [(row_id, json.loads(data)) for row_id, data in conn.execute(sql, params)]

        return await self.run(job)

    async def count(self, table: Table, filters: Mapping[str, Any]) -> int:
        """Return how many rows match ``filters``."""
        where, params = _where(filters)
        sql = f'SELECT count(*) FROM "{table.name}"{where}'

        def job(conn: sqlite3.Connection) -> int:
            self._prepare(conn, table)
            return conn.execute(sql, params).fetchone()[0]

        return await self.run(job)

    async def update(
        self,
        table: Table,
        filters: Mapping[str, Any],
        change: Callable[[int, dict[str, Any]], Mapping[str, Any]],
    ) -> bool:
        """Replace the first matching row's document with ``change(id, document)``.

        Reading, ``change`` and writing happen in one transaction; if ``change``
        raises, nothing is written and the exception propagates. Returns whether a
        row matched.
        """
        where, params = _where(filters)
        sql = f'SELECT id, data FROM "{table.name}"{where} ORDER BY id LIMIT 1'

        def job(conn: sqlite3.Connection) -> bool:
            self._prepare(conn, table)
            try:
                with _write(conn):
                    row = conn.execute(sql, params).fetchone()
                    if row is None:
                        return False
                    new = _dumps(dict(change(row[0], json.loads(row[1]))))
                    conn.execute(f'UPDATE "{table.name}" SET data = ? WHERE id = ?', (new, row[0]))
            except sqlite3.IntegrityError as exc:
                raise self._duplicate(table, exc) from None
            return True

        return await self.run(job)

    async def delete(self, table: Table, filters: Mapping[str, Any], limit: int | None = 1) -> int:
        """Delete the first ``limit`` matching rows (all if ``None``); return how many."""
        where, params = _where(filters)
        if limit is None:
            sql = f'DELETE FROM "{table.name}"{where}'
        else:
            sql = (
                f'DELETE FROM "{table.name}" WHERE id IN '
                f'(SELECT id FROM "{table.name}"{where} ORDER BY id LIMIT {int(limit)})'
            )

        def job(conn: sqlite3.Connection) -> int:
            self._prepare(conn, table)
            with _write(conn):
                return conn.execute(sql, params).rowcount

        return await self.run(job)
