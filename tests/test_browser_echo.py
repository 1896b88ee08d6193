"""The README's echo demo in a real headless Chromium: type, click Send, see the echo."""

from __future__ import annotations

import os
import tempfile

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.servers import EXAMPLES, serve

CHROMIUM = '/usr/bin/chromium'
ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic',
]
SCREENSHOT = os.path.join(tempfile.gettempdir(), 'panther-echo-demo.png')


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_echo_demo_in_chromium(browser):
    with serve('main:app', cwd=EXAMPLES / 'echo', server='panther') as server:
        page = browser.new_page()
        page.goto(server.http + '/')
        expect(page.locator('#status')).to_have_text('connected', timeout=10_000)

        for text in ('hello panther', 'second line ✓'):
            page.fill('#message', text)
            page.click('#send')
            expect(page.locator('#log li').last).to_have_text(text, timeout=5_000)

        items = page.locator('#log li.echo')
        expect(items).to_have_count(2)
        assert items.all_text_contents() == ['hello panther', 'second line ✓']
        assert page.input_value('#message') == ''  # the form clears after sending
        page.screenshot(path=SCREENSHOT)
        page.close()
    log = server.log()
    assert '"WebSocket /ws" [accepted]' in log
    assert 'Exception in ASGI application' not in log
