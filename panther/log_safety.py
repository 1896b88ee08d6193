"""Making client-chosen text safe to write into a log line.

A path, query, header, subprotocol or close reason comes from whoever opened the
connection. Written raw, a percent-decoded ``%0a`` starts a new line that looks
like any other log record (log forging), and escape sequences (``\\x1b[...``)
or bidirectional overrides rewrite what a terminal shows. Every value panther
logs that a client chose goes through ``printable`` first (``%r`` is safe as
well: ``repr`` escapes the same characters).
"""

from __future__ import annotations

from typing import Any

_NAMED = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f'\\x{code:02x}'
    if code <= 0xFFFF:
        return f'\\u{code:04x}'
    return f'\\U{code:08x}'


def printable(value: Any) -> str:
    """``str(value)`` with every non-printable character written as its escape.

    Non-printable is what ``str.isprintable`` says: control characters (``\\n``,
    ``\\r``, ``\\x1b``, ``\\x85``), line and paragraph separators, format
    characters such as bidirectional overrides, and unassigned code points.
    Printable text, including non-ASCII letters, comes back unchanged;
    backslashes are left alone so that paths stay readable.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return ''.join(char if char.isprintable() else _escape(char) for char in text)
