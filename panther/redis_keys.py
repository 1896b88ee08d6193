"""Every Redis key panther writes, named in one place so each operation stays in one hash slot.

A Redis Cluster hashes a key by its hash tag, the text between the first ``{`` and
the next ``}``: keys with the same tag live in the same slot, so one command or
one script may touch them together. panther tags its keys by what an operation
is about: a worker (its stream and liveness key) or a group (its member set and
its workers hash)::

    key('bus:stream', worker_id)  == 'panther:bus:stream:{<worker_id>}'
    key('bus:members', 'room')    == 'panther:bus:members:{room}'

A tag holding ``{`` or ``}`` (a group named ``a}b``) would end early or be empty,
and keys meant to share a slot could then land in different ones; such a tag is
replaced by a digest of it (same text, same digest, so the keys still agree).
On a single Redis the tag is only part of the name.
"""

from __future__ import annotations

import hashlib

PREFIX = 'panther:'


def tag(text: str) -> str:
    """``{text}``: the hash tag of ``text``, safe whatever characters it holds."""
    if '{' in text or '}' in text or not text:
        text = '#' + hashlib.sha1(text.encode()).hexdigest()
    return '{' + text + '}'


def key(kind: str, about: str) -> str:
    """The key of ``kind`` (``'bus:stream'``, ``'bus:alive'``, ...) for ``about``, hash-tagged by it."""
    return f'{PREFIX}{kind}:{tag(about)}'
