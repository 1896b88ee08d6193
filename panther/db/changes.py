"""Listeners told when ``Model`` writes change or delete existing rows in this process.

For caches of rows (the verified-token cache keeps users) that must forget a row
as soon as it changes. ``Model.update_one``/``update`` and ``delete_one``/
``delete_many``/``delete`` call ``rows_changed`` after the write committed and
before they return, so a listener has run by the time the caller goes on::

    from panther.db.changes import on_rows_changed

    async def forget(model, ids):   # ids: tuple of row ids, or None when unknown
        ...

    on_rows_changed(forget)

Inserts are not reported: they never change a row that exists.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ['RowsChangedListener', 'off_rows_changed', 'on_rows_changed', 'rows_changed']

logger = logging.getLogger('panther')

RowsChangedListener = Callable[[type, tuple[Any, ...] | None], Awaitable[None]]
"""``async def listener(model, ids)``: ``ids`` are the changed rows' ids, ``None`` if unknown (all may have)."""

_listeners: list[RowsChangedListener] = []


def on_rows_changed(listener: RowsChangedListener) -> None:
    """Call ``listener`` after every update or delete made through a model (once, however often added)."""
    if listener not in _listeners:
        _listeners.append(listener)


def off_rows_changed(listener: RowsChangedListener) -> None:
    """Stop calling ``listener`` (nothing happens if it was not added)."""
    if listener in _listeners:
        _listeners.remove(listener)


async def rows_changed(model: type, ids: tuple[Any, ...] | None) -> None:
    """Tell every listener that rows ``ids`` of ``model`` changed or are gone (``None``: unknown rows).

    A listener that raises is logged, not propagated: the write itself has already happened.
    """
    for listener in tuple(_listeners):
        try:
            await listener(model, ids)
        except Exception:
            logger.exception('a listener of %s changes failed', model.__name__)
