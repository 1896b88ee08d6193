"""panther.registry: live outboxes by connection id and local group memberships."""

from __future__ import annotations

from panther.registry import Registry


def test_join_and_leave_keep_both_indexes_in_step():
    registry = Registry()
    registry.add('a', object())  # type: ignore[arg-type]
    assert registry.join('room', 'a') is True
    assert registry.join('room', 'a') is False  # already a member: nothing for the bus to do
    assert registry.join('lobby', 'a') is True
    assert registry.groups_of('a') == {'room', 'lobby'}
    assert registry.members('room') == ['a']
    assert registry.discard('room', 'a') is True
    assert registry.discard('room', 'a') is False
    assert 'room' not in registry.groups  # an empty group is forgotten
    assert registry.groups_of('a') == {'lobby'}


def test_remove_forgets_the_connection_and_returns_its_groups():
    registry = Registry()
    registry.add('a', object())  # type: ignore[arg-type]
    registry.add('b', object())  # type: ignore[arg-type]
    registry.join('room', 'a')
    registry.join('room', 'b')
    registry.join('solo', 'a')
    assert sorted(registry.remove('a')) == ['room', 'solo']
    assert registry.get('a') is None and len(registry) == 1
    assert registry.members('room') == ['b']
    assert 'solo' not in registry.groups and 'a' not in registry.memberships
    assert registry.remove('a') == []  # twice is harmless


def test_members_are_listed_in_the_order_they_joined():
    registry = Registry()
    ids = [f'c{i:03}' for i in range(200)]
    for connection_id in ids:
        registry.join('big', connection_id)
    registry.discard('big', 'c050')
    registry.join('big', 'c050')  # rejoining puts it last
    assert registry.members('big') == [*ids[:50], *ids[51:], 'c050']
