"""Build small apps for in-process WebSocket tests."""

from __future__ import annotations

import itertools
import types
from typing import Any

from panther import Panther

_counter = itertools.count()


def make_app(urls: dict[str, Any], **settings: Any) -> Panther:
    """A ``Panther`` app over ``urls`` whose configs module holds ``settings``."""
    module = types.ModuleType(f'ws_test_configs_{next(_counter)}')
    for key, value in settings.items():
        setattr(module, key, value)
    return Panther('tests', configs=module, urls=urls)
