"""Noticing a multi-worker server whose workers cannot share connections.

Without Redis, workers share connections through the shared-local bus only when
something prepared a shared directory before they started: ``panther run
--workers N`` or ``gunicorn --preload``. A worker built by plain ``uvicorn
--workers N`` or by gunicorn without ``--preload`` cannot know its siblings, so
it runs alone and says so once at start-up.

What is detected (best effort, Linux ``/proc``): the parent process's command
line. A uvicorn worker is a ``multiprocessing`` child whose parent runs uvicorn
with ``--workers N`` (or ``WEB_CONCURRENCY``) and N > 1; a gunicorn worker has
``gunicorn`` imported and a parent running gunicorn with ``-w``/``--workers``
N > 1 (or ``WEB_CONCURRENCY``). A gunicorn worker count set only in a config file
is not visible, so that case warns too (the message says "if more than one").
"""

from __future__ import annotations

import multiprocessing
import os
import sys

from panther.argv import int_option, to_int


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return [part.decode(errors='replace') for part in f.read().split(b'\0') if part]
    except OSError:
        return []


def _mentions(args: list[str], program: str) -> bool:
    return any(program in os.path.basename(arg) for arg in args[:3])


def unshared_workers_warning() -> str | None:
    """A one-line warning if this process is one of several workers that cannot share connections."""
    parent = _cmdline(os.getppid())
    fix = ('run "panther run main:app --workers N", or "gunicorn -w N -k panther.workers.UvicornWorker '
           'main:app --preload", or configure REDIS')
    if 'gunicorn' in sys.modules and _mentions(parent, 'gunicorn'):
        workers = int_option(parent, '--workers', '-w') or to_int(os.environ.get('WEB_CONCURRENCY'))
        if workers == 1:
            return None
        count = f'{workers} workers' if workers else 'more than one worker (if so)'
        return (f'WebSockets are NOT shared between workers: gunicorn runs {count} without --preload, so '
                f'each worker reaches only its own connections and groups; {fix}.')
    if multiprocessing.parent_process() is not None and _mentions(parent, 'uvicorn'):
        workers = int_option(parent, '--workers') or to_int(os.environ.get('WEB_CONCURRENCY'))
        if workers and workers > 1:
            return (f'WebSockets are NOT shared between workers: "uvicorn --workers {workers}" gives each worker '
                    f'only its own connections and groups; {fix}.')
    return None
