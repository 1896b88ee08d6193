"""Reading a server's command-line options the way the server itself reads them.

``panther run`` passes its options to uvicorn, and the bus looks at the
command line of a uvicorn or gunicorn parent process. Both must see the value
the server will use, so there is one reader, following click (uvicorn) and
argparse (gunicorn):

- ``--name value`` and ``--name=value`` for long names;
- ``-n value``, ``-nvalue`` and ``-n=value`` for one-letter names;
- a repeated option: the last one wins (``--workers 1 --workers 4`` is 4);
- the token after one of the names asked for is its value, whatever it looks
  like (``--workers --workers=3`` gives ``'--workers=3'``, as click does);
- ``--`` ends the options.

Only the names asked for are known, so a value of another option that looks like
one of them (``--app-dir --workers``) would be misread; no server option takes
such a value in practice.
"""

from __future__ import annotations

from collections.abc import Sequence


def _is_short(name: str) -> bool:
    return len(name) == 2 and name[0] == '-' and name[1] != '-'


def option(args: Sequence[str], *names: str) -> str | None:
    """The value of the last of ``names`` (``'--workers'``, ``'-w'``) in ``args``, or ``None``.

    An option at the very end with no value is ignored, as the server would
    refuse it anyway.
    """
    value = None
    i, count = 0, len(args)
    while i < count:
        arg = args[i]
        if arg == '--':
            break
        for name in names:
            if arg == name:
                if i + 1 < count:
                    value = args[i + 1]
                    i += 1  # the value is not an option
                break
            if _is_short(name):
                if arg.startswith(name) and len(arg) > 2:
                    value = arg[3:] if arg[2] == '=' else arg[2:]
                    break
            elif arg.startswith(name + '='):
                value = arg[len(name) + 1:]
                break
        i += 1
    return value


def has_option(args: Sequence[str], *names: str) -> bool:
    """Whether any of ``names`` is given in ``args`` (with or without a value)."""
    for arg in args:
        if arg == '--':
            return False
        for name in names:
            if arg == name or arg.startswith(name + '=') or (_is_short(name) and arg.startswith(name)):
                return True
    return False


def to_int(value: str | None) -> int | None:
    """``value`` as an integer, or ``None`` if it is missing or not a number."""
    try:
        return int(value) if value else None
    except ValueError:
        return None


def int_option(args: Sequence[str], *names: str) -> int | None:
    """The integer value of the last of ``names`` in ``args``; ``None`` if absent or not a number."""
    return to_int(option(args, *names))
