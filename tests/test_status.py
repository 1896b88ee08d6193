"""panther.status: every name the reference Panther 5.5.0 defines, with the same values (SPEC 2.3)."""

from __future__ import annotations

import pytest

from panther import status

# The reference's HTTP names, as "code NAME" (checked against its panther/status.py), plus its WS codes.
REFERENCE_HTTP = '''
100 CONTINUE; 101 SWITCHING_PROTOCOLS; 102 PROCESSING; 103 EARLY_HINTS; 200 OK; 201 CREATED; 202 ACCEPTED;
203 NON_AUTHORITATIVE_INFORMATION; 204 NO_CONTENT; 205 RESET_CONTENT; 206 PARTIAL_CONTENT; 207 MULTI_STATUS;
208 ALREADY_REPORTED; 226 IM_USED; 300 MULTIPLE_CHOICES; 301 MOVED_PERMANENTLY; 302 FOUND; 303 SEE_OTHER;
304 NOT_MODIFIED; 305 USE_PROXY; 306 RESERVED; 307 TEMPORARY_REDIRECT; 308 PERMANENT_REDIRECT; 400 BAD_REQUEST;
401 UNAUTHORIZED; 402 PAYMENT_REQUIRED; 403 FORBIDDEN; 404 NOT_FOUND; 405 METHOD_NOT_ALLOWED; 406 NOT_ACCEPTABLE;
407 PROXY_AUTHENTICATION_REQUIRED; 408 REQUEST_TIMEOUT; 409 CONFLICT; 410 GONE; 411 LENGTH_REQUIRED;
412 PRECONDITION_FAILED; 413 REQUEST_ENTITY_TOO_LARGE; 414 REQUEST_URI_TOO_LONG; 415 UNSUPPORTED_MEDIA_TYPE;
416 REQUESTED_RANGE_NOT_SATISFIABLE; 417 EXPECTATION_FAILED; 418 IM_A_TEAPOT; 421 MISDIRECTED_REQUEST;
422 UNPROCESSABLE_ENTITY; 423 LOCKED; 424 FAILED_DEPENDENCY; 425 TOO_EARLY; 426 UPGRADE_REQUIRED;
428 PRECONDITION_REQUIRED; 429 TOO_MANY_REQUESTS; 431 REQUEST_HEADER_FIELDS_TOO_LARGE;
451 UNAVAILABLE_FOR_LEGAL_REASONS; 500 INTERNAL_SERVER_ERROR; 501 NOT_IMPLEMENTED; 502 BAD_GATEWAY;
503 SERVICE_UNAVAILABLE; 504 GATEWAY_TIMEOUT; 505 HTTP_VERSION_NOT_SUPPORTED; 506 VARIANT_ALSO_NEGOTIATES;
507 INSUFFICIENT_STORAGE; 508 LOOP_DETECTED; 510 NOT_EXTENDED; 511 NETWORK_AUTHENTICATION_REQUIRED
'''
REFERENCE_WS = '''
1000 NORMAL_CLOSURE; 1001 GOING_AWAY; 1002 PROTOCOL_ERROR; 1003 UNSUPPORTED_DATA; 1007 INVALID_FRAME_PAYLOAD_DATA;
1008 POLICY_VIOLATION; 1009 MESSAGE_TOO_BIG; 1010 MANDATORY_EXT; 1011 INTERNAL_ERROR; 1012 SERVICE_RESTART;
1013 TRY_AGAIN_LATER; 1014 BAD_GATEWAY
'''


def _table(text: str) -> dict[int, str]:
    pairs = (item.split() for item in text.replace('\n', ' ').split(';'))
    return {int(code): name for code, name in pairs}


HTTP = _table(REFERENCE_HTTP)
WS = _table(REFERENCE_WS)


def test_the_tables_here_are_complete():
    assert len(HTTP) == 63 and len(WS) == 12


@pytest.mark.parametrize(('prefix', 'table'), [('HTTP', HTTP), ('WS', WS)])
def test_every_reference_constant_exists_with_its_value(prefix, table):
    missing = [f'{prefix}_{code}_{name}' for code, name in table.items()
               if getattr(status, f'{prefix}_{code}_{name}', None) != code]
    assert missing == []


def test_306_reserved():
    assert status.HTTP_306_RESERVED == 306
    assert status.status_text[306] == 'Reserved'


def test_status_text_is_the_title_cased_name():
    for code, name in {**HTTP, **WS}.items():
        assert status.status_text[code] == name.replace('_', ' ').title()
    assert status.status_text[404] == 'Not Found'
    assert status.status_text[1011] == 'Internal Error'
    assert all(isinstance(k, int) and isinstance(v, str) and v for k, v in status.status_text.items())


def test_rfc_6455_codes_beyond_the_reference():
    assert (status.WS_1004_RESERVED, status.WS_1005_NO_STATUS_RCVD, status.WS_1006_ABNORMAL_CLOSURE,
            status.WS_1015_TLS_HANDSHAKE) == (1004, 1005, 1006, 1015)


@pytest.mark.parametrize(('check', 'first'), [
    (status.is_informational, 100), (status.is_success, 200), (status.is_redirect, 300),
    (status.is_client_error, 400), (status.is_server_error, 500),
])
def test_class_checks(check, first):
    for code in range(100, 600):
        assert check(code) is (first <= code < first + 100), code
