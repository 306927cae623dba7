"""raw_responses: complete JSON error responses written straight to a socket."""

from __future__ import annotations

import json
import sys

import pytest

from scoreserver.processes.raw_responses import json_error_bytes


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, b"Bad Request"),
        (405, b"Method Not Allowed"),
        # Python 3.13 took up RFC 9110's name, as uvicorn's own status lines do there too.
        (414, b"URI Too Long" if sys.version_info >= (3, 13) else b"Request-URI Too Long"),
        (500, b"Internal Server Error"),
    ],
)
def test_status_line_has_the_standard_reason(status: int, reason: bytes) -> None:
    assert json_error_bytes(status, "x").startswith(b"HTTP/1.1 %d %s\r\n" % (status, reason))


def test_given_headers_come_first_then_the_body_headers_and_close() -> None:
    raw = json_error_bytes(
        405, "no", [(b"date", b"today"), (b"x-ms-run-function-failed", b"False")]
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[1:] == [
        b"date: today",
        b"x-ms-run-function-failed: False",
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]


def test_body_is_the_json_dumps_message_with_ascii_escapes() -> None:
    body = json_error_bytes(400, 'caf\u00e9 "quoted"').partition(b"\r\n\r\n")[2]
    assert body == b'{"message": "caf\\u00e9 \\"quoted\\""}'
    assert json.loads(body) == {"message": 'caf\u00e9 "quoted"'}
