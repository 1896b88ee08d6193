"""The shared-local bus inside one process: its directory, sockets and write gathering.

Two buses on one directory stand for two workers. The bus contract is in test_bus_contract.py.
"""

import asyncio
import os
import socket

from panther.bus.shared import SharedBus
from panther.bus.shared_dir import share_between_workers

A, B = 'a' * 12, 'b' * 12


async def _pair(tmp_path):
    got_a, got_b = [], []
    groups_a, groups_b = {}, {}
    bus_a, bus_b = SharedBus(tmp_path / 'bus'), SharedBus(tmp_path / 'bus')
    await bus_a.start(A, got_a.append, groups_a)
    await bus_b.start(B, got_b.append, groups_b)
    return (bus_a, got_a, groups_a), (bus_b, got_b, groups_b)


async def _until(predicate, timeout=2.0):
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


async def test_the_last_worker_out_removes_the_directory(tmp_path):
    (bus_a, _, _), (bus_b, _, groups_b) = await _pair(tmp_path)
    member = B + 'd' * 20
    groups_b['room'] = {member}
    await bus_b.group_add('room', member)
    await bus_a.stop()
    assert (tmp_path / 'bus').is_dir()  # b still runs
    await bus_b.stop()
    assert not (tmp_path / 'bus').exists()


async def test_a_dead_worker_is_forgotten_at_first_contact(tmp_path):
    (bus_a, _, _), (bus_b, _, _) = await _pair(tmp_path)
    directory = tmp_path / 'bus'
    dead = 'd' * 12
    # What a SIGKILLed worker leaves: a socket file nobody listens on, and a group marker.
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(directory / f'{dead}.sock'))
    marker_dir = bus_a.directory.group('room')
    marker_dir.mkdir(parents=True)
    (marker_dir / dead).touch()
    try:
        assert await bus_a.group_members('room') == []
        assert not (directory / f'{dead}.sock').exists()
        assert not (marker_dir / dead).exists()
        await bus_a.send(dead, b'S' + b'0' * 32)  # dropped quietly
        await asyncio.sleep(0.05)
    finally:
        await bus_a.stop()
        await bus_b.stop()


def test_panther_run_workers_exports_a_directory(monkeypatch):
    # setenv first so that monkeypatch restores "unset" afterwards, whatever the function sets.
    for name in ('PANTHER_BUS_DIR', 'WEB_CONCURRENCY'):
        monkeypatch.setenv(name, '')
        monkeypatch.delenv(name)
    assert share_between_workers(['--port', '8000']) is None
    assert share_between_workers(['--workers', '1']) is None
    directory = share_between_workers(['--workers=3'])
    assert directory and os.environ['PANTHER_BUS_DIR'] == directory and os.path.isdir(directory)
    # Already set: left alone.
    assert share_between_workers(['--workers', '3']) is None



async def test_a_socket_appears_only_once_it_listens(tmp_path, monkeypatch):
    """Another worker's sweep takes a socket file that refuses connections for a dead worker's and unlinks it.

    Bound straight at its path, a starting worker's socket refused connections between bind and
    listen, and ``panther run --workers 2`` sometimes failed at start-up with "No such file or
    directory: <dir>/<id>.sock". Now the socket is bound elsewhere and renamed into place listening.
    """
    from panther.bus.shared_dir import listening

    renamed = []
    real_rename = os.rename

    def checking_rename(source, destination):
        renamed.append((str(destination), listening(str(source)), os.path.exists(destination)))
        real_rename(source, destination)

    monkeypatch.setattr(os, 'rename', checking_rename)
    bus = SharedBus(tmp_path / 'bus')
    await bus.start(A, lambda message: None, {})
    try:
        path = bus.directory.socket(A)
        assert renamed == [(path, True, False)]  # it was listening before it got its name
        assert listening(path)
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert sorted(os.listdir(tmp_path / 'bus')) == sorted(['groups', f'{A}.sock'])  # no staging file left
    finally:
        await bus.stop()


async def test_a_sweep_still_forgets_a_socket_nobody_listens_on(tmp_path):
    directory = tmp_path / 'bus'
    directory.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(directory / f'{B}.sock'))  # bound, never listening: what a SIGKILLed worker leaves
    dead.close()
    bus = SharedBus(directory)
    await bus.start(A, lambda message: None, {})
    try:
        assert not (directory / f'{B}.sock').exists()
    finally:
        await bus.stop()


class _Transport:
    """Records writes; stands for the Unix socket to a peer."""

    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True


def _frames(writes: list[bytes]) -> list[bytes]:
    data, out = b''.join(writes), []
    while data:
        size = int.from_bytes(data[:4], 'big')
        out.append(data[4:4 + size])
        data = data[4 + size:]
    return out


async def _peer_with_fake_transport(tmp_path):
    from panther.bus.shared import _Peer

    bus = SharedBus(tmp_path / 'bus')
    await bus.start(A, lambda raw: None, {})
    peer = bus._peers[B] = _Peer(bus, B)
    peer.transport = transport = _Transport()
    return bus, peer, transport


async def test_sends_of_one_burst_reach_the_peer_in_one_write(tmp_path):
    bus, _, transport = await _peer_with_fake_transport(tmp_path)
    try:
        async def producer(start):
            for i in range(start, start + 50):
                await bus.send(B, b'm%d' % i)
                await asyncio.sleep(0)  # like a handler between two frames

        await asyncio.gather(producer(0), producer(1000))
        assert await _until(lambda: len(_frames(transport.writes)) == 100)
        frames = _frames(transport.writes)
        assert sorted(frames) == sorted([b'm%d' % i for i in range(50)] + [b'm%d' % i for i in range(1000, 1050)])
        assert [f for f in frames if int(f[1:]) < 1000] == [b'm%d' % i for i in range(50)]  # per-sender order
        assert len(transport.writes) <= 8  # not one write (and one wake-up of the peer) per message
    finally:
        await bus.stop()


async def test_a_lone_send_is_written_within_two_loop_passes(tmp_path):
    bus, _, transport = await _peer_with_fake_transport(tmp_path)
    try:
        await bus.send(B, b'alone')
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert _frames(transport.writes) == [b'alone']
    finally:
        await bus.stop()


async def test_a_sender_that_never_yields_is_written_at_the_high_water_mark(tmp_path):
    from panther.bus import shared

    bus, _, transport = await _peer_with_fake_transport(tmp_path)
    try:
        chunk = b'x' * 65_536
        for _ in range(shared._HIGH_WATER // len(chunk) + 1):
            await bus.send(B, chunk)  # no await suspends here
        assert len(transport.writes) == 1  # written without waiting for a loop pass
    finally:
        await bus.stop()


async def test_stop_writes_what_was_still_gathering(tmp_path):
    bus, _, transport = await _peer_with_fake_transport(tmp_path)
    await bus.send(B, b'last words')
    await bus.stop()
    assert _frames(transport.writes) == [b'last words'] and transport.closed
