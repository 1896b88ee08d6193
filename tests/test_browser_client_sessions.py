"""/_panther/panther.js in headless Chromium against real sessions (tests/apps/sessions_app.py).

The page's origin is a TCP proxy the test cuts: the client must resume by itself
(same connection id, every message once and in order, sends made while away
delivered after), report a session it could not resume as a `gap`, and stop for
good on a close frame from the server.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.servers import ROOT, serve
from tests.session_support import APP, expected_burst
from tests.tcp_proxy import tcp_proxy

CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic']

pytestmark = pytest.mark.timeout(120)

# The page keeps every event in window.seen, and every message in window.got.
OPEN = """async (url) => {
  const { connect } = await import('/_panther/panther.js');
  window.seen = []; window.got = [];
  const ws = connect(url, { minDelay: 50, maxDelay: 300 });
  for (const name of ['open', 'resumed', 'gap', 'close', 'reconnecting']) {
    ws.addEventListener(name, (e) => window.seen.push([name, e.detail ? (e.detail.reason || '') : (e.code || '')]));
  }
  ws.addEventListener('message', (e) => window.got.push(
      typeof e.data === 'string' ? e.data : 'bin:' + Array.from(new Uint8Array(e.data)).join(',')));
  window.ws = ws;
  await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
  return ws.connectionId;
}"""


def _events(page, name: str) -> list:
    return [e for e in page.evaluate('window.seen') if e[0] == name]


@pytest.fixture
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path='/usr/bin/chromium', args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_the_browser_client_resumes_and_misses_nothing(browser):
    with serve(APP, cwd=ROOT) as server, tcp_proxy(server.port) as proxy:
        page = browser.new_page()
        page.goto(f'http://127.0.0.1:{proxy.port}/pid/')
        connection_id = page.evaluate(OPEN, '/ws/s/?user=ann')
        assert len(connection_id) == 32

        # Encoding as the server's send: str -> text, object -> JSON text, bytes -> binary.
        page.evaluate("window.ws.send('hello'); window.ws.send({a: 1}); window.ws.send(new Uint8Array([1, 2, 255]))")
        page.wait_for_function('window.got.length === 3')
        assert page.evaluate('window.got') == ['hello', '{"a":1}', 'bin:1,2,255']

        # The network goes down; messages are sent to the session meanwhile, and the page sends too.
        proxy.hold()
        assert proxy.cut() >= 1
        page.wait_for_function("window.seen.some(([name]) => name === 'reconnecting')")
        sent = httpx.post(f'{server.http}/burst/?id={connection_id}&n=200&pause=0.001', timeout=30).json()
        assert sent == {'sent': 200}
        page.evaluate("window.ws.send('queued while away')")
        proxy.release()

        page.wait_for_function("window.seen.some(([name]) => name === 'resumed')", timeout=20000)
        page.wait_for_function('window.got.length === 3 + 200 + 1', timeout=20000)
        got = page.evaluate('window.got')
        assert got[3:] == [*expected_burst(200), 'queued while away']
        assert page.evaluate('window.ws.connectionId') == connection_id
        assert _events(page, 'gap') == [] and len(_events(page, 'open')) == 1

        # A close frame from the server ends the session: no reconnect.
        page.evaluate("window.ws.send('close')")
        page.wait_for_function("window.seen.some(([name]) => name === 'close')")
        assert _events(page, 'close') == [['close', 4001]]
        page.wait_for_timeout(500)
        assert page.evaluate("window.ws.state") == 'closed'


def test_a_session_that_cannot_be_resumed_is_a_gap(browser):
    env = {'PANTHER_TEST_RESUME_WINDOW': '0'}  # resuming off: panther.v1 framing, nothing kept after a drop
    with serve(APP, cwd=ROOT, env=env) as server, tcp_proxy(server.port) as proxy:
        page = browser.new_page()
        page.goto(f'http://127.0.0.1:{proxy.port}/pid/')
        first = page.evaluate(OPEN, '/ws/s/?user=bea')
        page.evaluate("window.ws.send('one')")
        page.wait_for_function('window.got.length === 1')

        proxy.cut()
        page.wait_for_function("window.seen.some(([name]) => name === 'gap')", timeout=20000)
        assert _events(page, 'gap') == [['gap', 'expired']]
        second = page.evaluate('window.ws.connectionId')
        assert second != first and len(second) == 32
        page.evaluate("window.ws.send('two')")
        page.wait_for_function('window.got.length === 2')
        assert page.evaluate('window.got') == ['one', 'two']
