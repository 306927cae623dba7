"""Whole HTTP responses written straight to a socket, where no ASGI application can answer.

The parser's refusals (http_protocol.py) and the requests a dead worker left behind (custody.py,
in the supervisor, which loads no web stack) are answered this way, with the same JSON
``{"message": ...}`` body as every other error (``{"error": ...}`` on the protocols that use it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus

__all__ = ["ERROR_KEY_PSEUDO_HEADER", "RUN_FAILED_HEADER", "json_error_bytes"]

RUN_FAILED_HEADER = "x-ms-run-function-failed"

ERROR_KEY_PSEUDO_HEADER = b":error-key"
"""Not sent: among a request's marked headers, names the key of its route's error body."""


def json_error_bytes(
    status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = (), key: str = "message"
) -> bytes:
    """A complete response: status line, headers, JSON body, and the connection closed after."""
    body = json.dumps({key: message}).encode()
    head = [b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())]
    for name, value in headers:
        head.extend([name, b": ", value, b"\r\n"])
    head.extend(
        [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            b"\r\n",
            body,
        ]
    )
    return b"".join(head)
