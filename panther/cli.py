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
    args = uvicorn_args(target, app, list(ctx.args))
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
