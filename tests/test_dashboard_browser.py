"""examples/dashboard in headless Chromium: the charts draw, and they move as readings arrive."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.servers import EXAMPLES, serve

CHROMIUM = '/usr/bin/chromium'
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic']
CHARTS = ('temperature', 'humidity', 'power')

# Per chart: its pixels in the line's colour (drawn at all?) and a digest of all its pixels (moved?).
CANVAS_STATE = """(names) => names.map((name) => {
  const canvas = document.getElementById(name);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const hex = canvas.dataset.color;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let line = 0, hash = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8
        && Math.abs(data[i + 2] - b) < 8) line++;
    hash = (hash * 31 + data[i] + 7 * data[i + 1] + 13 * data[i + 2] + 17 * data[i + 3]) >>> 0;
  }
  return {name, width: canvas.width, line, hash};
})"""


@pytest.fixture(scope='module')
def server():
    with serve('main:app', EXAMPLES / 'dashboard', env={'DASHBOARD_INTERVAL': '0.2'}) as running:
        yield running


def test_the_charts_draw_and_move(server, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1200, 'height': 700})
            requests = []
            page.on('request', lambda request: requests.append(request.url))
            page.goto(server.http + '/')
            expect(page.locator('#status')).to_have_text('live', timeout=10_000)
            page.wait_for_function('window.dashboard.readings >= 2 && window.dashboard.drawn >= 10', timeout=10_000)
            first_shot = page.screenshot(path=str(tmp_path / 'dashboard-1.png'))
            first = page.evaluate(CANVAS_STATE, list(CHARTS))
            readings = page.evaluate('window.dashboard.readings')
            page.wait_for_function(f'window.dashboard.readings >= {readings + 4}', timeout=10_000)
            second_shot = page.screenshot(path=str(tmp_path / 'dashboard-2.png'))
            second = page.evaluate(CANVAS_STATE, list(CHARTS))
            expect(page.locator('#viewers')).to_have_text('1')
            for chart in CHARTS:
                expect(page.locator(f'#{chart}-value')).not_to_have_text('-')
        finally:
            browser.close()

    for before, after in zip(first, second, strict=True):
        assert before['width'] > 0
        assert before['line'] > 50 and after['line'] > 50, f'{before["name"]}: no line drawn'
        assert before['hash'] != after['hash'], f'{before["name"]}: the chart did not move'
    assert hashlib.sha256(first_shot).digest() != hashlib.sha256(second_shot).digest()
    # Nothing but the app itself was fetched (no CDN, no fonts from elsewhere).
    assert requests and all(url.startswith(server.http) for url in requests), requests


def test_the_dashboard_serves_its_own_metrics_and_readiness(server):
    assert httpx.get(server.http + '/health').json() == {'status': 'ok', 'bus': 'in-process'}
    text = httpx.get(server.http + '/metrics').text
    assert 'panther_websocket_messages_sent_total{route="/ws/live"}' in text
