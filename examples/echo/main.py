"""The echo example: a page at / whose script talks to an echo WebSocket at /ws.

Run it from this folder with ``panther run main:app`` and open http://127.0.0.1:8000.
"""

from panther import Panther
from panther.app import API
from panther.response import HTMLResponse
from panther.websocket import GenericWebsocket

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>panther echo</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
    #log { list-style: none; padding: 0; }
    #log li { padding: .25rem 0; border-bottom: 1px solid #eee; }
    #status { color: #666; }
  </style>
</head>
<body>
  <h1>panther echo</h1>
  <p id="status">connecting…</p>
  <form id="form">
    <input id="message" autocomplete="off" placeholder="Say something" autofocus>
    <button id="send" type="submit" disabled>Send</button>
  </form>
  <ul id="log"></ul>
  <script>
    const status = document.getElementById('status');
    const log = document.getElementById('log');
    const input = document.getElementById('message');
    const button = document.getElementById('send');
    const socket = new WebSocket(`ws://${location.host}/ws`);
    socket.onopen = () => { status.textContent = 'connected'; button.disabled = false; };
    socket.onclose = (event) => { status.textContent = `closed (${event.code})`; button.disabled = true; };
    socket.onmessage = (event) => {
      const item = document.createElement('li');
      item.className = 'echo';
      item.textContent = event.data;
      log.appendChild(item);
    };
    document.getElementById('form').onsubmit = (event) => {
      event.preventDefault();
      if (input.value) { socket.send(input.value); input.value = ''; }
    };
  </script>
</body>
</html>
"""


class EchoWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data: str | bytes):
        await self.send(data)


@API()
async def main_page():
    return HTMLResponse(PAGE)


URLS = {
    '': main_page,
    'ws': EchoWebsocket,
}

app = Panther(__name__, configs=__name__, urls=URLS)
