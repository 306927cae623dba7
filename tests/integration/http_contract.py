"""What the HTTP contract tests share: the reference's exact messages, clean servers, raw exchanges."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRIPTS, SERVER_VARIABLES
from tests.integration.server import RunningServer, serving

NOT_FOUND_BODY = (
    b'{"message": "The requested URL was not found on the server. If you entered the URL '
    b'manually please check your spelling and try again."}'
)
ROUTER_405_BODY = b'{"message": "The method is not allowed for the requested URL."}'
SCORE_405_BODY = b'{"message": "Method not allowed"}'
RUN_FAILED_BODY = (
    b'{"message": "An unexpected error occurred in scoring script. Check the logs for more info."}'
)
INTERNAL_ERROR_BODY = (
    b'{"message": "An unexpected internal error occurred. Check the logs for more info."}'
)
SERVER_VERSION = "azmlinfsrv/1.5.1"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EXEC_MS = re.compile(r"^\d+\.\d{3}$")

ID_HEADERS = ("x-request-id", "x-ms-request-id", "x-ms-client-request-id")


def script(name: str) -> str:
    """The path of a score.py fixture."""
    return str(SCRIPTS / name)


@contextmanager
def script_server(
    name: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[RunningServer]:
    """A ready server for one fixture script, started without the developer's server variables.

    Module-scoped fixtures are set up before the per-test clean environment, so the variables
    are removed here, for the start of the subprocess only.
    """
    with pytest.MonkeyPatch.context() as patch:
        for variable in SERVER_VARIABLES:
            patch.delenv(variable, raising=False)
        with serving(["--entry_script", script(name), *args], env=env, cwd=cwd) as server:
            yield server


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Poll until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


@dataclass(frozen=True)
class RawResponse:
    """A response exactly as it came off the socket."""

    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @property
    def status(self) -> int:
        """The status code."""
        return int(self.status_line.split()[1])

    def values(self, name: str) -> list[bytes]:
        """Every value of one header, in order (names compared case-insensitively)."""
        wanted = name.lower().encode()
        return [value for key, value in self.headers if key.lower() == wanted]

    def names(self) -> list[bytes]:
        """The header names exactly as sent."""
        return [key for key, _ in self.headers]


def raw_exchange(
    port: int,
    method: str,
    path: str,
    headers: Sequence[tuple[str | bytes, str | bytes]] = (),
    body: bytes | None = None,
    timeout: float = 30.0,
    content_length: bool = True,
) -> RawResponse:
    """Send one request byte for byte (Connection: close) and read the whole response.

    A Content-Length is added for a body unless content_length is False (the body is then sent
    as given, e.g. already chunk-encoded).
    """

    def as_bytes(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{port}".encode()]
    lines += [as_bytes(name) + b": " + as_bytes(value) for name, value in headers]
    lines.append(b"Connection: close")
    if body is not None and content_length:
        lines.append(f"Content-Length: {len(body)}".encode())
    request = b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    parsed = [tuple(line.split(b": ", 1)) for line in header_lines]
    return RawResponse(status_line, [(k, v) for k, v in parsed], rest)


def assert_json_error(response: httpx.Response, status: int, body: bytes) -> None:
    """A JSON {"message": ...} error with exactly this status and body."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.content == body


def assert_bare(response: httpx.Response) -> None:
    """A router-level answer: run-function-failed False, and no version, ids or TraceId."""
    assert response.headers["x-ms-run-function-failed"] == "False"
    for name in ("x-ms-server-version", *ID_HEADERS, "traceid", "x-ms-run-fn-exec-ms", "allow"):
        assert name not in response.headers, name
