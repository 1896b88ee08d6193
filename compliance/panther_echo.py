"""The echo the compliance run serves with a plain ``panther run panther_echo:app``.

Every text message comes back as text, every binary message as binary, at ``/ws``.
``COMPLIANCE_MAX_MESSAGE_SIZE`` (bytes) raises ``WS_MAX_MESSAGE_SIZE`` above its
1 MiB default, which the 9.* cases (messages up to 16 MiB) need; ``panther run``
passes it on to uvicorn as ``--ws-max-size``. Nothing else is configured, so the
server runs exactly as users get it.
"""

from __future__ import annotations

import os

from panther import Panther
from panther.websocket import GenericWebsocket

if os.environ.get("COMPLIANCE_MAX_MESSAGE_SIZE"):
    WS_MAX_MESSAGE_SIZE = int(os.environ["COMPLIANCE_MAX_MESSAGE_SIZE"])


class EchoWebsocket(GenericWebsocket):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, data: str | bytes) -> None:
        await self.send(data)


app = Panther(__name__, configs=__name__, urls={"ws": EchoWebsocket})
