"""The ``panther`` command.

``panther run main:app`` serves an app through uvicorn; every uvicorn option
(``--host``, ``--port``, ``--reload``, ``--workers``, ``--log-level``, ...) passes
through unchanged. The app is imported once first, so a configuration error is
one line on stderr and exit status 1 instead of a traceback from a worker.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
import signal
import sys
from types import FrameType
from typing import Any

import click

from panther import argv
from panther.bus.shared_dir import share_between_workers
from panther.exceptions import ConfigError
from panther.log_masking import write_uvicorn_log_config
from panther.servers.uvicorn import HAS_HTTPTOOLS, HTTP_PROTOCOL, PROTOCOL, announce


def load_app(target: str, app_dir: str = '') -> Any:
    """Import ``module:attribute`` from ``app_dir`` (the current directory by default)."""
    module_name, _, attribute = target.partition(':')
    if not module_name or not attribute:
        raise click.UsageError(f'expected MODULE:APP (like main:app), got {target!r}')
    directory = os.path.abspath(app_dir or os.getcwd())
    if directory not in sys.path:
        sys.path.insert(0, directory)
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


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def uvicorn_args(target: str, app: Any, extra: list[str]) -> list[str]:
    """uvicorn's argv: the user's options win; panther fills in what the app's limits imply."""
    args = [target, *extra]
    if not argv.has_option(extra, '--ws'):
        # panther's own protocol: uvicorn's sans-I/O one plus the frame fast path (panther.servers.uvicorn).
        args += ['--ws', PROTOCOL]
    if not argv.has_option(extra, '--http') and HAS_HTTPTOOLS:
        # uvicorn's httptools protocol plus a deadline and a size bound for request heads.
        args += ['--http', HTTP_PROTOCOL]
    limits = getattr(app, 'limits', None)
    if limits is not None:
        if not argv.has_option(extra, '--ws-max-size'):
            args += ['--ws-max-size', str(limits.max_message_size)]
        if not argv.has_option(extra, '--ws-ping-interval') and limits.ping_interval is not None:
            args += ['--ws-ping-interval', str(limits.ping_interval)]
        if not argv.has_option(extra, '--ws-ping-timeout') and limits.ping_timeout is not None:
            args += ['--ws-ping-timeout', str(limits.ping_timeout)]
        if not argv.has_option(extra, '--timeout-graceful-shutdown'):
            # Without it uvicorn waits forever on a peer that never reads its close frame.
            args += ['--timeout-graceful-shutdown', str(max(1, math.ceil(limits.shutdown_timeout)))]
    return args


def _preflight(app: Any) -> None:
    """Reach the app's outside resources once before serving, so an unreachable Redis
    is one line and exit status 1 here rather than a failure repeated by every worker."""
    settings = getattr(app, 'config', None)
    if settings is None or settings.REDIS is None:
        return
    from panther.resources import close_resources, open_resources

    async def check() -> None:
        try:
            await open_resources(settings)
        finally:
            await close_resources(settings)

    try:
        asyncio.run(check())
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None


@click.group()
@click.version_option(package_name='panther')
def main() -> None:
    """panther: an async web framework built around real-time WebSockets."""


@main.command(context_settings={'ignore_unknown_options': True, 'allow_extra_args': True,
                                'help_option_names': []})
@click.argument('target', required=False)
@click.pass_context
def run(ctx: click.Context, target: str | None) -> None:
    """Serve TARGET (module:app) with uvicorn on 127.0.0.1:8000; uvicorn options pass through."""
    uvicorn_cli = importlib.import_module('uvicorn.main').main  # the click command, not uvicorn.run
    extra = list(ctx.args)
    if target is None:
        raise click.UsageError('missing MODULE:APP (like main:app); see "panther run --help"')
    if target in ('--help', '-h') or '--help' in extra:
        # Our options are uvicorn's, so its help is the accurate list.
        click.echo('panther run MODULE:APP [uvicorn options]\n\n'
                   'Serves the app with uvicorn on 127.0.0.1:8000 (options as below).\n')
        uvicorn_cli.main(args=['--help'], prog_name='panther run', standalone_mode=True)
        return

    log_level = argv.option(extra, '--log-level')
    if log_level:
        # Read by every Panther() built from here on, in this process and in worker processes.
        os.environ['PANTHER_LOG_LEVEL'] = 'DEBUG' if log_level.lower() == 'trace' else log_level.upper()
    app = load_app(target, argv.option(extra, '--app-dir') or '')
    _preflight(app)
    # --workers N: give the workers a shared-local bus before uvicorn spawns them.
    share_between_workers(extra, getattr(app, 'config', None))
    reporter = getattr(app, 'metrics_reporter', None)
    if reporter is not None:
        reporter.share_with_workers()  # METRICS_PATH: the workers add up their numbers in one directory
    args = uvicorn_args(target, app, extra)
    chosen = argv.option(extra, '--ws')
    announce(app, None if chosen is None else f'--ws {chosen} was given')
    if not argv.has_option(args, '--log-config'):
        # Tokens in query strings must not reach the access log; a user's own log config is theirs to mask.
        colors = True if '--use-colors' in args else False if '--no-use-colors' in args else None
        args += ['--log-config', write_uvicorn_log_config(colors)]
    # After a graceful shutdown uvicorn re-raises the signal that stopped it, which
    # would end the process "killed by SIGTERM"; a requested stop is a success.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_cleanly)
    try:
        uvicorn_cli.main(args=args, prog_name='panther run', standalone_mode=True)
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None


def _run_with_database(coroutine_factory: Any) -> Any:
    """Run a database coroutine, then close the engine so the command exits promptly."""
    import asyncio

    from panther.db.connection import close_database

    async def body() -> Any:
        try:
            return await coroutine_factory()
        finally:
            await close_database()

    return asyncio.run(body())


@main.command()
@click.argument('target')
@click.option('--username', help='Skip the username prompt.')
@click.option('--password', help='Skip the password prompt (visible in shell history: scripts only).')
def createuser(target: str, username: str | None, password: str | None) -> None:
    """Create a user in TARGET's (module:app) database with its USER_MODEL; prints the new id."""
    from panther.db import DuplicateError
    from panther.db.models import get_user_model

    load_app(target)
    try:
        model = get_user_model()
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None
    if username is None:
        username = click.prompt('Username')
    if not username or not username.strip():
        raise click.ClickException('the username must not be empty')
    if password is None:
        password = click.prompt('Password', hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.ClickException('the password must not be empty')
    try:
        user = _run_with_database(lambda: model.create_user(username.strip(), password))
    except DuplicateError:
        raise click.ClickException(f'a user named {username.strip()!r} already exists') from None
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None
    click.echo(f'created user {user.username!r} with id {user.id}')


@main.command()
@click.argument('target')
@click.argument('user_id')
def token(target: str, user_id: str) -> None:
    """Print an access token for the user USER_ID of TARGET (module:app)."""
    from panther.authentications import JWTAuthentication, jwt_settings
    from panther.db.models import get_user_model

    load_app(target)
    try:
        jwt_settings()
        model = get_user_model()
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None
    key: int | str = int(user_id) if user_id.isdigit() else user_id
    try:
        user = _run_with_database(lambda: model.find_one(id=key))
    except ConfigError as exc:
        raise click.ClickException(f'configuration error: {exc}') from None
    if user is None:
        raise click.ClickException(f'no user with id {user_id}')
    click.echo(JWTAuthentication.encode_token(user.id))


if __name__ == '__main__':
    main()
