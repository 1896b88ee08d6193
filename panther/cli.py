"""The ``panther`` command.

``panther run main:app`` serves an app through uvicorn; every uvicorn option
(``--host``, ``--port``, ``--reload``, ``--workers``, ``--log-level``, ...) passes
through unchanged. The app is imported once first, so a configuration error is
one line on stderr and exit status 1 instead of a traceback from a worker.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from panther.bus.shared import share_between_workers
from panther.exceptions import ConfigError


def load_app(target: str) -> Any:
    """Import ``module:attribute`` from the current directory."""
    module_name, _, attribute = target.partition(':')
    if not module_name or not attribute:
        raise click.UsageError(f'expected MODULE:APP (like main:app), got {target!r}')
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None
    except ImportError as exc:
        raise click.ClickException(f'cannot import {module_name!r}: {exc}') from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise click.ClickException(f'module {module_name!r} has no attribute {attribute!r}') from None


def _has_option(args: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + '=') for a in args for n in names)


def uvicorn_args(target: str, app: Any, extra: list[str]) -> list[str]:
    """uvicorn's argv: the user's options win; panther fills in what the app's limits imply."""
    args = [target, *extra]
    limits = getattr(app, 'limits', None)
    if limits is not None:
        if not _has_option(extra, '--ws-max-size'):
            args += ['--ws-max-size', str(limits.max_message_size)]
        if not _has_option(extra, '--ws-ping-interval') and limits.ping_interval is not None:
            args += ['--ws-ping-interval', str(limits.ping_interval)]
        if not _has_option(extra, '--ws-ping-timeout') and limits.ping_timeout is not None:
            args += ['--ws-ping-timeout', str(limits.ping_timeout)]
    return args


@click.group()
@click.version_option(package_name='panther')
def main() -> None:
    """panther: an async web framework built around real-time WebSockets."""


@main.command(context_settings={'ignore_unknown_options': True, 'allow_extra_args': True,
                                'help_option_names': []})
@click.argument('target')
@click.pass_context
def run(ctx: click.Context, target: str) -> None:
    """Serve TARGET (module:app) with uvicorn on 127.0.0.1:8000; uvicorn options pass through."""
    uvicorn_cli = importlib.import_module('uvicorn.main').main  # the click command, not uvicorn.run

    app = load_app(target)
    # --workers N: give the workers a shared-local bus before uvicorn spawns them.
    share_between_workers(list(ctx.args), getattr(app, 'config', None))
    args = uvicorn_args(target, app, list(ctx.args))
    try:
        uvicorn_cli.main(args=args, prog_name='panther run', standalone_mode=True)
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None


if __name__ == '__main__':
    main()
