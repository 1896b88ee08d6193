"""Path-variable conversion plans, built once per handler."""

import uuid
from typing import Any, Optional

import pytest

from panther.converters import PathVariableError, build_plan
from panther.exceptions import RoutingError


def test_plan_converts_only_annotated_non_str_variables():
    def f(a: int, b: str, c, d: Any, e: bool):
        pass

    plan = build_plan(f, ('a', 'b', 'c', 'd', 'e'), owner='f()')
    assert set(plan.converters) == {'a', 'e'}
    assert plan.convert({'a': '-3', 'b': 'x', 'c': '4', 'd': '5', 'e': '0'}) == {
        'a': -3, 'b': 'x', 'c': '4', 'd': '5', 'e': False}


def test_request_parameter_is_not_a_variable():
    def f(request, a: int):
        pass

    assert build_plan(f, ('a',), owner='f()').takes_request
    assert not build_plan(lambda a: None, ('a',), owner='f()').takes_request

    def g(request: int):
        pass

    # A path variable may be called `request`; then it is converted like any other.
    plan = build_plan(g, ('request',), owner='g()')
    assert not plan.takes_request and plan.convert({'request': '2'}) == {'request': 2}


def test_skip_self():
    class V:
        def get(self, n: float):
            pass

    plan = build_plan(V.get, ('n',), owner='V.get()', skip=('self',))
    assert plan.convert({'n': '.5'}) == {'n': 0.5}


@pytest.mark.parametrize('annotation', [Optional[uuid.UUID], uuid.UUID | None])  # noqa: UP045
def test_optional_unwraps(annotation):
    def f(u):
        pass

    f.__annotations__ = {'u': annotation}
    value = uuid.uuid4()
    assert build_plan(f, ('u',), owner='f()').convert({'u': str(value)}) == {'u': value}


def test_error_names_the_variable_and_the_expected_kind():
    def f(n: int):
        pass

    plan = build_plan(f, ('n',), owner='f()')
    with pytest.raises(PathVariableError, match="path variable 'n' must be an integer, got 'ten'") as info:
        plan.convert({'n': 'ten'})
    assert info.value.name == 'n'


@pytest.mark.parametrize(('annotation', 'good', 'bad'), [
    (int, ['0', '-1', '+7', '0012'], ['', ' 1', '1 ', '1_0', '0x10', '1.0', '\u0661']),
    (float, ['1', '-1.5', '.5', '1.', '2e3', '1E-2'], ['nan', 'inf', '-Infinity', '1_0.0', '1e', 'e1', '.']),
    (bool, ['true', 'True', '1', 'false', 'FALSE', '0'], ['yes', 'no', 'on', '2', '']),
])
def test_strict_spellings(annotation, good, bad):
    def f(v):
        pass

    f.__annotations__ = {'v': annotation}
    plan = build_plan(f, ('v',), owner='f()')
    for text in good:
        plan.convert({'v': text})
    for text in bad:
        with pytest.raises(PathVariableError):
            plan.convert({'v': text})


def test_union_of_two_types_is_rejected_at_start_up():
    def f(v: int | str):
        pass

    with pytest.raises(RoutingError, match='<v>'):
        build_plan(f, ('v',), owner='f()')


def test_optional_parameter_not_in_route_is_fine():
    def f(a: int, page: int = 1):
        pass

    assert build_plan(f, ('a',), owner='f()').convert({'a': '1'}) == {'a': 1}
