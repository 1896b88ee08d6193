"""Start-up warnings for methods that look like a misspelled hook.

panther calls ``connect``, ``receive`` and ``disconnect`` on a WebSocket class and
``get``/``post``/``put``/``patch``/``delete`` on an API class, by name. A method
named ``recieve`` is never called, so the messages it was meant for vanish without
a trace; this module names such a method once, when the app is built.

A method is taken for a misspelled hook when its name, compared case-insensitively,
is close to the hook's (``difflib`` ratio of at least ``CUTOFF``), the class does
not define that hook itself, and the name is not the hook with something added
(``reconnect``, ``receive_json`` and ``on_connect`` are other names, not typos), unless
it only doubles a letter (``gett``).
"""

from __future__ import annotations

import difflib
import inspect
import logging
import re
from collections.abc import Iterable

from panther.app import GenericAPI
from panther.websocket import GenericWebsocket

logger = logging.getLogger('panther')

#: The hooks a WebSocket class overrides, in the order they run.
WEBSOCKET_HOOKS: tuple[str, ...] = ('connect', 'receive', 'disconnect')
#: The handler methods of a ``GenericAPI`` class.
API_HOOKS: tuple[str, ...] = ('get', 'post', 'put', 'patch', 'delete')
#: How close (0..1) a name must be to a hook to be reported: ``recieve`` is 0.86, ``recv`` 0.73.
CUTOFF = 0.8


def likely_hook(name: str, hooks: Iterable[str]) -> str | None:
    """The hook ``name`` most likely misspells, or ``None`` if it is no near miss of any."""
    hooks = tuple(hooks)
    if name.startswith('_') or name in hooks:
        return None
    best, best_ratio = None, CUTOFF
    lowered = name.lower()
    for hook in hooks:
        if _squeezed(lowered) == _squeezed(hook):
            return hook  # a case or doubled-letter slip: ``Receive``, ``gett``, ``connnect``
        if hook in lowered:
            continue  # the hook plus more is another word: ``reconnect``, ``posts``
        ratio = difflib.SequenceMatcher(None, lowered, hook).ratio()
        if ratio >= best_ratio:
            best, best_ratio = hook, ratio
    return best


def _squeezed(name: str) -> str:
    return re.sub(r'(.)\1+', r'\1', name)


def misspelled_hooks(cls: type) -> list[tuple[str, str]]:
    """``(method name, hook it likely misspells)`` for every such method of ``cls``.

    Only methods written in ``cls`` or a user base class count (not panther's own),
    and only for hooks that no user class in its hierarchy defines.
    """
    if issubclass(cls, GenericWebsocket):
        base: type = GenericWebsocket
        hooks = WEBSOCKET_HOOKS
    elif issubclass(cls, GenericAPI):
        base, hooks = GenericAPI, API_HOOKS
    else:
        return []
    user_classes = [c for c in cls.__mro__ if c not in base.__mro__ and issubclass(c, base)]
    defined = {name for c in user_classes for name in vars(c)}
    found: dict[str, str] = {}
    for klass in user_classes:
        for name, value in vars(klass).items():
            if name in found or hasattr(base, name):
                continue
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if not inspect.isfunction(value):
                continue
            hook = likely_hook(name, hooks)
            if hook is not None and hook not in defined:
                found[name] = hook
    return list(found.items())


def warn_misspelled_hooks(targets: Iterable[object]) -> list[str]:
    """Log one WARNING per class and near-miss method among the routed ``targets``.

    Call it once per app with every route's target; a class routed twice is
    checked once. Returns the messages logged.
    """
    messages: list[str] = []
    for target in dict.fromkeys(targets):
        if not inspect.isclass(target):
            continue
        for name, hook in misspelled_hooks(target):
            message = (f'{target.__qualname__}.{name}() looks like a misspelling of the {hook}() hook, '
                       f'which {target.__qualname__} does not define: panther never calls {name}(); '
                       f'rename it to {hook}()')
            logger.warning(message)
            messages.append(message)
    return messages
