"""Routing (SPEC 2.2): patterns compiled at start-up, path variables converted by annotation."""

from __future__ import annotations

import textwrap
import uuid
from typing import Optional

import pytest

from panther import Panther
from panther.app import API, GenericAPI
from panther.exceptions import RoutingError
from panther.routing import Router, flatten
from panther.test import APIClient
from panther.websocket import GenericWebsocket


def handler():
    return 'x'


def other():
    return 'y'


def app_for(urls):
    return Panther(__name__, configs=__name__, urls=urls)


class TestRouter:
    def test_nested_dicts_flatten_with_optional_slashes(self):
        urls = {'': handler, '/api/': {'users/': {'<user_id>/': other}}, 'about': handler}
        assert flatten(urls) == [('', handler), ('api/users/<user_id>', other), ('about', handler)]

    @pytest.mark.parametrize('path', ['/api/users/7', '/api/users/7/', 'api/users/7', '//api//users//7//'])
    def test_slashes_do_not_matter_when_matching(self, path):
        router = Router({'api/': {'users/<user_id>/': other}})
        route, values = router.match(path)
        assert route.target is other and values == {'user_id': '7'}

    @pytest.mark.parametrize(('path', 'target', 'values'), [
        ('/a/me/b', handler, {}), ('/a/me/b/', handler, {}), ('a/me/b', handler, {}), ('//a//me//b//', handler, {}),
        ('/a/7/b', other, {'x': '7'}), ('/a/7/b/', other, {'x': '7'}), ('/', handler, {}), ('', handler, {}),
        ('/ws', other, {}), ('/ws/', other, {}), ('/ws//', other, {}),
        ('/a', None, None), ('/a/me', None, None), ('/a/me/b/c', None, None),
    ])
    def test_routes_without_variables_and_every_spelling_of_their_path(self, path, target, values):
        # Routes without variables are looked up by exact path first; other spellings take the walk.
        router = Router({'': handler, 'a/<x>/b': other, 'a/me/b': handler, 'ws/': other})
        matched = router.match(path)
        if target is None:
            assert matched is None
        else:
            assert matched[0].target is target and matched[1] == values
            assert router.match(path)[1] is not matched[1]  # every match gets its own dict

    def test_root_route(self):
        router = Router({'': handler, 'a': other})
        assert router.match('/')[0].target is handler
        assert router.match('')[0].target is handler

    def test_unknown_paths(self):
        router = Router({'a/b/': handler, 'a/<x>/c/': other})
        assert router.match('/a/') is None
        assert router.match('/a/b/d/') is None
        assert router.match('/a/b/c/d/') is None
        assert router.match('/nope/') is None

    def test_literal_beats_variable_and_falls_back(self):
        router = Router({'users/me/': handler, 'users/<id>/': other, 'users/<id>/posts/': other})
        assert router.match('/users/me/')[0].target is handler
        assert router.match('/users/42/') == (router.routes[1], {'id': '42'})
        # 'me' matches the literal first, which has no 'posts' below it: the variable branch answers.
        route, values = router.match('/users/me/posts/')
        assert route.pattern == 'users/<id>/posts' and values == {'id': 'me'}

    def test_different_variable_names_under_one_parent(self):
        router = Router({'a/<x>/b/': handler, 'a/<y>/c/': other})
        assert router.match('/a/1/b/') == (router.routes[0], {'x': '1'})
        assert router.match('/a/2/c/') == (router.routes[1], {'y': '2'})

    def test_duplicate_route(self):
        with pytest.raises(RoutingError, match='duplicate') as info:
            Router({'a/': handler, '/a': other})
        assert info.value.key == 'URLS'

    def test_duplicate_through_nesting(self):
        with pytest.raises(RoutingError, match='duplicate'):
            Router({'api/users/': handler, 'api/': {'users': other}})

    def test_ambiguous_variables(self):
        with pytest.raises(RoutingError, match="ambiguous routes 'u/<id>' and 'u/<name>'"):
            Router({'u/<id>/': handler, 'u/<name>/': other})

    @pytest.mark.parametrize('key', ['a b/', 'users/<id', 'x/<1id>/', 'a/<id>x/', 'caf\u00e9/', 'a?b', '<a-b>'])
    def test_bad_characters(self, key):
        with pytest.raises(RoutingError, match='invalid segment'):
            Router({key: handler})

    def test_same_variable_twice(self):
        with pytest.raises(RoutingError, match='twice'):
            Router({'<id>/x/<id>/': handler})

    @pytest.mark.parametrize('target', [None, 'module.View', 42, ['x']])
    def test_non_callable_target(self, target):
        with pytest.raises(RoutingError, match='not callable'):
            Router({'a/': target})

    def test_non_string_key_and_non_dict(self):
        with pytest.raises(RoutingError, match='not a string'):
            Router({1: handler})
        with pytest.raises(RoutingError, match='expected a dict'):
            Router(['a'])


