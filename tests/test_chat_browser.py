"""examples/chat in headless Chromium: two people in one room see each other and each other's words."""

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.servers import EXAMPLES, serve

CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run', '--disable-quic']


@pytest.fixture(scope='module')
def server():
    with serve('main:app', EXAMPLES / 'chat') as running:
        yield running


def test_two_browsers_in_one_room(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=CHROMIUM_ARGS, headless=True)
        try:
            alice = browser.new_context().new_page()
            bob = browser.new_context().new_page()
            alice.goto(f'{server.http}/?room=lobby&name=alice')
            expect(alice.locator('#status')).to_have_text('connected as alice')
            expect(alice.locator('#people li')).to_have_text(['alice'])

            bob.goto(f'{server.http}/?room=lobby&name=bob')
            expect(bob.locator('#status')).to_have_text('connected as bob')
            # Presence both ways: alice hears bob join; bob learns alice was already there.
            expect(alice.locator('#people li')).to_have_text(['alice', 'bob'])
            expect(bob.locator('#people li')).to_have_text(['alice', 'bob'])

            bob.fill('#text', 'hello alice')
            bob.press('#text', 'Enter')
            expect(alice.locator('#log .message')).to_have_text(['bob: hello alice'])
            alice.fill('#text', 'hi bob')
            alice.click('#send')
            expect(bob.locator('#log .message')).to_have_text(['bob: hello alice', 'alice: hi bob'])

            # Another room hears nothing.
            carol = browser.new_context().new_page()
            carol.goto(f'{server.http}/?room=attic&name=carol')
            expect(carol.locator('#people li')).to_have_text(['carol'])

            bob.context.close()
            expect(alice.locator('#people li')).to_have_text(['alice'])
            expect(alice.locator('#log .event').last).to_have_text('bob left')
            expect(carol.locator('#log li')).to_have_count(0)
        finally:
            browser.close()


def test_name_is_required(server):
    import asyncio

    import websockets

    async def attempt():
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(server.ws + '/ws/chat/lobby/'):
                pass

    asyncio.run(attempt())
