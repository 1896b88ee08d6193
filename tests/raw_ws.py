"""A WebSocket client on a bare socket, for peers that misbehave on purpose.

The ``websockets`` client reads in the background and answers pings, so it
cannot play a client that never reads or a peer that died. This one does the
handshake with the sans-I/O ``websockets.client.ClientProtocol`` and then
reads only when told to.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


@dataclass
class Drained:
    messages: int = 0
    close: Close | None = None
    eof: bool = False
    frames: list[Frame] = field(default_factory=list)


class RawClient:
    def __init__(self, url: str, receive_buffer: int | None = None, timeout: float = 10.0) -> None:
        uri = parse_uri(url)
        self.protocol = ClientProtocol(uri, max_size=None)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connect(), so the advertised window stays small and the server's sends back up quickly.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect((uri.host, uri.port))
        request = self.protocol.connect()
        self.protocol.send_request(request)
        self._flush()
        self.response: Response | None = None
        while self.response is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError('server closed the connection during the handshake')
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    self.response = event
        if self.response.status_code != 101:
            raise ConnectionError(f'handshake rejected with HTTP {self.response.status_code}')

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._flush()

    def drain(self, timeout: float = 10.0) -> Drained:
        """Read until the server closes the TCP connection (or ``timeout``), counting what came.

        A close frame is answered, as a real client does, so the closing handshake completes.
        """
        result = Drained()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                break
            except ConnectionResetError:
                result.eof = True
                break
            if not data:
                result.eof = True
                break
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Frame):
                    if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                        result.messages += 1
                    elif event.opcode == Opcode.CLOSE:
                        result.close = Close.parse(event.data)
                        try:
                            self._flush()  # the protocol's close reply: the server then ends the TCP connection
                        except OSError:
                            pass  # the server did not wait for it
                    else:
                        result.frames.append(event)
        return result

    def close(self) -> None:
        self.sock.close()


_UPGRADE = ((b'Connection', b'Upgrade'), (b'Upgrade', b'websocket'), (b'Sec-WebSocket-Version', b'13'),
            (b'Sec-WebSocket-Key', b'dGhlIHNhbXBsZSBub25jZQ=='))


def raw_request(port: int, target: bytes, headers: tuple[tuple[bytes, bytes], ...] = (), *,
                upgrade: bool = True, timeout: float = 10.0) -> int:
    """Send ``GET <target>`` exactly as given (nothing quoted or checked); return the response's status.

    With ``upgrade`` it is a WebSocket handshake; a 101 is closed right away.
    """
    lines = [b'GET ' + target + b' HTTP/1.1', b'Host: 127.0.0.1:%d' % port]
    lines += [name + b': ' + value for name, value in (*(_UPGRADE if upgrade else ()), *headers)]
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        sock.sendall(b'\r\n'.join(lines) + b'\r\n\r\n')
        head = b''
        while b'\r\n' not in head:
            data = sock.recv(4096)
            if not data:
                raise ConnectionError(f'no response to {target!r}')
            head += data
    return int(head.split(b' ', 2)[1])