class TestStartUpErrors:
    def test_non_callable_target_stops_panther(self):
        with pytest.raises(RoutingError, match="'api/x' points to 3"):
            app_for({'api/': {'x/': 3}})

    def test_class_that_is_neither_api_nor_websocket(self):
        class Plain:
            pass

        with pytest.raises(RoutingError, match='neither a GenericAPI nor a GenericWebsocket'):
            app_for({'p/': Plain})

    def test_handler_missing_a_path_variable(self):
        class API1(GenericAPI):
            async def get(self):
                return {}

        with pytest.raises(RoutingError, match=r'API1.get\(\) does not accept the path variable <user_id>'):
            app_for({'u/<user_id>/': API1})

    def test_handler_needing_an_argument_the_route_lacks(self):
        @API()
        async def needs(book_id):
            return {}

        with pytest.raises(RoutingError, match="needs the argument 'book_id'"):
            app_for({'books/': needs})

    def test_unsupported_annotation(self):
        @API()
        async def listy(ids: list):
            return {}

        with pytest.raises(RoutingError, match=r'use str, int, float, bool or uuid\.UUID'):
            app_for({'<ids>/': listy})

    def test_websocket_connect_missing_variable(self):
        class Room(GenericWebsocket):
            async def connect(self):
                await self.accept()

        with pytest.raises(RoutingError, match='room_id'):
            app_for({'ws/<room_id>/': Room})


class Typed(GenericAPI):
    async def get(self, s: str, i: int, f: float, b: bool, u: uuid.UUID, raw):
        return {'s': s, 'i': i, 'f': f, 'b': b, 'u': str(u), 'raw': raw,
                'types': [type(v).__name__ for v in (s, i, f, b, u, raw)]}


@API()
def optional_types(a: Optional[int], b: float | None = None) -> None:  # noqa: UP045 (the old spelling must work too)
    # `-> None` and the annotation strings (this module has `from __future__ import annotations`) must not matter.
    return {'a': a, 'b': b}


@API()
async def kwargs_only(**kwargs):
    return kwargs


TYPED_URLS = {
    'typed/<s>/<i>/<f>/<b>/<u>/<raw>/': Typed,
    'opt/<a>/<b>/': optional_types,
    'kw/<x>/<y>/': kwargs_only,
}


class TestPathVariables:
    @pytest.fixture(scope='class')
    def client(self):
        return APIClient(app_for(TYPED_URLS))

    def test_every_type(self, client):
        u = uuid.uuid4()
        response = client.get(f'/typed/hello/-12/2.5/true/{u}/7/')
        assert response.status_code == 200
        assert response.data == {'s': 'hello', 'i': -12, 'f': 2.5, 'b': True, 'u': str(u), 'raw': '7',
                                 'types': ['str', 'int', 'float', 'bool', 'UUID', 'str']}

    @pytest.mark.parametrize(('text', 'value'), [('true', True), ('1', True), ('FALSE', False), ('0', False)])
    def test_bool_spellings(self, client, text, value):
        assert client.get(f'/typed/s/1/1/{text}/{uuid.UUID(int=1)}/r/').data['b'] is value

    def test_optional_and_union_none_and_future_annotations(self, client):
        response = client.get('/opt/5/1e3/')
        assert response.status_code == 200 and response.data == {'a': 5, 'b': 1000.0}

    def test_kwargs_get_strings(self, client):
        assert client.get('/kw/1/true/').data == {'x': '1', 'y': 'true'}

    @pytest.mark.parametrize(('path', 'name'), [
        ('/typed/s/x/1/true/00000000-0000-0000-0000-000000000001/r/', 'i'),
        ('/typed/s/1.5/1/true/00000000-0000-0000-0000-000000000001/r/', 'i'),
        ('/typed/s/1_000/1/true/00000000-0000-0000-0000-000000000001/r/', 'i'),
        ('/typed/s/\u0663/1/true/00000000-0000-0000-0000-000000000001/r/', 'i'),
        ('/typed/s/1/abc/true/00000000-0000-0000-0000-000000000001/r/', 'f'),
        ('/typed/s/1/nan/true/00000000-0000-0000-0000-000000000001/r/', 'f'),
        ('/typed/s/1/inf/true/00000000-0000-0000-0000-000000000001/r/', 'f'),
        ('/typed/s/1/1/yes/00000000-0000-0000-0000-000000000001/r/', 'b'),
        ('/typed/s/1/1/true/not-a-uuid/r/', 'u'),
        ('/opt/x/1/', 'a'),
    ])
    def test_conversion_failure_is_400(self, client, path, name):
        response = client.get(path)
        assert response.status_code == 400
        assert response.data['detail'].startswith(f'path variable {name!r} must be')


def test_future_annotations_in_a_separate_module(tmp_path, monkeypatch):
    (tmp_path / 'future_app.py').write_text(textwrap.dedent('''
        from __future__ import annotations
        import uuid
        from panther import Panther
        from panther.app import GenericAPI
        from panther.request import Request

        class Item(GenericAPI):
            def get(self, request: Request, item_id: int, key: uuid.UUID | None) -> None:
                return {'id': item_id, 'key': str(key), 'path': request.path}

        URLS = {'items/<item_id>/<key>': Item}
        app = Panther(__name__)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    import future_app

    key = uuid.uuid4()
    response = APIClient(future_app.app).get(f'/items/3/{key}')
    assert response.data == {'id': 3, 'key': str(key), 'path': f'/items/3/{key}'}


def test_unresolvable_annotation_on_a_path_variable_is_a_start_up_error():
    @API()
    async def broken(x: NoSuchType):  # noqa: F821 (the point of the test)
        return {}

    with pytest.raises(RoutingError, match='cannot resolve'):
        app_for({'<x>/': broken})


def test_unresolvable_annotation_elsewhere_does_not_hide_the_others():
    class Local:
        pass

    @API()
    async def mixed(request: Local, n: int):
        return {'n': n}

    assert APIClient(app_for({'<n>/': mixed})).get('/5/').data == {'n': 5}
