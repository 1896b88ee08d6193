"""Client-chosen text cannot forge log lines: unit cases for ``printable`` and raw requests to ``panther run``."""

from __future__ import annotations

import json
import logging

import pytest

from panther.log_masking import MaskSecrets
from panther.log_safety import printable
from tests.raw_ws import raw_request
from tests.servers import serve

# The request: a percent-encoded newline, then what looks like a panther ERROR line.
FORGED = b'%0aERROR:%20%20%20%20[panther]%20forged%20line%1b[31m'
FORGED_TEXT = '\\nERROR:    [panther] forged line\\x1b[31m'


@pytest.mark.parametrize(('value', 'expected'), [
    ('/ws/chat/room', '/ws/chat/room'),
    ('/caf\u00e9/\u0645\u0631\u062d\u0628\u0627', '/caf\u00e9/\u0645\u0631\u062d\u0628\u0627'),  # letters stay
    ('a\nb\rc\td', 'a\\nb\\rc\\td'),
    ('\x1b[2J\x00\x7f', '\\x1b[2J\\x00\\x7f'),
    ('nel\x85ls\u2028ps\u2029', 'nel\\x85ls\\u2028ps\\u2029'),  # line breaks for str.splitlines
    ('\u202eevil', '\\u202eevil'),  # a bidirectional override reorders what a terminal shows
    ('C:\\path', 'C:\\path'),
    (ValueError('bad\nkey'), 'bad\\nkey'),
    (None, 'None'),
])
def test_printable_escapes_what_could_start_or_disguise_a_line(value, expected):
    assert printable(value) == expected
    assert printable(value).isprintable()


def test_server_log_filter_escapes_arguments_not_the_servers_own_message():
    record = logging.LogRecord('uvicorn.access', logging.INFO, __file__, 1, '%s - "GET %s"\n',
                               ('1.2.3.4:5', '/x?a=\x1b\n'), None)
    assert MaskSecrets().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /x?a=\\x1b\\n"\n'


def test_client_text_never_starts_a_log_line(tmp_path):
    env = {'HARDENING_DB': str(tmp_path / 'users.sqlite3'),
           'HARDENING_ALLOWED_ORIGINS': json.dumps(['http://good.example'])}
    good = ((b'Origin', b'http://good.example'),)
    with serve('tests.apps.hardening_app:app', cwd=tmp_path, env=env) as server:
        port = server.port
        # No such route (panther/main.py).
        assert raw_request(port, b'/nope' + FORGED, good) == 404
        # A path variable that does not convert; the origin check (the path and the Origin header).
        assert raw_request(port, b'/ws/item/' + FORGED + b'/', good) == 400
        assert raw_request(port, b'/ws/item/' + FORGED + b'/',
                           ((b'Origin', b'http://evil.example\x85ERROR:    [panther] forged origin'),)) == 403
        # Reasons quoting the client: a BaseAuthentication.fail() and an authentication that raises.
        assert raw_request(port, b'/ws/keyed/?key=' + FORGED, good) == 401
        assert raw_request(port, b'/ws/raising/?key=' + FORGED, good) == 401
        assert raw_request(port, b'/api/raising/?key=' + FORGED, upgrade=False) == 401
        # uvicorn's own access line for a plain request with the forged path.
        assert raw_request(port, b'/nope' + FORGED, upgrade=False) == 404
        server.stop()
        log = server.log()

    # Every line is one the server started: none begins with the forged text, on any line break.
    assert not [line for line in log.splitlines() if line.lower().startswith('error:    [panther] forged')]
    assert '\x1b' not in log and '\x85' not in log
    # The refusals are all there, with the client's text escaped.
    assert f'WebSocket /nope{FORGED_TEXT} rejected: no such route' in log
    assert f"WebSocket /ws/item/{FORGED_TEXT}/ rejected: path variable 'number' must be" in log
    assert (f"WebSocket /ws/item/{FORGED_TEXT}/ rejected: origin "
            "'http://evil.example\\x85error:    [panther] forged origin' not in WS_ALLOWED_ORIGINS") in log
    assert f'KeyAuthentication Error: "unknown key {FORGED_TEXT}"' in log
    assert f'raising_authentication Error: "bad key {FORGED_TEXT}"' in log
    assert log.count(f'bad key {FORGED_TEXT}') == 2  # the WebSocket and the HTTP API
    # uvicorn percent-encodes the path of its access lines itself.
    assert '"GET /nope%0AERROR%3A%20%20%20%20%5Bpanther%5D%20forged%20line%1B%5B31m HTTP/1.1" 404' in log
