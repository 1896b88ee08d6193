"""examples/chat in headless Chromium: people sign in (JWT), join a room, and see
each other's presence and words; the socket refuses anyone without a valid token."""

import asyncio

import httpx
import pytest
import websockets
from playwright.sync_api import expect, sync_playwright

from tests.servers import EXAMPLES, serve
from tests.tcp_proxy import tcp_proxy

CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run', '--disable-quic']


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    database = tmp_path_factory.mktemp('chat') / 'chat.sqlite3'
    with serve('main:app', EXAMPLES / 'chat', env={'CHAT_DB': str(database)}) as running:
        yield running


def sign_in_and_join(page, base: str, name: str, room: str) -> None:
    page.goto(f'{base}/?room={room}')
    page.fill('#name', name)
    page.fill('#password', f'pw-of-{name}')
    page.click('#join-button')
    expect(page.locator('#status')).to_have_text(f'connected as {name}')


def test_two_browsers_in_one_room(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=CHROMIUM_ARGS, headless=True)
        try:
            alice = browser.new_context().new_page()
            bob = browser.new_context().new_page()
            sign_in_and_join(alice, server.http, 'alice', 'lobby')
            expect(alice.locator('#people li')).to_have_text(['alice'])

            sign_in_and_join(bob, server.http, 'bob', 'lobby')
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
            sign_in_and_join(carol, server.http, 'carol', 'attic')
            expect(carol.locator('#people li')).to_have_text(['carol'])

            bob.context.close()
            expect(alice.locator('#people li')).to_have_text(['alice'])
            expect(alice.locator('#log .event').last).to_have_text('bob left')
            expect(carol.locator('#log li')).to_have_count(0)

            # A wrong password for a known name is refused on the page.
            mallory = browser.new_context().new_page()
            mallory.goto(server.http + '/')
            mallory.fill('#name', 'alice')
            mallory.fill('#password', 'guess')
            mallory.click('#join-button')
            expect(mallory.locator('#status')).to_contain_text('sign-in failed')
        finally:
            browser.close()


def test_the_socket_needs_a_valid_token(server):
    token = httpx.post(f'{server.http}/api/signin/', json={'username': 'dave', 'password': 'pw'}).json()['access_token']

    async def attempts():
        for query in ('', '?authorization=not-a-token'):
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(f'{server.ws}/ws/chat/lobby/{query}'):
                    pass
        async with websockets.connect(f'{server.ws}/ws/chat/lobby/?authorization={token}') as ws:
            welcome = await ws.recv()
            assert '"name":"dave"' in welcome

    asyncio.run(attempts())


def test_a_dropped_connection_comes_back_and_misses_nothing(server):
    """alice's network drops mid-conversation (a proxy in front of her resets both sides); her page
    reconnects through /_panther/panther.js, resumes the session and shows every message once, in order."""
    with tcp_proxy(server.port) as proxy, sync_playwright() as p:
        browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=CHROMIUM_ARGS, headless=True)
        try:
            alice = browser.new_context().new_page()
            bob = browser.new_context().new_page()
            sign_in_and_join(alice, f'http://127.0.0.1:{proxy.port}', 'alice', 'den')
            sign_in_and_join(bob, server.http, 'bob', 'den')
            expect(alice.locator('#people li')).to_have_text(['alice', 'bob'])

            said = []
            for n in range(5):
                said.append(f'bob: before {n}')
                bob.fill('#text', f'before {n}')
                bob.press('#text', 'Enter')
            expect(alice.locator('#log .message')).to_have_text(said)

            # The drop: held, so alice cannot reconnect while bob keeps talking.
            proxy.hold()
            assert proxy.cut() >= 1
            expect(alice.locator('#status')).to_have_text('reconnecting…')
            for n in range(20):
                said.append(f'bob: during {n}')
                bob.fill('#text', f'during {n}')
                bob.press('#text', 'Enter')
            expect(bob.locator('#log .message')).to_have_text(said)
            proxy.release()

            expect(alice.locator('#status')).to_have_text('connected as alice', timeout=15000)
            expect(alice.locator('#log .message')).to_have_text(said)
            # Resumed, not rejoined: nobody saw alice leave or join again, and nothing is missing.
            expect(alice.locator('#log .event')).to_have_text(['bob joined'])
            expect(bob.locator('#log .event')).to_have_count(0)
            expect(bob.locator('#people li')).to_have_text(['alice', 'bob'])

            alice.fill('#text', 'back again')
            alice.press('#text', 'Enter')
            expect(bob.locator('#log .message').last).to_have_text('alice: back again')
            expect(alice.locator('#log .message')).to_have_text([*said, 'alice: back again'])
        finally:
            browser.close()
