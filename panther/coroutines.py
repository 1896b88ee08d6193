"""Finishing a coroutine that was started by hand.

``GenericWebsocket`` steps a server's send coroutine once itself, so a write that
completes at once costs no task. When the step suspends, ``finish_coroutine``
carries the coroutine on inside a task, exactly as the event loop would have:
it waits for what the coroutine is waiting on, then resumes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def finish_coroutine(coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """Drive ``coroutine`` to its end; ``waiting_on`` is what its first step yielded."""
    try:
        while True:
            if waiting_on is None:
                await asyncio.sleep(0)  # a bare yield: the coroutine only gave way to others
            else:
                # The coroutine awaits this future itself once resumed, and reads its
                # result or exception there; here we only wait until it is done.
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait((waiting_on,))
            try:
                waiting_on = coroutine.send(None)
            except StopIteration as stop:
                return stop.value
    except asyncio.CancelledError:
        coroutine.close()
        raise
